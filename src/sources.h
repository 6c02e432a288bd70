/*-------------------------------------------------------------------------
 *
 * sources.h
 *		The configured sources, loaded once a cycle, and their delivery state
 *		(source_state): failures, the backoff before the next attempt, the
 *		error status shows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SOURCES_H
#define SECURITYLAKE_SOURCES_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "nodes/pg_list.h"

#include "source.h"

/*
 * The columns of securitylake.source (aliased s) and source_state (st), in
 * the order sl_source_from_tuple reads them, and the FROM clause to go with
 * them: one select list for the worker's cycle and for validate(), so both
 * see a source the same way.
 */
#define SL_SOURCE_COLUMNS \
	"s.name, s.location, s.bucket, s.prefix, s.role_arn, s.external_id," \
	" s.region, s.account_id, s.ocsf_version, s.class_uid, s.route_by_class," \
	" s.batch_record_count, s.batch_data_size," \
	" CAST(pg_catalog.date_part('epoch', s.publish_rate) OPERATOR(pg_catalog.*) 1000 AS pg_catalog.int8)," \
	" s.schema, s.options, s.enabled, st.next_attempt_at, coalesce(st.failures, 0)," \
	" securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)"
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

/* Every source, allocated in the current memory context (runs its own step). */
extern List *sl_load_sources(void);
extern SlSource *sl_find_source(List *sources, const char *name);

/*
 * A delivery of the source failed: its state shows the error, the log names
 * the source. With backoff, the next attempt waits (exponential, jittered,
 * capped by securitylake.max_backoff); without, it only counts and shows.
 */
extern void sl_record_failure(SlSource *source, const char *error, bool backoff);

/* The source delivered again: its failures are forgotten (within the caller's step). */
extern void sl_clear_failures_sql(SlSource *source, bool uploaded);
extern void sl_note_recovered(SlSource *source);

#endif							/* SECURITYLAKE_SOURCES_H */
