/*-------------------------------------------------------------------------
 *
 * sources.h
 *		A source's row as the worker and validate() read it: one select list,
 *		one tuple → SlSource conversion, so both see a source the same way.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SOURCES_H
#define SECURITYLAKE_SOURCES_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

#include "source.h"

/*
 * The columns of securitylake.source (aliased s) and source_state (st), in
 * the order sl_source_from_tuple reads them. The FROM clause to go with it:
 * SL_SOURCE_FROM.
 */
#define SL_SOURCE_COLUMNS \
	"s.name, s.location, s.bucket, s.prefix, s.role_arn, s.external_id," \
	" s.region, s.account_id, s.ocsf_version, s.class_uid, s.route_by_class," \
	" s.batch_record_count, s.batch_data_size," \
	" (extract(epoch FROM s.publish_rate) * 1000)::bigint," \
	" s.schema, s.options, s.enabled, st.next_attempt_at, COALESCE(st.failures, 0)"
#define SL_SOURCE_FROM \
	" FROM securitylake.source s" \
	" LEFT JOIN securitylake.source_state st ON st.source OPERATOR(pg_catalog.=) s.name"

/* An SlSource (palloc'd in the current context) from a row of SL_SOURCE_COLUMNS. */
extern SlSource *sl_source_from_tuple(HeapTuple tup, TupleDesc desc);

/*
 * The named source (SPI must be connected), or NULL when there is none; built
 * in INTO (a context that outlives SPI_finish, e.g. the one current before
 * SPI_connect).
 */
extern SlSource *sl_source_lookup(const char *name, MemoryContext into);

#endif							/* SECURITYLAKE_SOURCES_H */
