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
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "event_rules.h"
#include "securitylake.h"
#include "version_check.h"		/* pkg: version check (see below) */

/* How many queue rows one SPI fetch brings while claiming. */
#define CLAIM_FETCH_ROWS 2000

static int	worker_index = 0;
static bool flush_mode = false;
static MemoryContext cycle_cxt = NULL;

/* ----------------------------------------------------------------
 * Sources
 * ---------------------------------------------------------------- */

static void forget_runtime_state(void);

/* ---- BEGIN version check (branch pkg, issue 17; the lead re-applies it in the rewritten loop) ----
 * After a package upgrade the new library meets the old SQL objects until
 * ALTER EXTENSION securitylake UPDATE: the worker idles meanwhile, says so
 * once (and once when it resumes), and never crash-loops. Called inside a
 * step (it reads pg_extension). */
static bool
extension_version_matches(void)
{
	static bool idle_logged = false;
	char		message[256];
	bool		ok = sl_extension_version_ok(message, sizeof(message));

	if (!ok && !idle_logged)
		ereport(LOG,
				(errmsg("securitylake worker is idle: %s", message),
				 errhint("Run ALTER EXTENSION securitylake UPDATE in that database; the worker resumes by itself.")));
	else if (ok && idle_logged)
		ereport(LOG,
				(errmsg("securitylake worker resumes: extension \"securitylake\" is version %s, as its library", EXTVERSION)));
	idle_logged = !ok;
	return ok;
}
/* ---- END version check ---- */

static bool
extension_installed(void)
{
	static Oid	seen_extension = InvalidOid;
	Oid			extension = InvalidOid;
	bool		version_ok = false;	/* pkg: version check */

	sl_begin_step("securitylake: checking for the extension");
	sl_exec("SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'securitylake'",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;

		extension = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		version_ok = extension_version_matches();	/* pkg: version check */
	}
	sl_end_step();

	/*
	 * A dropped and re-created extension starts its queue ids and batch ids
	 * afresh: what the worker remembers of the old one must go.
	 */
	if (extension != seen_extension)
	{
		forget_runtime_state();
		seen_extension = extension;
	}
	return OidIsValid(extension) && version_ok;	/* pkg: version check */
}

static SlSource *
source_from_tuple(HeapTuple tup, TupleDesc desc)
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

	sl_begin_step("securitylake: loading sources");
	sl_exec("SELECT s.name, s.location, s.bucket, s.prefix, s.role_arn, s.external_id,"
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
	sl_load_static_credentials();
	sl_end_step();
	return sources;
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
	sl_begin_step("securitylake: recording a delivery failure");
	sl_exec("INSERT INTO securitylake.source_state AS st"
				 "       (source, last_error, last_error_at, failures, next_attempt_at)"
				 "SELECT $1, $2, now(), 1, now() + $3 * interval '1 ms'"
				 "  WHERE EXISTS (SELECT 1 FROM securitylake.source WHERE name = $1)"
				 "ON CONFLICT (source) DO UPDATE"
				 "   SET last_error = $2, last_error_at = now(), failures = st.failures + 1,"
				 "       next_attempt_at = now() + $3 * interval '1 ms'",
				 3, types, values, NULL, SPI_OK_INSERT);
	sl_end_step();
	source->next_attempt_at = GetCurrentTimestamp() + DatumGetInt64(values[2]) * 1000;
	/* The error text is the one status shows: built without secrets. */
	ereport(LOG,
			(errmsg("securitylake: delivery for source \"%s\" failed: %s", source->name, error),
			 errdetail("Its events stay queued; attempt %d failed, the next one is in %lld ms.",
					   source->failures, (long long) DatumGetInt64(values[2]))));
}

/*
 * What the worker remembers of a source between cycles: when it last drained
 * it, and how many rows and bytes arrived for it since (counted incrementally
 * from the queue ids it has not looked at yet).
 */
typedef struct SlSourceRuntime
{
	char		name[NAMEDATALEN];
	TimestampTz last_drain_at;
	int64		queued_rows;
	int64		queued_bytes;
	int64		claim_from_id;	/* next claim starts here (0: from the queue's head) */
	TimestampTz claim_from_since;	/* when claim_from_id left 0 */
} SlSourceRuntime;

static HTAB *runtime_by_name = NULL;
static int64 counted_upto_id = 0;	/* queue ids up to here are counted */
static bool unroutable_seen = false;	/* the last count met rows no source takes */
static TimestampTz last_full_sweep = 0;

/* How often the whole queue is checked for rows no source takes (also at every flush). */
#define FULL_SWEEP_INTERVAL_MS (10 * 60 * 1000)

static SlSourceRuntime *
source_runtime(const char *name)
{
	bool		found;
	SlSourceRuntime *rt;

	if (runtime_by_name == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(SlSourceRuntime);
		runtime_by_name = hash_create("securitylake sources", 64, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	rt = hash_search(runtime_by_name, name, HASH_ENTER, &found);
	if (!found)
	{
		rt->last_drain_at = GetCurrentTimestamp();	/* first drain one publish period from now */
		rt->queued_rows = 0;
		rt->queued_bytes = 0;
		rt->claim_from_id = 0;
		rt->claim_from_since = 0;
	}
	return rt;
}

static void
forget_runtime_state(void)
{
	if (runtime_by_name != NULL)
	{
		hash_destroy(runtime_by_name);
		runtime_by_name = NULL;
	}
	counted_upto_id = 0;
	unroutable_seen = false;
	last_full_sweep = 0;
}

/* Count the rows that arrived since the last look, per routed source. */
static void
count_new_arrivals(void)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(counted_upto_id)};
	uint64		i;

	sl_begin_step("securitylake: counting new events");
	sl_exec("SELECT s.name, count(*), sum(pg_catalog.pg_column_size(q.event))::bigint, max(q.id)"
				 "  FROM securitylake.queue q"
				 "  LEFT JOIN securitylake.source s ON q.source = s.name"
				 "       OR (q.source IS NULL AND s.route_by_class"
				 "           AND q.event->'class_uid' = pg_catalog.to_jsonb(s.class_uid))"
				 " WHERE q.id > $1 GROUP BY 1",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		int64		maxid = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));

		if (name == NULL)
			unroutable_seen = true;
		else if (strlen(name) < NAMEDATALEN)
		{
			SlSourceRuntime *rt = source_runtime(name);

			rt->queued_rows += DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			rt->queued_bytes += DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		}
		counted_upto_id = Max(counted_upto_id, maxid);
	}
	sl_end_step();
}

/*
 * A source is drained when a batch threshold is reached (record count, data
 * size) or its publish rate has elapsed since the last drain — whichever
 * first, as the reference connector does — or when flush() asks. A failing
 * source waits for its backoff (flush() overrides it once).
 */
static bool
source_due(SlSource *source, TimestampTz now)
{
	SlSourceRuntime *rt;

	if (!source->enabled)
		return false;
	if (flush_mode)
		return true;
	if (source->next_attempt_at > now)
		return false;
	rt = source_runtime(source->name);
	return rt->queued_rows >= source->batch_record_count ||
		rt->queued_bytes >= source->batch_data_size ||
		TimestampDifferenceExceeds(rt->last_drain_at, now, (int) Min(source->publish_rate_ms, INT_MAX));
}

/* Next time a source becomes due by its publish rate (for the latch timeout). */
static TimestampTz
next_publish_at(SlSource *source)
{
	return source_runtime(source->name)->last_drain_at + source->publish_rate_ms * 1000;
}

/* ----------------------------------------------------------------
 * The cycle
 * ---------------------------------------------------------------- */

/*
 * Where the next claim of a source starts. Claims take rows oldest first, so
 * after a full batch the rows below its highest id are all claimed, except
 * rows a transaction still in progress inserted with a lower id (ids are
 * handed out at insert, rows become visible at commit). Starting the next
 * claim after the last one keeps a claim's cost flat however many deleted
 * rows lie at the queue's head awaiting vacuum; a claim from the head now and
 * then (after CLAIM_HEAD_INTERVAL_MS, and always before a drain ends) picks
 * up those late commits.
 */
#define CLAIM_HEAD_INTERVAL_MS (60 * 1000)

static int64
claim_start(SlSourceRuntime *rt)
{
	if (rt->claim_from_id > 0 &&
		TimestampDifferenceExceeds(rt->claim_from_since, GetCurrentTimestamp(), CLAIM_HEAD_INTERVAL_MS))
		rt->claim_from_id = 0;
	return rt->claim_from_id;
}

static void
claim_continue_after(SlSourceRuntime *rt, int64 last_id)
{
	if (rt->claim_from_id == 0)
		rt->claim_from_since = GetCurrentTimestamp();
	rt->claim_from_id = last_id + 1;
}

/*
 * Drain one source: claim and deliver batches until a claim from the queue's
 * head comes back short of a full batch. Errors of one source never stop
 * the others.
 */
static void
drain_source(SlSource *source)
{
	MemoryContext batch_cxt = AllocSetContextCreate(cycle_cxt, "securitylake batch", ALLOCSET_DEFAULT_SIZES);
	SlSourceRuntime *rt = source_runtime(source->name);

	for (;;)
	{
		bool		full;
		int64		from_id = claim_start(rt);
		int64		last_id;
		List	   *batches;
		char	   *error = NULL;
		bool		ok = true;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		batches = sl_claim(source, from_id, &full, &last_id);
		if (batches != NIL && !(ok = sl_deliver_batches(batches, &error)))
			record_failure(source, error);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		if (!ok)
		{
			rt->claim_from_id = 0;	/* released rows are below the last id */
			break;
		}
		if (full)
			claim_continue_after(rt, last_id);
		else if (from_id > 0)
			rt->claim_from_id = 0;	/* one last look from the head */
		else
		{
			rt->last_drain_at = GetCurrentTimestamp();
			rt->queued_rows = 0;
			rt->queued_bytes = 0;
			break;
		}
	}
	MemoryContextDelete(batch_cxt);
}

/*
 * Dead-letter queued rows with id > from_id that no source takes. Two steps:
 * find them (usually none: then nothing else runs), then move them by id. A
 * single DELETE ... USING over the queue could be planned as a nested loop
 * over a large, bloated queue.
 */
static void
dead_letter_unroutable(int64 from_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(from_id)};
	bool		isnull = true;
	Datum		ids = (Datum) 0;

	sl_begin_step("securitylake: dead-lettering unroutable events");
	sl_exec("SELECT pg_catalog.array_agg(id) FROM ("
			"  SELECT q.id FROM securitylake.queue q"
			"   WHERE q.id > $1 AND CASE WHEN q.source IS NOT NULL"
			"              THEN NOT EXISTS (SELECT 1 FROM securitylake.source s WHERE s.name = q.source)"
			"              ELSE NOT EXISTS (SELECT 1 FROM securitylake.source s"
			"                                WHERE s.route_by_class"
			"                                  AND q.event->'class_uid' = pg_catalog.to_jsonb(s.class_uid))"
			"          END"
			"   LIMIT 100000) bad",
			1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
		ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		types[0] = INT8ARRAYOID;
		values[0] = ids;
		sl_exec("WITH moved AS (DELETE FROM securitylake.queue q WHERE q.id = ANY ($1) RETURNING q.*)"
				"INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)"
				"SELECT m.source, m.event, m.region, m.account_id,"
				"       CASE WHEN m.source IS NOT NULL THEN pg_catalog.format('no source named %s', m.source)"
				"            WHEN pg_catalog.jsonb_typeof(m.event->'class_uid') IS NULL THEN 'missing required attribute class_uid'"
				"            ELSE pg_catalog.format('no source for class_uid %s', m.event->'class_uid') END,"
				"       m.enqueued_at FROM moved m",
				1, types, values, NULL, SPI_OK_INSERT);
	}
	sl_end_step();
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

/* Deliver the batches a crash or a failed upload left behind. */
static void
deliver_pending_step(SlSource *unused)
{
	List	   *sources = load_sources();
	List	   *pending;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(cycle_cxt);

	(void) unused;
	pending = sl_take_pending_batches(sources);
	foreach(lc, pending)
	{
		SlBatch    *b = lfirst(lc);
		char	   *error = NULL;

		if (!b->source->enabled ||
			(b->source->next_attempt_at > GetCurrentTimestamp() && !flush_mode))
			sl_release_batch(b);
		else
		{
			sl_load_batch_events(b);
			if (!sl_deliver_batches(list_make1(b), &error))
				record_failure(b->source, error);
		}
	}
	MemoryContextSwitchTo(old);
}

static void
count_step(SlSource *unused)
{
	(void) unused;

	/*
	 * Counts serve the batch thresholds. A flush drains every source and
	 * sweeps the whole queue anyway, so it skips them: rows it leaves queued
	 * (a failing source) are counted by the next cycle, as they lie above
	 * counted_upto_id still.
	 */
	if (!flush_mode)
		count_new_arrivals();
}

/*
 * Rows no source takes are looked for among the rows just counted when the
 * count met some, and in the whole queue at every flush and every
 * FULL_SWEEP_INTERVAL_MS (rows whose source was dropped, rows that committed
 * late with a low id): never a full scan per cycle.
 */
static int64 sweep_from_id = 0;

static void
sweep_step(SlSource *unused)
{
	TimestampTz now = GetCurrentTimestamp();

	(void) unused;
	if (flush_mode || TimestampDifferenceExceeds(last_full_sweep, now, FULL_SWEEP_INTERVAL_MS))
	{
		dead_letter_unroutable(0);
		last_full_sweep = now;
	}
	else if (unroutable_seen)
		dead_letter_unroutable(sweep_from_id);
	unroutable_seen = false;
}

/*
 * One pass over all sources. Returns how long the worker may sleep before
 * something becomes due (a publish rate or a backoff ending).
 */
static long
run_cycle(void)
{
	List	   *sources;
	ListCell   *lc;
	TimestampTz now;
	TimestampTz wake = 0;

	MemoryContextReset(cycle_cxt);
	guarded(deliver_pending_step, NULL);
	sweep_from_id = counted_upto_id;
	guarded(count_step, NULL);
	guarded(sweep_step, NULL);
	sources = load_sources();
	now = GetCurrentTimestamp();
	foreach(lc, sources)
	{
		SlSource   *source = lfirst(lc);
		TimestampTz due;

		if (source_due(source, now))
			guarded(drain_source, source);
		due = Max(next_publish_at(source), source->next_attempt_at);
		if (wake == 0 || due < wake)
			wake = due;
	}
	if (wake == 0)
		return sl_naptime_ms;
	return Max(10, Min((long) sl_naptime_ms, (long) ((wake - GetCurrentTimestamp()) / 1000)));
}

/* ----------------------------------------------------------------
 * Worker entry points
 * ---------------------------------------------------------------- */

static void
connect_worker(Oid dboid, const char *database)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	if (OidIsValid(dboid))
		BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	else
		BackgroundWorkerInitializeConnection(database, NULL, 0);
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "securitylake cycle", ALLOCSET_DEFAULT_SIZES);

	/*
	 * Exactly once needs the claim (batch + object key) durable before the
	 * upload: with asynchronous commit a crash could forget a claim whose
	 * object is already in the lake, and the rows would go out again under
	 * another key. Whatever the server's setting, the worker commits
	 * synchronously.
	 */
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The claim over a long queue is estimated expensive enough for JIT, which
	 * then compiles it anew for every batch: measured at a tenth of the
	 * worker's time, for queries that run once each.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
}

void
securitylake_worker_main(Datum main_arg)
{
	uint64		seen_ticket;

	SlWorkerSlot *slot;
	char	   *database;

	worker_index = DatumGetInt32(main_arg);
	slot = &sl_shared->worker[worker_index];
	database = sl_database_name(worker_index / Max(sl_workers, 1));
	connect_worker(InvalidOid, database);
	slot->pid = MyProcPid;
	slot->database = MyDatabaseId;
	seen_ticket = pg_atomic_read_u64(&sl_shared->flush_requested);
	pg_atomic_write_u64(&slot->flush_done, seen_ticket);
	slot->latch = MyLatch;
	ereport(LOG, (errmsg("securitylake worker %d started on database \"%s\"", worker_index, database)));

	while (!ShutdownRequestPending)
	{
		uint64		ticket = pg_atomic_read_u64(&sl_shared->flush_requested);
		long		sleep_ms = sl_naptime_ms;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (extension_installed())
		{
			flush_mode = ticket != seen_ticket;
			sleep_ms = run_cycle();
			flush_mode = false;
			if (ticket != seen_ticket)
			{
				pg_atomic_write_u64(&slot->flush_done, ticket);
				seen_ticket = ticket;
			}
		}
		pgstat_report_stat(true);
		if (pg_atomic_read_u64(&sl_shared->flush_requested) != seen_ticket)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	slot->latch = NULL;
	slot->pid = 0;
	/* Exit code 1: the postmaster starts the worker again (after bgw_restart_time). */
	proc_exit(1);
}

/* A one-shot drain in flush() mode, for clusters that did not preload us. */
void
securitylake_flush_worker_main(Datum main_arg)
{
	connect_worker(DatumGetObjectId(main_arg), NULL);
	if (extension_installed())
	{
		flush_mode = true;
		(void) run_cycle();
	}
	proc_exit(0);
}

/*
 * securitylake.workers workers for each database of securitylake.database
 * (a comma-separated list): slot i serves database i / workers.
 */
void
sl_register_workers(void)
{
	int			i;
	int			total = sl_workers * sl_database_count();

	if (total > SL_MAX_WORKERS)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("securitylake needs %d workers, more than the %d it supports", total, SL_MAX_WORKERS),
				 errhint("Lower securitylake.workers or list fewer databases in securitylake.database.")));
	for (i = 0; i < total; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 5;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "securitylake");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "securitylake_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "securitylake worker %d (%s)", i, sl_database_name(i / sl_workers));
		snprintf(worker.bgw_type, BGW_MAXLEN, "securitylake worker");
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}
