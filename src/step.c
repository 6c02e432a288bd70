/*-------------------------------------------------------------------------
 *
 * step.c
 *		One short transaction per step of the worker, and SPI conveniences.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "step.h"

/* ----------------------------------------------------------------
 * Small SPI helpers: one short transaction per step.
 * ---------------------------------------------------------------- */

/*
 * The memory context a step was begun in, current again when it ends:
 * committing leaves TopMemoryContext current, and what the caller allocated
 * next would stay there for the worker's life (about 1 MB per attempt at a
 * large batch, a few hundred bytes per idle cycle).
 */
static MemoryContext step_caller_cxt = NULL;

void
sl_begin_step(const char *activity)
{
	step_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not connect to SPI")));
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
sl_end_step(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (step_caller_cxt != NULL)
		MemoryContextSwitchTo(step_caller_cxt);
	step_caller_cxt = NULL;
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
sl_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: SPI_execute failed: %s", SPI_result_code_string(rc)),
				 errdetail("Query: %s", sql)));
}

/*
 * For the rest of this transaction, plan index probes of the queue: nested
 * loops over the ids with an index scan on (route_key, id), never a scan of
 * everything a route key holds. The queue is filled by COPY and drained
 * before autovacuum analyses it; with no statistics the planner takes a
 * route key to match a few rows, and read each page of a 200k-event batch
 * by scanning all 200k of them (160 ms a page instead of 6). Set as SET
 * LOCAL sets them (PGC_S_SESSION, the highest source, above the worker's
 * pinned PGC_S_OVERRIDE values): undone when the transaction ends, whereas a
 * PGC_S_OVERRIDE setting would stay for the rest of the worker's life.
 */
void
sl_plan_index_probes(void)
{
	static const char *const settings[] = {"enable_seqscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin"};
	int			i;

	for (i = 0; i < lengthof(settings); i++)
		(void) set_config_option(settings[i], "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
}

/*
 * Statements that name rows by ctid and also test their key and id: with
 * index scans off (and sl_plan_index_probes in force) the planner has only
 * the TID scan left. Left to its estimates it read the key's every row
 * through the primary key instead, the TIDs as a filter, when statistics
 * said the key had few rows. only = false turns index scans back on, for
 * the rest of the transaction.
 */
void
sl_plan_tid_scans(bool only)
{
	static const char *const settings[] = {"enable_indexscan", "enable_indexonlyscan"};
	int			i;

	for (i = 0; i < lengthof(settings); i++)
		(void) set_config_option(settings[i], only ? "off" : "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
}

/*
 * In a PG_CATCH block: the current error copied into cxt, the error state
 * flushed and the transaction (if any) aborted. cxt is current on return:
 * the abort leaves TopMemoryContext current, where whatever the caller
 * allocates next would stay for the worker's life.
 */
ErrorData *
sl_take_error(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	if (IsTransactionState())
		AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
	return edata;
}

char *
sl_text_or_null(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

int64
sl_int8_col(HeapTuple tup, TupleDesc desc, int col, int64 if_null)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? if_null : DatumGetInt64(d);
}

Datum
sl_int8_array(const int64 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
sl_int4_array(const int32 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int32GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT));
}

Datum
sl_text_array(char **values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

Datum
sl_tid_array(const ItemPointerData *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(&values[i]);
	return PointerGetDatum(construct_array(elems, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
}

/* The elements of a bigint[] (no NULLs), palloc'd in the current context. */
int64 *
sl_int8_array_values(Datum array, int *n)
{
	ArrayType  *a = DatumGetArrayTypeP(array);
	int64	   *out;

	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("securitylake: a batch's id list is not a one-dimensional bigint[] without NULLs")));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	out = palloc(sizeof(int64) * Max(*n, 1));
	memcpy(out, ARR_DATA_PTR(a), sizeof(int64) * *n);
	return out;
}

/* The elements of an int[] (no NULLs), palloc'd in the current context. */
int32 *
sl_int4_array_values(Datum array, int *n)
{
	ArrayType  *a = DatumGetArrayTypeP(array);
	int32	   *out;

	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("securitylake: a batch's size list is not a one-dimensional int[] without NULLs")));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	out = palloc(sizeof(int32) * Max(*n, 1));
	memcpy(out, ARR_DATA_PTR(a), sizeof(int32) * *n);
	return out;
}
