/*-------------------------------------------------------------------------
 *
 * loop.c
 *		The background workers: their connection and identity, and the cycle
 *		claim → deliver → commit over every source.
 *
 * Exactly once into the lake:
 *   1. claim (claim.c): a source's queued rows of one routing key, grouped
 *      by partition, each group recorded as a batch — its object key and its
 *      ids — in a committed transaction;
 *   2. deliver (deliver.c): encode and upload with no transaction open;
 *   3. commit (commit.c): delete the batch's rows, dead-letter the events
 *      that could not be encoded, log the upload, forget the batch — one
 *      transaction.
 * A batch left behind by a crash or a failed attempt is pending: the next
 * cycle uploads it again to the same key with the same rows (batches.c), so
 * the lake holds every event once.
 *
 * Trust: a worker connects as the bootstrap superuser (PostgreSQL 15 lets a
 * background worker connect only as a role that may log in), then at once
 * pins search_path to pg_catalog, pg_temp, overrides the settings its
 * statements depend on whatever the database or role says, and becomes
 * securitylake_worker for good (SECURITY_LOCAL_USERID_CHANGE |
 * SECURITY_RESTRICTED_OPERATION: no SET ROLE back). Every statement then runs
 * with that role's grants only, and is written schema-qualified (step.h).
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
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "batches.h"
#include "claim.h"
#include "commit.h"
#include "deliver.h"
#include "schedule.h"
#include "securitylake.h"
#include "shmem.h"
#include "sources.h"
#include "step.h"
#include "sweep.h"
#include "version_check.h"

/* Rows no source takes are looked for this often (and at every flush), for this long at most. */
#define SWEEP_INTERVAL_MS (10 * 1000)
#define SWEEP_TIME_MS 2000
#define SWEEP_DEFER_MS (60 * 1000)
/* Pending batches taken per cycle. */
#define PENDING_PER_CYCLE 64

/* A flush() is being served: of every source, or of the ones it named. */
static bool flush_mode = false;
static bool flush_all = false;
static char flush_names[SL_FLUSH_RING][SL_FLUSH_NAME_SIZE];
static int	nflush_names = 0;
static MemoryContext cycle_cxt = NULL;
static TimestampTz last_sweep = 0;

bool
sl_stop_requested(void)
{
	return ShutdownRequestPending || !PostmasterIsAlive();
}

/* The flush tickets the running cycle serves: (cycle_seen, cycle_ticket]. */
static uint64 cycle_seen = 0;
static uint64 cycle_ticket = 0;

/*
 * While a drain a flush() waits for runs, its progress is reported once, at
 * its end, after it was noted as complete: a flush() woken by each commit
 * would look at the queue (a walk over the index entries of the rows just
 * delivered) only to find the drain was about to say so.
 */
static bool progress_deferred = false;

static void
note_progress(void)
{
	if (!progress_deferred)
		sl_note_progress();
}

bool
sl_flush_asked(void)
{
	return sl_shmem_ready() && pg_atomic_read_u64(&sl_shared->flush_requested) != cycle_ticket;
}

/* ----------------------------------------------------------------
 * Errors: logged with the source's name, charged to it, never a crash loop
 * ---------------------------------------------------------------- */

/* After an ERROR: every batch this worker held goes back to the pool (never throws). */
static bool
try_release_leases(void)
{
	volatile bool ok = true;

	PG_TRY();
	{
		sl_release_my_leases();
	}
	PG_CATCH();
	{
		FlushErrorState();
		if (IsTransactionState())
			AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Tried again after a failure: an extension dropped and created again in one
 * transaction (the error that brought us here) fails the first try on the
 * dropped table, and the next finds the new one.
 */
static void
release_leases(void)
{
	int			attempt;

	for (attempt = 0; attempt < 3; attempt++)
	{
		if (try_release_leases())
			return;
		pg_usleep(100 * 1000L);
	}
	/* A batch must never stay held by a live worker that left it: leases die with the process. */
	ereport(LOG, (errmsg("securitylake: could not give back this worker's batches; the worker restarts")));
	proc_exit(1);
}

static void
note_error(const char *what, SlSource *source)
{
	ErrorData  *edata = sl_take_error(cycle_cxt);
	char	   *msg;

	release_leases();
	msg = edata->detail ? psprintf("%s: %s", edata->message, edata->detail) : edata->message;
	if (source == NULL)
	{
		ereport(LOG,
				(errmsg("securitylake: %s failed: %s", what, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
		return;
	}
	/* Recording the failure runs a step of its own: it must not throw again here. */
	PG_TRY();
	{
		sl_record_failure(source, msg, true);
	}
	PG_CATCH();
	{
		FlushErrorState();
		if (IsTransactionState())
			AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("securitylake: %s of source \"%s\" failed: %s", what, source->name, msg)));
	}
	PG_END_TRY();
}

typedef void (*SlStep) (void *arg);

/* Run a step; an ERROR is logged and charged to the source (if any). */
static void
guarded(const char *what, SlStep step, void *arg, SlSource *source)
{
	MemoryContext old = CurrentMemoryContext;

	PG_TRY();
	{
		step(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		note_error(what, source);
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
}

/*
 * Does a flush() ask for this source now (its thresholds and backoff set
 * aside once)? A flush of another source leaves it to its own schedule.
 */
static bool
flush_wants(SlSource *source)
{
	int			i;

	if (!flush_mode || flush_all)
		return flush_mode;
	for (i = 0; i < nflush_names; i++)
		if (strcmp(flush_names[i], source->name) == 0)
			return true;
	return false;
}

/* ----------------------------------------------------------------
 * Delivering batches
 * ---------------------------------------------------------------- */

/*
 * A batch that could not be delivered. Transport failures back the source
 * off; anything else splits the batch to isolate the events that cause it,
 * with no backoff (each split is one step closer). Returns false.
 */
static bool
delivery_failed(SlBatch *b, SlDeliverResult result, const char *error)
{
	const char *what;
	char	   *empty_error = NULL;

	switch (result)
	{
		case SL_UPLOAD_FAILED:
		case SL_SOURCE_FAILED:
			sl_batch_upload_failed(b, error);
			sl_record_failure(b->source, error, true);
			break;
		case SL_ENCODE_FAILED:
			/* What an earlier attempt may have written to its key goes before it is split. */
			if (b->maybe_uploaded && !sl_deliver_empty_object(b, &empty_error))
			{
				sl_batch_upload_failed(b, empty_error);
				sl_record_failure(b->source, empty_error, true);
				break;
			}
			what = sl_batch_encode_failed(b, error);
			sl_record_failure(b->source, psprintf("batch " INT64_FORMAT " (%d events) failed: %s; %s",
												  b->id, b->nids, error, what), false);
			break;
		case SL_BATCH_GONE:
			break;
		default:
			sl_batch_release(b);
			break;
	}
	return false;
}

/*
 * Deliver the batches of one claim (one source), then commit the delivered
 * ones together. False when one failed: it and the ones after it are given
 * back for a later attempt.
 */
static bool
deliver_batches(List *batches)
{
	List	   *delivered = NIL;
	ListCell   *lc;
	bool		ok = true;

	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);
		char	   *error = NULL;
		SlDeliverResult result;

		if (!ok || sl_stop_requested())
		{
			sl_batch_release(b);
			ok = false;
			continue;
		}
		result = sl_deliver_batch(b, &error);
		if (result == SL_DELIVERED)
			delivered = lappend(delivered, b);
		else
			ok = delivery_failed(b, result, error);
	}
	if (delivered != NIL)
	{
		sl_commit_batches(delivered);
		note_progress();
		sl_test_fault_point("committed");
	}
	return ok;
}

/*
 * A pending batch: its upload set up before its ids are loaded (a million
 * of them take a second), so that a source S3 keeps refusing costs one
 * request per retry.
 */
static bool
deliver_pending_one(SlBatch *b)
{
	char	   *error = NULL;
	SlDeliverResult prepared = sl_deliver_prepare(b, &error);

	if (prepared != SL_DELIVERED)
		return delivery_failed(b, prepared, error);
	sl_batch_load_ids(b);
	return deliver_batches(list_make1(b));
}

typedef struct DrainArg
{
	SlSource   *source;
} DrainArg;

/*
 * Deliver the source's batches that no worker holds: what a commit recorded
 * when an object filled up, or what a failed attempt gave back. Returns how
 * many were taken, or -1 when one failed (the source then stops for this
 * cycle).
 */
static int
deliver_own_pending(SlSource *source, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			n = 0;
	bool		ok = true;

	/* One at a time: a batch leased is a batch another worker cannot help with. */
	while (ok && n < PENDING_PER_CYCLE && !sl_stop_requested())
	{
		List	   *pending = sl_take_pending(list_make1(source), 1, flush_wants(source) ? list_make1(source) : NIL);
		SlBatch    *b;

		if (pending == NIL)
			break;
		b = linitial(pending);
		n++;
		ok = deliver_pending_one(b);
		MemoryContextReset(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	return ok ? n : -1;
}

static bool
some_batch_filled_up(List *batches)
{
	ListCell   *lc;

	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);

		if (b->ndelivered < b->nids)
			return true;
	}
	return false;
}

/*
 * Drain one source: for each of its routing keys, claim and deliver until a
 * claim from the queue's head comes back short of a limit. The source's own
 * pending batches (the rest of an object that filled up) go first.
 */
static void
drain_source(void *arg)
{
	SlSource   *source = ((DrainArg *) arg)->source;
	MemoryContext batch_cxt = AllocSetContextCreate(cycle_cxt, "securitylake batch", ALLOCSET_DEFAULT_SIZES);
	int			key;

	for (key = 0; key < source->nroute_keys; key++)
	{
		for (;;)
		{
			int64		from_id = sl_claim_start(source, key);
			int64		last_id;
			List	   *batches;
			SlClaimResult claim;
			bool		ok = true;
			MemoryContext old;

			bool		filled;
			int			n = 0;

			CHECK_FOR_INTERRUPTS();
			/* Pending first, until none is left (a delivered remainder may leave another). */
			while (!sl_stop_requested() && (n = deliver_own_pending(source, batch_cxt)) > 0)
				;
			if (sl_stop_requested() || n < 0)
				goto out;
			old = MemoryContextSwitchTo(batch_cxt);
			claim = sl_claim(source, key, from_id, &batches, &last_id);
			note_progress();	/* it may have dead-lettered rows */
			sl_note_claimed(source, key, last_id);
			if (batches != NIL)
				ok = deliver_batches(batches);
			filled = some_batch_filled_up(batches);
			MemoryContextSwitchTo(old);
			MemoryContextReset(batch_cxt);
			if (claim == SL_CLAIM_BUSY || !ok)
			{
				sl_claim_from_head(source, key);	/* given-back rows lie below */
				goto out;
			}
			if (claim == SL_CLAIM_FULL)
				sl_claim_continue_after(source, key, last_id);
			else if (from_id > 0)
				sl_claim_from_head(source, key);	/* one last look from the head */
			else if (!filled)
				break;
			/* else: what did not fit in its object is pending, delivered next round */
		}
	}
	sl_source_drained(source);
	/* To the end: what flush() calls wait for this source is all out. */
	if (flush_wants(source))
		sl_flush_note_drained(cycle_seen, cycle_ticket, source->name);
out:
	MemoryContextDelete(batch_cxt);
}

static void
drain_source_step(void *arg)
{
	SlSource   *source = ((DrainArg *) arg)->source;

	progress_deferred = flush_wants(source);
	PG_TRY();
	{
		drain_source(arg);
	}
	PG_FINALLY();
	{
		if (progress_deferred)
		{
			progress_deferred = false;
			sl_note_progress();
		}
	}
	PG_END_TRY();
}

typedef struct PendingArg
{
	SlBatch    *batch;
	bool		delivered;		/* stays false when the step raised */
} PendingArg;

static void
deliver_pending_batch(void *arg)
{
	PendingArg *a = arg;

	a->delivered = deliver_pending_one(a->batch);
}

/* Deliver the batches a crash or a failed attempt left behind, each charged to its source. */
static void
deliver_pending(List *sources)
{
	List	   *ready = NIL;
	List	   *forced = NIL;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();
	int			n;

	foreach(lc, sources)
	{
		SlSource   *s = lfirst(lc);

		if (s->enabled && flush_wants(s))
			forced = lappend(forced, s);
		if (s->enabled && (flush_wants(s) || s->next_attempt_at <= now))
			ready = lappend(ready, s);
	}
	/* One at a time: a batch leased is a batch another worker cannot help with. */
	for (n = 0; ready != NIL && n < PENDING_PER_CYCLE && !sl_stop_requested(); n++)
	{
		List	   *pending = sl_take_pending(ready, 1, forced);
		PendingArg	arg;

		if (pending == NIL)
			break;
		arg.batch = linitial(pending);
		arg.delivered = false;
		guarded("delivery of a pending batch", deliver_pending_batch, &arg, arg.batch->source);
		/*
		 * A source whose batch failed waits for its backoff: a flush forces
		 * its sources past the backoff, which would otherwise take the same
		 * batch again at once, up to PENDING_PER_CYCLE times in this cycle.
		 */
		if (!arg.delivered)
		{
			ready = list_delete_ptr(ready, arg.batch->source);
			forced = list_delete_ptr(forced, arg.batch->source);
		}
	}
}

/* ----------------------------------------------------------------
 * The cycle
 * ---------------------------------------------------------------- */

typedef struct CycleArg
{
	List	   *sources;
} CycleArg;

static void
load_sources_step(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(cycle_cxt);

	((CycleArg *) arg)->sources = sl_load_sources();
	MemoryContextSwitchTo(old);
}

static void
pending_step(void *arg)
{
	deliver_pending(((CycleArg *) arg)->sources);
}

static void
sweep_step(void *arg)
{
	(void) arg;
	sl_sweep_unroutable(SWEEP_TIME_MS);
}

static void
count_step(void *arg)
{
	sl_count_arrivals(((DrainArg *) arg)->source);
}

/*
 * The sweep runs every SWEEP_INTERVAL_MS, and at every flush() of all
 * sources. A flush() of named sources waits for them only: it puts the sweep
 * off (its first probe walks the index entries of the rows just delivered,
 * which the waiting flush()'s snapshot keeps alive) for up to
 * SWEEP_DEFER_MS.
 */
static bool
sweep_due(TimestampTz now)
{
	if (flush_mode && flush_all)
		return true;
	return TimestampDifferenceExceeds(last_sweep, now, flush_mode ? SWEEP_DEFER_MS : SWEEP_INTERVAL_MS);
}

/*
 * One pass over all sources. Returns how long the worker may sleep before
 * something becomes due (a publish rate or a backoff ending).
 */
static long
run_cycle(void)
{
	CycleArg	cycle = {NIL};
	ListCell   *lc;
	TimestampTz now;
	TimestampTz wake = 0;
	MemoryContext old;

	/* Whatever a cycle allocates goes when the next one starts. */
	MemoryContextReset(cycle_cxt);
	old = MemoryContextSwitchTo(cycle_cxt);
	guarded("loading the sources", load_sources_step, &cycle, NULL);
	guarded("the delivery of pending batches", pending_step, &cycle, NULL);
	now = GetCurrentTimestamp();
	foreach(lc, cycle.sources)
	{
		DrainArg	arg;

		arg.source = lfirst(lc);
		if (sl_stop_requested())
			break;
		/* Counts serve the thresholds; a source a flush asks for is drained anyway. */
		if (!flush_wants(arg.source) && arg.source->enabled && arg.source->next_attempt_at <= now)
			guarded("counting new events", count_step, &arg, arg.source);
		if (sl_source_due(arg.source, GetCurrentTimestamp(), flush_wants(arg.source)))
			guarded("delivery", drain_source_step, &arg, arg.source);
		if (arg.source->enabled)
		{
			TimestampTz due = sl_source_next_due(arg.source);

			if (wake == 0 || due < wake)
				wake = due;
		}
	}
	/*
	 * Rows no source takes, after the sources' own deliveries (a writer's junk
	 * must not delay them), for at most SWEEP_TIME_MS a cycle; a flush asks
	 * for more cycles while any is left.
	 */
	now = GetCurrentTimestamp();
	if (sweep_due(now))
	{
		guarded("the sweep of events no source takes", sweep_step, NULL, NULL);
		last_sweep = now;
	}
	MemoryContextSwitchTo(old);
	if (wake == 0)
		return sl_naptime_ms;
	return Max(10, Min((long) sl_naptime_ms, (long) ((wake - GetCurrentTimestamp()) / 1000)));
}

/* ----------------------------------------------------------------
 * Connection and identity
 * ---------------------------------------------------------------- */

/*
 * Settings the worker's statements depend on, whatever ALTER DATABASE or
 * ALTER ROLE says: a database owner (who may set any user-settable parameter
 * for the database) must not be able to make the worker resolve names
 * elsewhere, run read-only, time out, turn its caught ERRORs into FATALs,
 * log its id lists, or plan its claims as sequential scans. Settings only a
 * superuser may set (logging, message language) stay the superuser's.
 */
static const char *const pinned_settings[][2] = {
	{"search_path", "pg_catalog, pg_temp"},
	/* Exactly once needs the claim durable before the upload. */
	{"synchronous_commit", "on"},
	/* JIT would compile the claim anew for every batch (a tenth of the worker's time). */
	{"jit", "off"},
	{"default_transaction_read_only", "off"},
	{"default_transaction_isolation", "read committed"},
	{"default_transaction_deferrable", "off"},
	{"statement_timeout", "0"},
	{"lock_timeout", "30s"},
	{"idle_in_transaction_session_timeout", "0"},
	{"session_replication_role", "origin"},
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{"row_security", "on"},
	{"enable_indexscan", "on"},
	{"enable_indexonlyscan", "on"},
	{"enable_bitmapscan", "on"},
	{"enable_seqscan", "on"},
	{"enable_sort", "on"},
	{"enable_hashjoin", "on"},
	{"enable_mergejoin", "on"},
	{"enable_nestloop", "on"},
	{"enable_material", "on"},
	{"enable_hashagg", "on"},
	{"plan_cache_mode", "auto"},
	{"work_mem", "4MB"},
	{"random_page_cost", "4"},
	{"seq_page_cost", "1"},
	{"cpu_tuple_cost", "0.01"},
	{"cpu_index_tuple_cost", "0.005"},
	{"cpu_operator_cost", "0.0025"},
	{"cursor_tuple_fraction", "0.1"},
	{"geqo", "on"},
	{"from_collapse_limit", "8"},
	{"join_collapse_limit", "8"},
	{"constraint_exclusion", "partition"},
	{"max_parallel_workers_per_gather", "0"},
	{"client_min_messages", "notice"},
	{"check_function_bodies", "on"},
	{"xmloption", "content"},
	{"transform_null_equals", "off"},
	{"array_nulls", "on"},
	{"standard_conforming_strings", "on"},
	{"escape_string_warning", "on"},
	{"backslash_quote", "safe_encoding"},
	{"lo_compat_privileges", "off"},
	{"quote_all_identifiers", "off"},
	/* An ERROR the worker catches must stay an ERROR, not end the process (a crash loop). */
	{"exit_on_error", "off"},
	{"debug_print_parse", "off"},
	{"debug_print_rewritten", "off"},
	{"debug_print_plan", "off"},
	{"debug_pretty_print", "on"},
	{"effective_cache_size", "4GB"},
	{"hash_mem_multiplier", "2"},
	{"enable_memoize", "on"},
	{"enable_gathermerge", "on"},
	{"enable_incremental_sort", "on"},
	{"enable_tidscan", "on"},
	{"enable_partitionwise_join", "off"},
	{"enable_partitionwise_aggregate", "off"},
	{"enable_parallel_append", "on"},
	{"enable_parallel_hash", "on"},
	{"enable_partition_pruning", "on"},
	{"enable_async_append", "on"},
	{"parallel_setup_cost", "1000"},
	{"parallel_tuple_cost", "0.1"},
	{"min_parallel_table_scan_size", "8MB"},
	{"min_parallel_index_scan_size", "512kB"},
	{"jit_above_cost", "100000"},
	{"temp_buffers", "8MB"},
	{"default_table_access_method", "heap"},
	{"default_tablespace", ""},
	{"temp_tablespaces", ""},
	{"gin_fuzzy_search_limit", "0"},
	{"trace_notify", "off"},
	{"trace_sort", "off"},
	{"vacuum_cost_delay", "0"},
};

static void
pin_settings(void)
{
	int			i;

	for (i = 0; i < lengthof(pinned_settings); i++)
		SetConfigOption(pinned_settings[i][0], pinned_settings[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Become securitylake_worker. False (and the worker keeps waiting) while the
 * role does not exist — the extension was never installed in this cluster —
 * or when it is a superuser or can bypass row security: then the worker
 * refuses to run anything.
 */
static bool
become_worker_role(void)
{
	static bool warned = false;
	Oid			role;
	bool		unsafe;

	StartTransactionCommand();
	role = get_role_oid("securitylake_worker", true);
	unsafe = OidIsValid(role) && (superuser_arg(role) || has_bypassrls_privilege(role));
	CommitTransactionCommand();
	if (!OidIsValid(role))
		return false;
	if (unsafe)
	{
		if (!warned)
			ereport(LOG,
					(errmsg("securitylake: the role securitylake_worker is a superuser or bypasses row security; the worker does nothing"),
					 errhint("ALTER ROLE securitylake_worker NOSUPERUSER NOBYPASSRLS;")));
		warned = true;
		return false;
	}
	SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	return true;
}

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
	pin_settings();
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "securitylake cycle", ALLOCSET_DEFAULT_SIZES);
}

/*
 * Log once that the worker idles (the installed extension is missing or of
 * another version than the library), and once when it resumes. Reads the
 * catalog directly, no SQL: safe before the worker has given up superuser.
 */
static bool
version_matches(void)
{
	static char logged[256] = "";	/* the reason last logged; "" while not idle */
	char		message[256];
	bool		ok;

	StartTransactionCommand();
	ok = sl_extension_version_ok(message, sizeof(message));
	CommitTransactionCommand();
	if (!ok && strcmp(message, logged) != 0)
	{
		ereport(LOG,
				(errmsg("securitylake worker is idle: %s", message),
				 errhint("Run ALTER EXTENSION securitylake UPDATE in that database; the worker resumes by itself.")));
		strlcpy(logged, message, sizeof(logged));
	}
	else if (ok && logged[0] != '\0')
	{
		ereport(LOG,
				(errmsg("securitylake worker resumes: extension \"securitylake\" is version %s, as its library",
						EXTVERSION)));
		logged[0] = '\0';
	}
	return ok;
}

/*
 * Wait until the extension is installed at this library's version and the
 * worker can run as securitylake_worker (or is told to stop).
 */
static bool
wait_for_worker_role(void)
{
	while (!sl_stop_requested())
	{
		if (version_matches() && become_worker_role())
			return true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sl_naptime_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * Is the extension installed, at this library's version? A dropped and
 * re-created extension starts its ids afresh: what the worker remembers of
 * the old one goes. After a package upgrade the new library meets the old SQL
 * objects until ALTER EXTENSION securitylake UPDATE: the worker idles
 * meanwhile, says so once (and once when it resumes), and never crash-loops
 * (version_check.c).
 */
static bool
extension_ready(void)
{
	static Oid	seen_extension = InvalidOid;
	Oid			extension = InvalidOid;

	sl_begin_step("securitylake: checking for the extension");
	sl_exec("SELECT e.oid FROM pg_catalog.pg_extension e"
			" WHERE e.extname OPERATOR(pg_catalog.=) 'securitylake'",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;

		extension = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	sl_end_step();
	if (extension != seen_extension)
	{
		sl_schedule_forget();
		seen_extension = extension;
	}
	return OidIsValid(extension) && version_matches();
}

static void
extension_ready_step(void *arg)
{
	*(bool *) arg = extension_ready();
}

void
securitylake_worker_main(Datum main_arg)
{
	int			worker_index = DatumGetInt32(main_arg);
	SlWorkerSlot *slot = &sl_shared->worker[worker_index];
	char	   *database = sl_database_name(worker_index / Max(sl_workers, 1));
	uint64		seen_ticket;

	connect_worker(InvalidOid, database);
	slot->pid = MyProcPid;
	slot->database = MyDatabaseId;
	/*
	 * What this slot's last worker served: a flush() asked for while no worker
	 * ran here (a restart after a crash, the database not created yet) is
	 * served by the first cycle instead of being lost until flush() asks again.
	 */
	seen_ticket = pg_atomic_read_u64(&slot->flush_done);
	slot->latch = MyLatch;
	ereport(LOG, (errmsg("securitylake worker %d started on database \"%s\"", worker_index, database)));

	if (wait_for_worker_role())
	{
		while (!sl_stop_requested())
		{
			uint64		ticket = pg_atomic_read_u64(&sl_shared->flush_requested);
			long		sleep_ms = sl_naptime_ms;
			bool		ready = false;

			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
				pin_settings();
			}
			guarded("checking for the extension", extension_ready_step, &ready, NULL);
			if (ready)
			{
				cycle_seen = seen_ticket;
				cycle_ticket = ticket;
				flush_mode = ticket != seen_ticket;
				flush_all = flush_mode && sl_flush_wanted(seen_ticket, ticket, flush_names, &nflush_names);
				sleep_ms = run_cycle();
				flush_mode = false;
			}
			if (ticket != seen_ticket)
			{
				pg_atomic_write_u64(&slot->flush_done, ticket);
				seen_ticket = ticket;
				sl_note_progress();
			}
			pgstat_report_stat(true);
			if (pg_atomic_read_u64(&sl_shared->flush_requested) != seen_ticket)
				continue;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
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
	bool		ready = false;

	connect_worker(DatumGetObjectId(main_arg), NULL);
	if (become_worker_role())
	{
		guarded("checking for the extension", extension_ready_step, &ready, NULL);
		if (ready)
		{
			flush_mode = true;
			flush_all = true;
			(void) run_cycle();
		}
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
