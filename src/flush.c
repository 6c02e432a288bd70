/*-------------------------------------------------------------------------
 *
 * flush.c
 *		securitylake.flush(source, timeout): deliver now and wait.
 *
 * flush() notes the newest queue id handed out, asks the workers for a drain
 * of the source (of every source without a name) that sets its batch
 * thresholds and its backoff aside once, and waits until no row of the
 * source(s) up to that id is left in the queue — every such event is then in
 * the lake or dead-lettered — or, for one named source, until a worker says
 * it drained that source to the end in a cycle begun after the request. Other sources keep their own schedule: a flush of
 * one source never waits for another's failing attempts. Without a name it waits for the enabled sources (and the
 * rows no source takes, which the sweep dead-letters) and says which
 * disabled sources it skipped. It reads the queue through its primary key
 * (route_key, id), per routing key: what other sources have queued costs it
 * nothing. When the extension was not preloaded there is no worker to wake:
 * flush() starts a one-shot dynamic worker instead.
 *
 * flush() runs as the extension's owner (SECURITY DEFINER, search_path
 * pinned): its caller needs no grant on the tables it reads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "securitylake.h"
#include "shmem.h"

/* How long flush() sleeps at most between checks: soon at first, then less. */
#define FLUSH_POLL_MIN_MS 50
#define FLUSH_POLL_MAX_MS 250
/* ... and how often it looks at the queue when no worker said it changed. */
#define FLUSH_LOOK_MS 1000

static int64
query_int8(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "securitylake: flush query failed: %s", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* Is any queue row of the source(s) with id <= upto left? Routing as the worker does it. */
static const char *remaining_sql =
"SELECT CAST(securitylake._flush_pending($2, $1) AS pg_catalog.int4)";

static char *
blocking_error(const char *source)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1];
	StringInfoData buf;
	uint64		i;

	values[0] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[0] = source ? ' ' : 'n';
	SPI_execute_with_args("SELECT st.source, st.last_error FROM securitylake.source_state st"
						  " WHERE st.last_error IS NOT NULL"
						  "   AND ($1 IS NULL OR st.source OPERATOR(pg_catalog.=) $1)"
						  " ORDER BY st.source",
						  1, types, values, nulls, false, 0);
	initStringInfo(&buf);
	for (i = 0; i < SPI_processed; i++)
		appendStringInfo(&buf, "%s%s: %s", i ? "; " : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	return buf.len ? buf.data : NULL;
}

/* Start a one-shot drain in this database and wait for it to end. */
static void
run_dynamic_drain(void)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "securitylake");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "securitylake_flush_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "securitylake flush");
	snprintf(worker.bgw_type, BGW_MAXLEN, "securitylake flush");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a securitylake flush worker"),
				 errhint("Raise max_worker_processes, or add securitylake to shared_preload_libraries.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		WaitForBackgroundWorkerShutdown(handle);
}

/*
 * Returns the ticket whose completion means the workers ran a drain of the
 * source (of every source when NULL).
 */
static uint64
request_drain(const char *source)
{
	uint64		ticket = 0;

	if (sl_shmem_ready())
	{
		ticket = sl_flush_request(source);
		sl_wake_workers();
	}
	else
		run_dynamic_drain();
	return ticket;
}

/* Sleep until a worker reports progress, a signal, or poll_ms. */
static void
wait_for_progress(long poll_ms)
{
	if (sl_shmem_ready())
	{
		(void) ConditionVariableTimedSleep(&sl_shared->progress_cv, poll_ms, PG_WAIT_EXTENSION);
		return;
	}
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, poll_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/* The last requested drain has ended (or there is no worker to wait for). */
static bool
drain_done(uint64 ticket)
{
	return !sl_shmem_ready() || sl_workers_done(MyDatabaseId, ticket);
}

static void
check_no_own_inserts(void)
{
	/*
	 * Rows inserted by this very transaction are invisible to the workers
	 * until it commits: waiting for them could only time out.
	 */
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		Oid			types[1] = {XIDOID};
		Datum		values[1] = {TransactionIdGetDatum(GetTopTransactionIdIfAny())};

		if (query_int8("SELECT pg_catalog.count(*) FROM (SELECT 1 FROM securitylake.queue q"
					   " WHERE q.xmin OPERATOR(pg_catalog.=) $1 LIMIT 1) s",
					   1, types, values, NULL) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("securitylake.flush() cannot deliver events inserted by its own transaction"),
					 errdetail("The background worker sees only committed rows."),
					 errhint("Commit the inserts, then call securitylake.flush().")));
	}
}

/* The named source must exist and be enabled (a disabled one is never drained). */
static void
check_source(Datum *values, char *nulls)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	char	   *name = TextDatumGetCString(values[1]);
	/* One row whatever the name: 0 when no source has it. */
	int64		state = query_int8("SELECT coalesce((SELECT CASE WHEN s.enabled THEN 1 ELSE 2 END"
								   "                   FROM securitylake.source s WHERE s.name OPERATOR(pg_catalog.=) $2), 0)",
								   2, types, values, nulls);

	if (state == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("securitylake source \"%s\" does not exist", name),
				 errhint("See securitylake.sources for the configured sources.")));
	if (state == 2)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("securitylake source \"%s\" is disabled", name),
				 errdetail("A disabled source keeps its events queued; nothing delivers them."),
				 errhint("Enable it with securitylake.alter_source(name, options => '{\"enabled\": true}').")));
}

/* The highest queue id handed out so far (committed or not). */
static int64
last_queue_id(void)
{
	return query_int8("SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END"
					  "  FROM securitylake.queue_id_seq s", 0, NULL, NULL, NULL);
}

static void
notice_skipped(int64 upto)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(upto)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT securitylake._flush_skipped($1)", 1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "securitylake: flush query failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ereport(NOTICE,
				(errmsg("securitylake.flush() skipped disabled sources: %s", TextDatumGetCString(d)),
				 errdetail("Their events stay queued until they are enabled again.")));
}

static int64
interval_ms(Interval *iv)
{
	return iv->time / 1000 + ((int64) iv->month * DAYS_PER_MONTH + iv->day) * SECS_PER_DAY * 1000;
}

PG_FUNCTION_INFO_V1(securitylake_flush);
Datum
securitylake_flush(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *source = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	int64		timeout_ms = timeout ? interval_ms(timeout) : 300000;
	TimestampTz start = GetCurrentTimestamp();
	Oid			types[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', source ? ' ' : 'n', ' '};
	int64		upto;
	int64		uploads_before;
	uint64		ticket = 0;
	uint64		seen_progress = 0;
	bool		looked_done = false;
	TimestampTz last_look = 0;
	long		poll_ms = FLUSH_POLL_MIN_MS;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);

	/*
	 * flush() waits for other transactions (the workers') to commit: a
	 * snapshot taken once for the whole transaction would never see them.
	 */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("securitylake.flush() cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("It waits for the workers' commits, which such a transaction's snapshot never shows."),
				 errhint("Call it in a READ COMMITTED transaction, or on its own.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "securitylake: SPI_connect failed");
	values[1] = source ? CStringGetTextDatum(source) : (Datum) 0;
	if (source)
		check_source(values, nulls);
	check_no_own_inserts();
	upto = last_queue_id();
	uploads_before = query_int8("SELECT coalesce(pg_catalog.max(u.id), 0) FROM securitylake.uploads u",
								0, NULL, NULL, NULL);
	values[0] = Int64GetDatum(upto);
	if (!source)
		notice_skipped(upto);

	/*
	 * Ask at once, then look at the queue when a worker says it changed
	 * (rows delivered, a drain cycle ended), or every FLUSH_LOOK_MS: each look
	 * walks the index entries of the rows delivered meanwhile, which this
	 * call's own snapshot keeps from being pruned.
	 */
	ticket = request_drain(source);
	if (sl_shmem_ready())
		ConditionVariablePrepareToSleep(&sl_shared->progress_cv);
	for (;;)
	{
		bool		done = drain_done(ticket);
		uint64		progress = sl_progress();

		/*
		 * A worker drained the source to the end in a cycle begun after the
		 * request: every row committed before this call is out. (Looking at
		 * the queue instead walks the index entries of every row delivered,
		 * which this call's snapshot keeps from being pruned: half a second
		 * for 200,000 rows.)
		 */
		if (sl_flush_drained(ticket))
			break;

		if (last_look == 0 || progress != seen_progress || (done && !looked_done) ||
			TimestampDifferenceExceeds(last_look, GetCurrentTimestamp(), FLUSH_LOOK_MS))
		{
			seen_progress = progress;
			looked_done = done;
			last_look = GetCurrentTimestamp();
			if (query_int8(remaining_sql, 2, types, values, nulls) == 0)
				break;
		}
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), (int) Min(timeout_ms, INT_MAX)))
		{
			char	   *error = blocking_error(source);

			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("securitylake.flush() timed out with events still queued"),
					 error ? errdetail("Delivery is failing: %s", error)
					 : errdetail("The worker has not delivered them yet."),
					 errhint("See securitylake.status; raise the timeout or fix the error and flush again.")));
		}
		/*
		 * The drain ended with rows left but no error (rows committed
		 * meanwhile): ask again. A failing source is not asked again: the
		 * worker retries it on its own backoff schedule.
		 */
		if (done && looked_done && blocking_error(source) == NULL)
		{
			ticket = request_drain(source);
			looked_done = false;
		}
		wait_for_progress(poll_ms);
		poll_ms = Min(poll_ms * 2, FLUSH_POLL_MAX_MS);
	}
	if (sl_shmem_ready())
		ConditionVariableCancelSleep();

	values[2] = Int64GetDatum(uploads_before);
	if (SPI_execute_with_args("SELECT u.source, u.object_key, u.rows, u.bytes FROM securitylake.uploads u"
							  " WHERE u.id OPERATOR(pg_catalog.>) $3"
							  "   AND ($2 IS NULL OR u.source OPERATOR(pg_catalog.=) $2) ORDER BY u.id",
							  3, types, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "securitylake: could not read the upload log");
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		row[4];
		bool		isnull[4];
		int			c;

		for (c = 0; c < 4; c++)
			row[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &isnull[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, isnull);
	}
	SPI_finish();
	return (Datum) 0;
}
