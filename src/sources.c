/*-------------------------------------------------------------------------
 *
 * sources.c
 *		Sources as the worker sees them for one cycle, and their delivery
 *		state: errors and backoff.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "securitylake.h"
#include "sources.h"
#include "step.h"
#include "upload.h"

static void
route_keys_from_datum(SlSource *s, Datum keys)
{
	ArrayType  *a = DatumGetArrayTypeP(keys);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	s->nroute_keys = 0;
	for (i = 0; i < n && i < lengthof(s->route_keys); i++)
		if (!nulls[i])
			s->route_keys[s->nroute_keys++] = TextDatumGetCString(elems[i]);
}

SlSource *
sl_source_from_tuple(HeapTuple tup, TupleDesc desc)
{
	SlSource   *s = palloc0(sizeof(SlSource));
	bool		isnull;
	Datum		d;

	s->name = sl_text_or_null(tup, desc, 1);
	s->location = sl_text_or_null(tup, desc, 2);
	s->bucket = sl_text_or_null(tup, desc, 3);
	s->prefix = sl_text_or_null(tup, desc, 4);
	s->role_arn = sl_text_or_null(tup, desc, 5);
	s->external_id = sl_text_or_null(tup, desc, 6);
	s->region = sl_text_or_null(tup, desc, 7);
	s->account_id = sl_text_or_null(tup, desc, 8);
	s->ocsf_version = sl_text_or_null(tup, desc, 9);
	s->class_uid = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
	s->route_by_class = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	d = SPI_getbinval(tup, desc, 12, &isnull);
	s->batch_record_count = isnull ? 0 : DatumGetInt32(d);
	s->batch_data_size = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
	s->publish_rate_ms = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
	d = SPI_getbinval(tup, desc, 15, &isnull);
	s->schema = isnull ? NULL : DatumGetJsonbPCopy(d);
	s->options = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 16, &isnull));
	s->enabled = DatumGetBool(SPI_getbinval(tup, desc, 17, &isnull));
	d = SPI_getbinval(tup, desc, 18, &isnull);
	s->next_attempt_at = isnull ? 0 : DatumGetTimestampTz(d);
	s->failures = DatumGetInt32(SPI_getbinval(tup, desc, 19, &isnull));
	route_keys_from_datum(s, SPI_getbinval(tup, desc, 20, &isnull));
	return s;
}

List *
sl_load_sources(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *sources = NIL;
	uint64		i;

	sl_begin_step("securitylake: loading sources");
	sl_exec("SELECT " SL_SOURCE_COLUMNS SL_SOURCE_FROM " ORDER BY s.name",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		sources = lappend(sources, sl_source_from_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc));
		MemoryContextSwitchTo(old);
	}
	sl_load_static_credentials();
	sl_end_step();
	return sources;
}

SlSource *
sl_source_lookup(const char *name, MemoryContext into)
{
	static SPIPlanPtr plan = NULL;
	Datum		values[1];
	SlSource   *source = NULL;

	if (plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		SPIPlanPtr	p = SPI_prepare("SELECT " SL_SOURCE_COLUMNS SL_SOURCE_FROM
									" WHERE s.name OPERATOR(pg_catalog.=) $1", 1, types);

		if (p == NULL)
			elog(ERROR, "securitylake: could not prepare the source look-up: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "securitylake: could not read source \"%s\"", name);
	if (SPI_processed == 1)
	{
		MemoryContext spi = MemoryContextSwitchTo(into);

		source = sl_source_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		MemoryContextSwitchTo(spi);
	}
	return source;
}

SlSource *
sl_find_source(List *sources, const char *name)
{
	ListCell   *lc;

	foreach(lc, sources)
	{
		SlSource   *s = lfirst(lc);

		if (strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

static int64
backoff_ms(int failures)
{
	int64		cap = (int64) sl_max_backoff_s * 1000;
	int64		base = 1000;
	int			shift = Min(failures, 20);
	int64		delay = Min(cap, base << shift);
	uint32		r;

	/* Half fixed, half jitter: spreads retries of several workers and sources. */
	if (!pg_strong_random(&r, sizeof(r)))
		r = 0;
	return delay / 2 + (int64) ((double) (delay / 2) * ((double) r / (double) PG_UINT32_MAX));
}

void
sl_record_failure(SlSource *source, const char *error, bool backoff)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		delay = backoff ? backoff_ms(source->failures + 1) : 0;
	TimestampTz next = GetCurrentTimestamp() + delay * 1000;

	source->failures++;
	values[0] = CStringGetTextDatum(source->name);
	values[1] = CStringGetTextDatum(error);
	values[2] = TimestampTzGetDatum(next);
	if (!backoff)
		nulls[2] = 'n';
	sl_begin_step("securitylake: recording a delivery failure");
	sl_exec("INSERT INTO securitylake.source_state AS st"
			"       (source, last_error, last_error_at, failures, next_attempt_at)"
			"SELECT $1, $2, pg_catalog.now(), 1, $3"
			"  WHERE EXISTS (SELECT 1 FROM securitylake.source s WHERE s.name OPERATOR(pg_catalog.=) $1)"
			"ON CONFLICT (source) DO UPDATE"
			"   SET last_error = $2, last_error_at = pg_catalog.now(),"
			"       failures = st.failures OPERATOR(pg_catalog.+) 1, next_attempt_at = $3",
			3, types, values, nulls, SPI_OK_INSERT);
	sl_end_step();
	source->next_attempt_at = backoff ? next : 0;
	/* The error text is the one status shows: built without secrets. */
	if (backoff)
		ereport(LOG,
				(errmsg("securitylake: delivery for source \"%s\" failed: %s", source->name, error),
				 errdetail("Its events stay queued; attempt %d failed, the next one is in %lld ms.",
						   source->failures, (long long) delay)));
	else
		ereport(LOG,
				(errmsg("securitylake: delivery for source \"%s\" failed: %s", source->name, error),
				 errdetail("The batch is split to find the events that cause it; the source goes on.")));
}

/*
 * Within the caller's step: the source's state says it delivers, and in which
 * region S3 said its bucket is, when a redirect told (status shows it).
 */
void
sl_clear_failures_sql(SlSource *source, bool uploaded)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	const char *region = sl_s3_bucket_region(source);
	char		nulls[2] = {' ', region ? ' ' : 'n'};

	values[0] = CStringGetTextDatum(source->name);
	values[1] = region ? CStringGetTextDatum(region) : (Datum) 0;
	sl_exec(uploaded
			? "UPDATE securitylake.source_state SET last_upload_at = pg_catalog.now(), last_error = NULL,"
			"       failures = 0, next_attempt_at = NULL, bucket_region = $2"
			" WHERE source OPERATOR(pg_catalog.=) $1"
			: "UPDATE securitylake.source_state SET last_error = NULL, failures = 0,"
			"       next_attempt_at = NULL WHERE source OPERATOR(pg_catalog.=) $1",
			2, types, values, nulls, SPI_OK_UPDATE);
}

/* After the step that cleared them committed. */
void
sl_note_recovered(SlSource *source)
{
	if (source->failures > 0)
		ereport(LOG,
				(errmsg("securitylake: source \"%s\" delivers again after %d failed attempts",
						source->name, source->failures)));
	source->failures = 0;
	source->next_attempt_at = 0;
}
