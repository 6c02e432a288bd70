/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background worker: claim → encode → upload → commit.
 *
 * Exactly once into the lake:
 *   1. claim: in one short transaction, read a source's queued rows, group
 *      them by partition (region, account, eventDay), and record each group
 *      as a batch (its object key and the exact queue ids) — committed;
 *   2. encode and upload with no transaction open;
 *   3. commit: delete the batch's rows, dead-letter the events that could not
 *      be encoded, log the upload, forget the batch — one transaction.
 * A batch left behind by a crash at any point is uploaded again to the same
 * key with the same rows, so the lake holds every event once. Invalid events
 * found while claiming (no usable time, region or account) are dead-lettered
 * in the claim transaction itself.
 *
 * The loop follows worker_spi: signal handlers before unblocking signals,
 * latch waits with WL_EXIT_ON_PM_DEATH, one short transaction per step,
 * pgstat_report_activity and pgstat_report_stat (without the latter,
 * autovacuum never sees the worker's deletes and the queue bloats).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "securitylake.h"

/* How many queue rows one SPI fetch brings while claiming. */
#define CLAIM_FETCH_ROWS 2000

static int	worker_index = 0;
static bool flush_mode = false;
static MemoryContext cycle_cxt = NULL;

/* ----------------------------------------------------------------
 * Small SPI helpers: one short transaction per step.
 * ---------------------------------------------------------------- */

static void
begin_step(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not connect to SPI")));
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
end_step(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

static void
exec_checked(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: SPI_execute failed: %s", SPI_result_code_string(rc)),
				 errdetail("Query: %s", sql)));
}

static char *
copy_text_or_null(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Datum
int8_array(int64 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
text_array(char **values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ----------------------------------------------------------------
 * Sources
 * ---------------------------------------------------------------- */

static bool
extension_installed(void)
{
	bool		installed;

	begin_step("securitylake: checking for the extension");
	exec_checked("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'securitylake'",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	installed = SPI_processed > 0;
	end_step();
	return installed;
}

static SlSource *
source_from_tuple(HeapTuple tup, TupleDesc desc)
{
	SlSource   *s = palloc0(sizeof(SlSource));
	bool		isnull;
	Datum		d;

	s->name = copy_text_or_null(tup, desc, 1);
	s->location = copy_text_or_null(tup, desc, 2);
	s->bucket = copy_text_or_null(tup, desc, 3);
	s->prefix = copy_text_or_null(tup, desc, 4);
	s->role_arn = copy_text_or_null(tup, desc, 5);
	s->external_id = copy_text_or_null(tup, desc, 6);
	s->region = copy_text_or_null(tup, desc, 7);
	s->account_id = copy_text_or_null(tup, desc, 8);
	s->ocsf_version = copy_text_or_null(tup, desc, 9);
	s->class_uid = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
	s->route_by_class = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	s->batch_record_count = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
	s->batch_data_size = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
	s->publish_rate_ms = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
	d = SPI_getbinval(tup, desc, 15, &isnull);
	s->schema = isnull ? NULL : DatumGetJsonbPCopy(d);
	d = SPI_getbinval(tup, desc, 16, &isnull);
	s->options = DatumGetJsonbPCopy(d);
	s->enabled = DatumGetBool(SPI_getbinval(tup, desc, 17, &isnull));
	s->next_attempt_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 18, &isnull));
	if (isnull)
		s->next_attempt_at = 0;
	s->failures = DatumGetInt32(SPI_getbinval(tup, desc, 19, &isnull));
	return s;
}

/* Load every source into cycle_cxt. */
static List *
load_sources(void)
{
	List	   *sources = NIL;
	uint64		i;

	begin_step("securitylake: loading sources");
	exec_checked("SELECT s.name, s.location, s.bucket, s.prefix, s.role_arn, s.external_id,"
				 "       s.region, s.account_id, s.ocsf_version, s.class_uid, s.route_by_class,"
				 "       s.batch_record_count, s.batch_data_size,"
				 "       (extract(epoch FROM s.publish_rate) * 1000)::bigint,"
				 "       s.schema, s.options, s.enabled, st.next_attempt_at, coalesce(st.failures, 0)"
				 "  FROM securitylake.source s"
				 "  LEFT JOIN securitylake.source_state st ON st.source = s.name"
				 " ORDER BY s.name",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cycle_cxt);

		sources = lappend(sources, source_from_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc));
		MemoryContextSwitchTo(old);
	}
	end_step();
	return sources;
}

static SlSource *
find_source(List *sources, const char *name)
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

/* ----------------------------------------------------------------
 * Delivery state of a source (source_state): errors and backoff.
 * ---------------------------------------------------------------- */

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

static void
record_failure(SlSource *source, const char *error)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];

	source->failures++;
	values[0] = CStringGetTextDatum(source->name);
	values[1] = CStringGetTextDatum(error);
	values[2] = Int64GetDatum(backoff_ms(source->failures));
	begin_step("securitylake: recording a delivery failure");
	exec_checked("INSERT INTO securitylake.source_state AS st"
				 "       (source, last_error, last_error_at, failures, next_attempt_at)"
				 "SELECT $1, $2, now(), 1, now() + $3 * interval '1 ms'"
				 "  WHERE EXISTS (SELECT 1 FROM securitylake.source WHERE name = $1)"
				 "ON CONFLICT (source) DO UPDATE"
				 "   SET last_error = $2, last_error_at = now(), failures = st.failures + 1,"
				 "       next_attempt_at = now() + $3 * interval '1 ms'",
				 3, types, values, NULL, SPI_OK_INSERT);
	end_step();
	source->next_attempt_at = GetCurrentTimestamp() + DatumGetInt64(values[2]) * 1000;
}

static bool
source_due(SlSource *source, TimestampTz now)
{
	if (!source->enabled)
		return false;
	return flush_mode || source->next_attempt_at <= now;
}

/* ----------------------------------------------------------------
 * Batches in memory
 * ---------------------------------------------------------------- */

static SlBatch *
new_batch(SlSource *source, const char *region, const char *account, int32 day)
{
	SlBatch    *b = palloc0(sizeof(SlBatch));

	b->source = source;
	b->region = pstrdup(region);
	b->account_id = pstrdup(account);
	b->event_day = day;
	b->maxevents = 64;
	b->events = palloc(sizeof(SlEvent *) * b->maxevents);
	return b;
}

static void
batch_add(SlBatch *b, SlEvent *ev)
{
	if (b->nevents == b->maxevents)
	{
		b->maxevents *= 2;
		b->events = repalloc_huge(b->events, sizeof(SlEvent *) * b->maxevents);
	}
	b->events[b->nevents++] = ev;
}

static int
compare_events(const void *a, const void *b)
{
	const SlEvent *x = *(SlEvent *const *) a;
	const SlEvent *y = *(SlEvent *const *) b;

	if (x->time_ms != y->time_ms)
		return x->time_ms < y->time_ms ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

static const char *const cloud_region_path[] = {"cloud", "region"};
static const char *const cloud_account_path[] = {"cloud", "account", "uid"};

/*
 * Work out an event's time and partition. On failure ev->reject says why.
 * region = row ?? event cloud.region ?? source; account likewise with
 * cloud.account.uid; eventDay = UTC day of time.
 */
static void
classify_event(SlSource *source, SlEvent *ev, char **region, char **account, int32 *day)
{
	char	   *reason = NULL;

	if (!sl_event_time_ms(ev->event, &ev->time_ms, &reason))
	{
		ev->reject = reason;
		return;
	}
	*region = ev->region ? ev->region : sl_event_string_at(ev->event, cloud_region_path, 2);
	if (*region == NULL)
		*region = source->region;
	*account = ev->account_id ? ev->account_id : sl_event_string_at(ev->event, cloud_account_path, 3);
	if (*account == NULL)
		*account = source->account_id;
	if (!sl_valid_region(*region))
		ev->reject = psprintf("region \"%s\" is not an AWS region name", *region);
	else if (!sl_valid_account(*account))
		ev->reject = psprintf("account \"%s\" is not a 12-digit AWS account id, \"external\" or \"external_<id>\"", *account);
	/* time is positive (sl_event_time_ms bounds it), so division floors. */
	*day = (int32) (ev->time_ms / (INT64CONST(1000) * SECS_PER_DAY));
}

static SlEvent *
event_from_tuple(HeapTuple tup, TupleDesc desc)
{
	SlEvent    *ev = palloc0(sizeof(SlEvent));
	bool		isnull;

	ev->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	ev->event = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 2, &isnull));
	ev->region = copy_text_or_null(tup, desc, 3);
	ev->account_id = copy_text_or_null(tup, desc, 4);
	ev->enqueued_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	return ev;
}

/* Place a classified event into the batch of its partition (linear: few partitions). */
static SlBatch *
partition_batch(List **batches, SlSource *source, const char *region, const char *account, int32 day)
{
	ListCell   *lc;
	SlBatch    *b;

	foreach(lc, *batches)
	{
		b = lfirst(lc);
		if (b->event_day == day && strcmp(b->region, region) == 0 && strcmp(b->account_id, account) == 0)
			return b;
	}
	b = new_batch(source, region, account, day);
	*batches = lappend(*batches, b);
	return b;
}

/* ----------------------------------------------------------------
 * Step 1: claim
 * ---------------------------------------------------------------- */

/* Dead-letter events rejected while claiming, in the claim transaction. */
static void
dead_letter_rejects(SlSource *source, List *rejects)
{
	int			n = list_length(rejects);
	int64	   *ids;
	char	  **reasons;
	Oid			types[3] = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	int			i = 0;
	ListCell   *lc;

	if (n == 0)
		return;
	ids = palloc(sizeof(int64) * n);
	reasons = palloc(sizeof(char *) * n);
	foreach(lc, rejects)
	{
		SlEvent    *ev = lfirst(lc);

		ids[i] = ev->id;
		reasons[i++] = ev->reject;
	}
	values[0] = CStringGetTextDatum(source->name);
	values[1] = int8_array(ids, n);
	values[2] = text_array(reasons, n);
	exec_checked("WITH r AS (SELECT * FROM unnest($2::bigint[], $3::text[]) AS r(id, reason)),"
				 "     moved AS (INSERT INTO securitylake.dead_letter"
				 "                      (source, event, region, account_id, reason, enqueued_at)"
				 "               SELECT $1, q.event, q.region, q.account_id, r.reason, q.enqueued_at"
				 "                 FROM securitylake.queue q JOIN r ON r.id = q.id"
				 "               RETURNING 1)"
				 "DELETE FROM securitylake.queue q USING r WHERE q.id = r.id",
				 3, types, values, NULL, SPI_OK_DELETE);
}

/* Record one batch: batch id from the identity, key with a fresh nonce. */
static void
record_batch(SlBatch *b)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, INT8ARRAYOID};
	Datum		values[7];
	int64	   *ids = palloc(sizeof(int64) * b->nevents);
	uint64		nonce;
	bool		isnull;
	int			i;

	exec_checked("SELECT nextval(pg_catalog.pg_get_serial_sequence('securitylake.batch', 'id'))",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	b->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (!pg_strong_random(&nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not generate a random object key nonce")));
	b->object_key = sl_object_key(b, nonce);
	for (i = 0; i < b->nevents; i++)
		ids[i] = b->events[i]->id;
	values[0] = Int64GetDatum(b->id);
	values[1] = CStringGetTextDatum(b->source->name);
	values[2] = CStringGetTextDatum(b->region);
	values[3] = CStringGetTextDatum(b->account_id);
	values[4] = Int32GetDatum(b->event_day);
	values[5] = CStringGetTextDatum(b->object_key);
	values[6] = int8_array(ids, b->nevents);
	exec_checked("INSERT INTO securitylake.batch"
				 "       (id, source, region, account_id, event_day, object_key, ids)"
				 "OVERRIDING SYSTEM VALUE"
				 "VALUES ($1, $2, $3, $4, date '1970-01-01' + $5, $6, $7)",
				 7, types, values, NULL, SPI_OK_INSERT);
	/* Held until this worker commits or gives up the batch: keeps re-drives away. */
	values[0] = Int64GetDatum(b->id);
	exec_checked("SELECT pg_catalog.pg_advisory_lock(8467, $1::int)", 1, types, values, NULL, SPI_OK_SELECT);
}

/* The queue ids held by a source's pending batches, sorted, to skip while claiming. */
static int64 *
pending_ids(SlSource *source, int *n)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(source->name)};
	int64	   *ids;
	uint64		i;

	exec_checked("SELECT i FROM securitylake.batch b, unnest(b.ids) AS i"
				 " WHERE b.source = $1 ORDER BY i",
				 1, types, values, NULL, SPI_OK_SELECT);
	*n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return ids;
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Claim up to one batch-size worth of a source's queued rows, oldest first,
 * skipping rows of its pending batches. Per-source advisory lock: claims of
 * one source are serialised across workers, and the pending list is read
 * after it is taken, so no two batches ever hold the same row.
 */
static List *
claim(SlSource *source, bool *full)
{
	Oid			types[3] = {TEXTOID, BOOLOID, INT4OID};
	Datum		values[3];
	Portal		portal;
	List	   *batches = NIL;
	List	   *rejects = NIL;
	int64	   *skip;
	int			nskip;
	int64		nrows = 0;
	int64		nbytes = 0;
	ListCell   *lc;
	MemoryContext batch_cxt = CurrentMemoryContext;

	begin_step("securitylake: claiming a batch");
	values[0] = CStringGetTextDatum(source->name);
	exec_checked("SELECT pg_catalog.pg_advisory_xact_lock(8466, pg_catalog.hashtext($1))",
				 1, types, values, NULL, SPI_OK_SELECT);
	skip = pending_ids(source, &nskip);
	values[1] = BoolGetDatum(source->route_by_class);
	values[2] = Int32GetDatum(source->class_uid);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT q.id, q.event, q.region, q.account_id, q.enqueued_at,"
									   "       pg_catalog.pg_column_size(q.event)"
									   "  FROM securitylake.queue q"
									   " WHERE q.source = $1 OR ($2 AND q.source IS NULL"
									   "       AND q.event->'class_uid' = pg_catalog.to_jsonb($3))"
									   " ORDER BY q.id",
									   3, types, values, NULL, true, CURSOR_OPT_NO_SCROLL);
	while (nrows < source->batch_record_count && nbytes < source->batch_data_size)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, CLAIM_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			MemoryContext old;
			SlEvent    *ev;
			char	   *region = NULL;
			char	   *account = NULL;
			int32		day = 0;

			if (nrows >= source->batch_record_count || nbytes >= source->batch_data_size)
				break;
			if (nskip > 0 && bsearch(&id, skip, nskip, sizeof(int64), compare_int64) != NULL)
				continue;
			old = MemoryContextSwitchTo(batch_cxt);
			ev = event_from_tuple(tup, desc);
			nbytes += DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
			nrows++;
			classify_event(source, ev, &region, &account, &day);
			if (ev->reject)
				rejects = lappend(rejects, ev);
			else
				batch_add(partition_batch(&batches, source, region, account, day), ev);
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	*full = nrows >= source->batch_record_count || nbytes >= source->batch_data_size;

	dead_letter_rejects(source, rejects);
	foreach(lc, batches)
	{
		MemoryContext old = MemoryContextSwitchTo(batch_cxt);

		record_batch(lfirst(lc));
		MemoryContextSwitchTo(old);
	}
	end_step();
	return batches;
}

/* ----------------------------------------------------------------
 * Pending batches left by a crash or a failed upload
 * ---------------------------------------------------------------- */

static SlBatch *
pending_from_tuple(List *sources, HeapTuple tup, TupleDesc desc)
{
	SlBatch    *b;
	SlSource   *source;
	char	   *name = copy_text_or_null(tup, desc, 2);
	bool		isnull;

	source = find_source(sources, name);
	if (source == NULL)
		return NULL;			/* source dropped: drop_source removes its batches */
	b = new_batch(source, copy_text_or_null(tup, desc, 3), copy_text_or_null(tup, desc, 4),
				  DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull)));
	b->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	b->object_key = copy_text_or_null(tup, desc, 6);
	b->upload_id = copy_text_or_null(tup, desc, 7);
	b->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	return b;
}

/* Lock and load the pending batches of due sources that no other worker holds. */
static List *
take_pending_batches(List *sources)
{
	List	   *batches = NIL;
	uint64		i;
	TimestampTz now = GetCurrentTimestamp();

	begin_step("securitylake: looking for pending batches");
	exec_checked("SELECT b.id, b.source, b.region, b.account_id, b.event_day - date '1970-01-01',"
				 "       b.object_key, b.upload_id, b.attempts"
				 "  FROM securitylake.batch b"
				 " WHERE pg_catalog.pg_try_advisory_lock(8467, b.id::int)"
				 " ORDER BY b.id",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cycle_cxt);
		SlBatch    *b = pending_from_tuple(sources, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);

		MemoryContextSwitchTo(old);
		if (b != NULL && source_due(b->source, now))
			batches = lappend(batches, b);
		else
		{
			Oid			t = INT8OID;
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			exec_checked("SELECT pg_catalog.pg_advisory_unlock(8467, $1::int)", 1, &t, &v, NULL, SPI_OK_SELECT);
		}
	}
	end_step();
	return batches;
}

/* Re-read a pending batch's rows; the events come back exactly as claimed. */
static void
load_batch_events(SlBatch *b)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	uint64		i;

	values[0] = Int64GetDatum(b->id);
	begin_step("securitylake: reloading a pending batch");
	exec_checked("SELECT q.id, q.event, q.region, q.account_id, q.enqueued_at"
				 "  FROM securitylake.queue q, securitylake.batch b"
				 " WHERE b.id = $1 AND q.id = ANY (b.ids)"
				 " ORDER BY q.id",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cycle_cxt);
		SlEvent    *ev = event_from_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		char	   *region,
				   *account;
		int32		day;

		classify_event(b->source, ev, &region, &account, &day);
		batch_add(b, ev);
		MemoryContextSwitchTo(old);
	}
	end_step();
}

/* ----------------------------------------------------------------
 * Steps 2 and 3: encode, upload, commit
 * ---------------------------------------------------------------- */

static void
commit_batch(SlBatch *b, int64 rows, size_t bytes)
{
	Oid			types[6] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT8OID, INT8OID, TEXTOID};
	Datum		values[6];
	int64	   *ids = palloc(sizeof(int64) * Max(b->nevents, 1));
	char	  **reasons = palloc(sizeof(char *) * Max(b->nevents, 1));
	int			nrejects = 0;
	int			i;

	for (i = 0; i < b->nevents; i++)
		if (b->events[i]->reject)
		{
			ids[nrejects] = b->events[i]->id;
			reasons[nrejects++] = b->events[i]->reject;
		}
	values[0] = Int64GetDatum(b->id);
	values[1] = int8_array(ids, nrejects);
	values[2] = text_array(reasons, nrejects);
	values[3] = Int64GetDatum(rows);
	values[4] = Int64GetDatum((int64) bytes);
	values[5] = CStringGetTextDatum(b->source->name);

	begin_step("securitylake: committing a batch");
	exec_checked("INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)"
				 "SELECT b.source, q.event, q.region, q.account_id, r.reason, q.enqueued_at"
				 "  FROM securitylake.batch b"
				 "  JOIN unnest($2::bigint[], $3::text[]) AS r(id, reason) ON true"
				 "  JOIN securitylake.queue q ON q.id = r.id"
				 " WHERE b.id = $1",
				 3, types, values, NULL, SPI_OK_INSERT);
	exec_checked("DELETE FROM securitylake.queue q USING securitylake.batch b"
				 " WHERE b.id = $1 AND q.id = ANY (b.ids)",
				 1, types, values, NULL, SPI_OK_DELETE);
	if (rows > 0)
		exec_checked("INSERT INTO securitylake.uploads"
					 "       (source, object_key, region, account_id, event_day, rows, bytes, attempts)"
					 "SELECT source, object_key, region, account_id, event_day, $4, $5, attempts + 1"
					 "  FROM securitylake.batch WHERE id = $1",
					 5, types, values, NULL, SPI_OK_INSERT);
	exec_checked("DELETE FROM securitylake.batch WHERE id = $1", 1, types, values, NULL, SPI_OK_DELETE);
	exec_checked("UPDATE securitylake.source_state"
				 "   SET last_upload_at = CASE WHEN $4 > 0 THEN now() ELSE last_upload_at END,"
				 "       last_error = NULL, failures = 0, next_attempt_at = NULL"
				 " WHERE source = $6",
				 6, types, values, NULL, SPI_OK_UPDATE);
	sl_test_fault_point("committed-before");
	end_step();
	b->source->failures = 0;
	b->source->next_attempt_at = 0;
}

static void
count_attempt(SlBatch *b)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(b->id)};

	begin_step("securitylake: counting an upload attempt");
	exec_checked("UPDATE securitylake.batch SET attempts = attempts + 1 WHERE id = $1",
				 1, types, values, NULL, SPI_OK_UPDATE);
	end_step();
}

static void
release_batch(SlBatch *b)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(b->id)};

	begin_step("securitylake: releasing a batch");
	exec_checked("SELECT pg_catalog.pg_advisory_unlock(8467, $1::int)", 1, types, values, NULL, SPI_OK_SELECT);
	end_step();
}

/*
 * Encode a batch (events sorted by time), upload it, commit it. Returns false
 * when the upload failed; the batch then stays pending for a later attempt.
 */
static bool
deliver_batch(SlBatch *b)
{
	SlEncoder  *enc;
	StringInfoData out;
	int64		rows = 0;
	char	   *error = NULL;
	int			i;

	qsort(b->events, b->nevents, sizeof(SlEvent *), compare_events);
	enc = sl_encoder_begin(b->source);
	for (i = 0; i < b->nevents; i++)
	{
		SlEvent    *ev = b->events[i];

		if (ev->reject == NULL)
			sl_encoder_add(enc, ev->event, &ev->reject);
	}
	initStringInfo(&out);
	sl_encoder_finish(enc, &out, &rows);
	sl_test_fault_point("claimed");

	if (rows > 0)
	{
		pgstat_report_activity(STATE_RUNNING, "securitylake: uploading a batch");
		if (!sl_upload_object(b->source, b, out.data, out.len, &error))
		{
			count_attempt(b);
			record_failure(b->source, error);
			release_batch(b);
			return false;
		}
	}
	sl_test_fault_point("uploaded");
	commit_batch(b, rows, out.len);
	sl_test_fault_point("committed");
	release_batch(b);
	return true;
}

/* ----------------------------------------------------------------
 * The cycle
 * ---------------------------------------------------------------- */

/*
 * Drain one source: claim and deliver batches until a claim comes back
 * short of a full batch. Errors of one source never stop the others.
 */
static void
drain_source(SlSource *source)
{
	MemoryContext batch_cxt = AllocSetContextCreate(cycle_cxt, "securitylake batch", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		full;
		List	   *batches;
		ListCell   *lc;
		bool		ok = true;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		batches = claim(source, &full);
		foreach(lc, batches)
		{
			if (ok)
				ok = deliver_batch(lfirst(lc));
			else
				release_batch(lfirst(lc));
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		if (!ok || !full)
			break;
	}
	MemoryContextDelete(batch_cxt);
}

/* Dead-letter queued rows that no source takes. */
static void
dead_letter_unroutable(void)
{
	begin_step("securitylake: dead-lettering unroutable events");
	exec_checked("WITH bad AS ("
				 "  SELECT q.id FROM securitylake.queue q"
				 "   WHERE CASE WHEN q.source IS NOT NULL"
				 "              THEN NOT EXISTS (SELECT 1 FROM securitylake.source s WHERE s.name = q.source)"
				 "              ELSE NOT EXISTS (SELECT 1 FROM securitylake.source s"
				 "                                WHERE s.route_by_class"
				 "                                  AND q.event->'class_uid' = pg_catalog.to_jsonb(s.class_uid))"
				 "          END"
				 "   LIMIT 100000),"
				 " moved AS (DELETE FROM securitylake.queue q USING bad WHERE q.id = bad.id RETURNING q.*)"
				 "INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)"
				 "SELECT m.source, m.event, m.region, m.account_id,"
				 "       CASE WHEN m.source IS NOT NULL THEN pg_catalog.format('no source named %s', m.source)"
				 "            WHEN pg_catalog.jsonb_typeof(m.event->'class_uid') IS NULL THEN 'missing required attribute class_uid'"
				 "            ELSE pg_catalog.format('no source for class_uid %s', m.event->'class_uid') END,"
				 "       m.enqueued_at FROM moved m",
				 0, NULL, NULL, NULL, SPI_OK_INSERT);
	end_step();
}

static void
note_error(SlSource *source)
{
	ErrorData  *edata;
	MemoryContext old = MemoryContextSwitchTo(cycle_cxt);
	char	   *msg;

	edata = CopyErrorData();
	MemoryContextSwitchTo(old);
	FlushErrorState();
	AbortCurrentTransaction();
	/* Batches this worker held go back to the pool for the next attempt. */
	LockReleaseAll(USER_LOCKMETHOD, true);
	msg = edata->detail ? psprintf("%s: %s", edata->message, edata->detail) : edata->message;
	ereport(LOG,
			(errmsg("securitylake: delivery of source \"%s\" failed: %s",
					source ? source->name : "(none)", edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
	if (source)
		record_failure(source, msg);
}

/* Run a step; an ERROR is logged and charged to the source, never a crash loop. */
static void
guarded(void (*step) (SlSource *), SlSource *source)
{
	MemoryContext old = CurrentMemoryContext;

	PG_TRY();
	{
		step(source);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		note_error(source);
	}
	PG_END_TRY();
}

static void
deliver_pending_step(SlSource *unused)
{
	List	   *sources = load_sources();
	List	   *pending = take_pending_batches(sources);
	ListCell   *lc;

	(void) unused;
	foreach(lc, pending)
	{
		SlBatch    *b = lfirst(lc);

		if (b->source->next_attempt_at > GetCurrentTimestamp() && !flush_mode)
		{
			release_batch(b);
			continue;
		}
		load_batch_events(b);
		deliver_batch(b);
	}
}

static void
unroutable_step(SlSource *unused)
{
	(void) unused;
	dead_letter_unroutable();
}

/* One pass over all sources. Returns when there is nothing more to do now. */
static void
run_cycle(void)
{
	List	   *sources;
	ListCell   *lc;
	TimestampTz now;

	MemoryContextReset(cycle_cxt);
	guarded(deliver_pending_step, NULL);
	guarded(unroutable_step, NULL);
	sources = load_sources();
	now = GetCurrentTimestamp();
	foreach(lc, sources)
	{
		SlSource   *source = lfirst(lc);

		if (source_due(source, now))
			guarded(drain_source, source);
	}
}

/* ----------------------------------------------------------------
 * Worker entry points
 * ---------------------------------------------------------------- */

static void
connect_worker(Oid dboid)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	if (OidIsValid(dboid))
		BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	else
		BackgroundWorkerInitializeConnection(sl_database, NULL, 0);
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "securitylake cycle", ALLOCSET_DEFAULT_SIZES);
}

void
securitylake_worker_main(Datum main_arg)
{
	uint64		seen_ticket;

	worker_index = DatumGetInt32(main_arg);
	connect_worker(InvalidOid);
	sl_shared->worker_pid[worker_index] = MyProcPid;
	sl_shared->worker_latch[worker_index] = MyLatch;
	ereport(LOG, (errmsg("securitylake worker %d started on database \"%s\"", worker_index, sl_database)));
	seen_ticket = pg_atomic_read_u64(&sl_shared->flush_completed);

	while (!ShutdownRequestPending)
	{
		uint64		ticket = pg_atomic_read_u64(&sl_shared->flush_requested);

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (extension_installed())
		{
			flush_mode = ticket != seen_ticket;
			run_cycle();
			flush_mode = false;
			if (ticket != seen_ticket)
			{
				uint64		done = pg_atomic_read_u64(&sl_shared->flush_completed);

				while (done < ticket &&
					   !pg_atomic_compare_exchange_u64(&sl_shared->flush_completed, &done, ticket))
					;
				seen_ticket = ticket;
			}
		}
		pgstat_report_stat(true);
		if (pg_atomic_read_u64(&sl_shared->flush_requested) != seen_ticket)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sl_naptime_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	sl_shared->worker_latch[worker_index] = NULL;
	sl_shared->worker_pid[worker_index] = 0;
	proc_exit(0);
}

/* A one-shot drain in flush() mode, for clusters that did not preload us. */
void
securitylake_flush_worker_main(Datum main_arg)
{
	connect_worker(DatumGetObjectId(main_arg));
	if (extension_installed())
	{
		flush_mode = true;
		run_cycle();
	}
	proc_exit(0);
}

void
sl_register_workers(void)
{
	int			i;

	for (i = 0; i < sl_workers; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 5;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "securitylake");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "securitylake_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "securitylake worker %d", i);
		snprintf(worker.bgw_type, BGW_MAXLEN, "securitylake worker");
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}
