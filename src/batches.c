/*-------------------------------------------------------------------------
 *
 * batches.c
 *		The state of batches in securitylake.batch: recorded at the claim,
 *		leased by the worker delivering them, given back after a failed
 *		attempt, split when an ERROR that is not a transport failure keeps a
 *		batch from being encoded, removed at the commit (commit.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "utils/backend_status.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "batches.h"
#include "keys.h"
#include "step.h"

/* DateADT counts days from 2000-01-01, event_day from 1970-01-01. */
#define UNIX_TO_PG_DAYS (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)

/*
 * Parameters $1 = batch id, $2 = pid, $3 = backend start (this worker's
 * lease), $4 = object key: "this very batch, held by this worker". The key
 * tells the batch from another with the same id (the extension was dropped
 * and created again meanwhile: ids restart, keys never repeat).
 */
#define HELD_BY_ME \
	" WHERE id OPERATOR(pg_catalog.=) $1 AND held_by OPERATOR(pg_catalog.=) $2" \
	"   AND held_since OPERATOR(pg_catalog.=) $3 AND object_key OPERATOR(pg_catalog.=) $4"
#define LEASE_NARGS 4

static void
batch_lease_params(SlBatch *b, Oid *types, Datum *values)
{
	types[0] = INT8OID;
	types[1] = INT4OID;
	types[2] = TIMESTAMPTZOID;
	types[3] = TEXTOID;
	values[0] = Int64GetDatum(b->id);
	sl_lease_params(&values[1], &values[2]);
	values[3] = CStringGetTextDatum(b->object_key);
}

SlBatch *
sl_batch_new(SlSource *source, const char *route_key, const char *region, const char *account_id,
			 int32 event_day)
{
	SlBatch    *b = palloc0(sizeof(SlBatch));

	b->source = source;
	b->route_keys = palloc(sizeof(char *));
	b->route_keys[0] = pstrdup(route_key);
	b->nroute_keys = 1;
	b->region = pstrdup(region);
	b->account_id = pstrdup(account_id);
	b->event_day = event_day;
	return b;
}

void
sl_lease_params(Datum *pid, Datum *since)
{
	*pid = Int32GetDatum(MyProcPid);
	*since = TimestampTzGetDatum(MyStartTimestamp);
}

static int64
next_batch_id(void)
{
	sl_exec("SELECT pg_catalog.nextval(CAST('securitylake.batch_id_seq' AS pg_catalog.regclass))",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	return sl_int8_col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, 0);
}

/* Draw the batch's id and its key's nonce, and insert it (held by holder, or by nobody). */
static void
insert_batch(SlBatch *b, bool held)
{
	MemoryContext cxt = GetMemoryChunkContext(b);
	Oid			types[12] = {INT8OID, TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, DATEOID, TEXTOID,
	INT8ARRAYOID, INT8OID, INT4OID, TIMESTAMPTZOID, INT4ARRAYOID};
	Datum		values[12];
	char		nulls[12];
	uint64		nonce;
	MemoryContext old;

	b->id = next_batch_id();
	if (!pg_strong_random(&nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not generate a random object key nonce")));
	/* Every SPI call returns to SPI's own context: the key belongs to the caller's. */
	old = MemoryContextSwitchTo(cxt);
	b->object_key = sl_object_key(b->source->prefix, b->region, b->account_id, b->event_day, b->id, nonce);
	MemoryContextSwitchTo(old);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(b->id);
	values[1] = CStringGetTextDatum(b->source->name);
	values[2] = sl_batch_keys(b);
	values[3] = CStringGetTextDatum(b->region);
	values[4] = CStringGetTextDatum(b->account_id);
	values[5] = DateADTGetDatum(b->event_day - UNIX_TO_PG_DAYS);
	values[6] = CStringGetTextDatum(b->object_key);
	values[7] = sl_int8_array(b->ids, b->nids);
	values[8] = Int64GetDatum(b->raw_bytes);
	sl_lease_params(&values[9], &values[10]);
	if (!held)
		nulls[9] = nulls[10] = 'n';
	values[11] = sl_int4_array(b->sizes, b->nids);
	sl_exec("INSERT INTO securitylake.batch"
			"       (id, source, route_keys, region, account_id, event_day, object_key, ids, raw_bytes,"
			"        held_by, held_since, sizes)"
			" OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
			12, types, values, nulls, SPI_OK_INSERT);
}

void
sl_batch_record(SlBatch *b)
{
	insert_batch(b, true);
}

static void
keys_from_datum(SlBatch *b, Datum keys)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(DatumGetArrayTypeP(keys), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	b->route_keys = palloc(sizeof(char *) * Max(n, 1));
	b->nroute_keys = 0;
	for (i = 0; i < n; i++)
		if (!nulls[i])
			b->route_keys[b->nroute_keys++] = TextDatumGetCString(elems[i]);
}

Datum
sl_batch_keys(SlBatch *b)
{
	return sl_text_array(b->route_keys, b->nroute_keys);
}

static SlBatch *
pending_from_tuple(List *sources, HeapTuple tup, TupleDesc desc)
{
	SlBatch    *b;
	bool		isnull;
	SlSource   *source = NULL;
	char	   *name = sl_text_or_null(tup, desc, 2);
	ListCell   *lc;

	foreach(lc, sources)
		if (strcmp(((SlSource *) lfirst(lc))->name, name) == 0)
			source = lfirst(lc);
	Assert(source != NULL);		/* the query asked for these sources only */
	b = sl_batch_new(source, "", sl_text_or_null(tup, desc, 4), sl_text_or_null(tup, desc, 5),
					 DatumGetDateADT(SPI_getbinval(tup, desc, 6, &isnull)) + UNIX_TO_PG_DAYS);
	keys_from_datum(b, SPI_getbinval(tup, desc, 3, &isnull));
	b->id = sl_int8_col(tup, desc, 1, 0);
	b->object_key = sl_text_or_null(tup, desc, 7);
	b->upload_id = sl_text_or_null(tup, desc, 8);
	b->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
	b->failures = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
	b->raw_bytes = sl_int8_col(tup, desc, 11, 0);
	b->maybe_uploaded = true;
	return b;
}

List *
sl_take_pending(List *sources, int max_batches, List *forced)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[5] = {INT4OID, TIMESTAMPTZOID, TEXTARRAYOID, INT4OID, TEXTARRAYOID};
	Datum		values[5];
	char	  **names;
	char	  **forced_names;
	List	   *batches = NIL;
	ListCell   *lc;
	int			n = 0;
	uint64		i;

	if (sources == NIL)
		return NIL;
	names = palloc(sizeof(char *) * list_length(sources));
	foreach(lc, sources)
		names[n++] = ((SlSource *) lfirst(lc))->name;
	sl_lease_params(&values[0], &values[1]);
	values[2] = sl_text_array(names, n);
	values[3] = Int32GetDatum(max_batches);
	forced_names = palloc(sizeof(char *) * (list_length(forced) + 1));
	n = 0;
	foreach(lc, forced)
		forced_names[n++] = ((SlSource *) lfirst(lc))->name;
	values[4] = sl_text_array(forced_names, n);
	sl_begin_step("securitylake: taking pending batches");
	/* The source's backoff is read here, not from the cycle's start: another worker may have set it. */
	sl_exec("WITH t AS (SELECT p.id FROM securitylake.batch p"
			"            WHERE p.source OPERATOR(pg_catalog.=) ANY ($3)"
			"              AND (p.held_by IS NULL OR NOT securitylake._worker_alive(p.held_by, p.held_since))"
			"              AND (p.source OPERATOR(pg_catalog.=) ANY ($5) OR NOT EXISTS (SELECT 1 FROM securitylake.source_state st"
			"                                      WHERE st.source OPERATOR(pg_catalog.=) p.source"
			"                                        AND st.next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now()))"
			"            ORDER BY p.id LIMIT $4 FOR UPDATE OF p SKIP LOCKED)"
			"UPDATE securitylake.batch b SET held_by = $1, held_since = $2 FROM t"
			" WHERE b.id OPERATOR(pg_catalog.=) t.id"
			" RETURNING b.id, b.source, b.route_keys, b.region, b.account_id, b.event_day, b.object_key,"
			"           b.upload_id, b.attempts, b.failures, b.raw_bytes",
			5, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		batches = lappend(batches, pending_from_tuple(sources, SPI_tuptable->vals[i], SPI_tuptable->tupdesc));
		MemoryContextSwitchTo(old);
	}
	sl_end_step();
	return batches;
}

void
sl_batch_load_ids(SlBatch *b)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[LEASE_NARGS];
	Datum		values[LEASE_NARGS];
	bool		isnull;
	Datum		ids;
	MemoryContext old;

	batch_lease_params(b, types, values);
	sl_begin_step("securitylake: reading a pending batch");
	sl_exec("SELECT ids, sizes FROM securitylake.batch" HELD_BY_ME,
			LEASE_NARGS, types, values, NULL, SPI_OK_SELECT);
	b->nids = 0;
	if (SPI_processed == 1)
	{
		int			nsizes;

		ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		old = MemoryContextSwitchTo(cxt);
		b->ids = sl_int8_array_values(ids, &b->nids);
		b->sizes = sl_int4_array_values(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull),
										&nsizes);
		MemoryContextSwitchTo(old);
		if (nsizes != b->nids)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("securitylake: batch " INT64_FORMAT " has %d ids but %d sizes", b->id, b->nids, nsizes)));
	}
	sl_end_step();
}


void
sl_batch_release(SlBatch *b)
{
	Oid			types[LEASE_NARGS];
	Datum		values[LEASE_NARGS];

	batch_lease_params(b, types, values);
	sl_begin_step("securitylake: giving a batch back");
	sl_exec("UPDATE securitylake.batch SET held_by = NULL, held_since = NULL" HELD_BY_ME,
			LEASE_NARGS, types, values, NULL, SPI_OK_UPDATE);
	sl_end_step();
}

void
sl_release_my_leases(void)
{
	Oid			types[2] = {INT4OID, TIMESTAMPTZOID};
	Datum		values[2];

	sl_lease_params(&values[0], &values[1]);
	sl_begin_step("securitylake: giving batches back");
	sl_exec("UPDATE securitylake.batch SET held_by = NULL, held_since = NULL"
			" WHERE held_by OPERATOR(pg_catalog.=) $1 AND held_since OPERATOR(pg_catalog.=) $2",
			2, types, values, NULL, SPI_OK_UPDATE);
	sl_end_step();
}

void
sl_batch_upload_failed(SlBatch *b, const char *error)
{
	Oid			types[LEASE_NARGS + 1];
	Datum		values[LEASE_NARGS + 1];

	batch_lease_params(b, types, values);
	types[LEASE_NARGS] = TEXTOID;
	values[LEASE_NARGS] = CStringGetTextDatum(error);
	sl_begin_step("securitylake: counting an upload attempt");
	sl_exec("UPDATE securitylake.batch SET attempts = attempts OPERATOR(pg_catalog.+) 1, last_error = $5,"
			"       held_by = NULL, held_since = NULL" HELD_BY_ME,
			LEASE_NARGS + 1, types, values, NULL, SPI_OK_UPDATE);
	sl_end_step();
	b->attempts++;
}

void
sl_batch_save_upload_id(SlBatch *b, const char *upload_id)
{
	Oid			types[LEASE_NARGS + 1];
	Datum		values[LEASE_NARGS + 1];
	char		nulls[LEASE_NARGS + 1] = {' ', ' ', ' ', ' ', upload_id ? ' ' : 'n'};

	batch_lease_params(b, types, values);
	types[LEASE_NARGS] = TEXTOID;
	values[LEASE_NARGS] = upload_id ? CStringGetTextDatum(upload_id) : (Datum) 0;
	sl_begin_step("securitylake: recording a multipart upload");
	sl_exec("UPDATE securitylake.batch SET upload_id = $5" HELD_BY_ME,
			LEASE_NARGS + 1, types, values, nulls, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("securitylake: batch " INT64_FORMAT " is no longer held by this worker", b->id)));
	sl_end_step();
	b->upload_id = upload_id ? MemoryContextStrdup(GetMemoryChunkContext(b), upload_id) : NULL;
}

bool
sl_batch_still_held(SlBatch *b)
{
	Oid			types[LEASE_NARGS];
	Datum		values[LEASE_NARGS];

	batch_lease_params(b, types, values);
	sl_exec("SELECT 1 FROM securitylake.batch" HELD_BY_ME,
			LEASE_NARGS, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed == 1;
}

bool
sl_batch_delete_held(SlBatch *b)
{
	Oid			types[LEASE_NARGS];
	Datum		values[LEASE_NARGS];

	batch_lease_params(b, types, values);
	sl_exec("DELETE FROM securitylake.batch" HELD_BY_ME,
			LEASE_NARGS, types, values, NULL, SPI_OK_DELETE);
	return SPI_processed == 1;
}

/* Two new batches, each half of b's records in b's order; not held (within a step). */
static void
split_batch(SlBatch *b)
{
	int			half = b->nids / 2;
	int			part;

	for (part = 0; part < 2; part++)
	{
		SlBatch    *h = sl_batch_new(b->source, "", b->region, b->account_id, b->event_day);

		int			i;

		h->route_keys = b->route_keys;
		h->nroute_keys = b->nroute_keys;
		h->ids = part == 0 ? b->ids : b->ids + half;
		h->sizes = part == 0 ? b->sizes : b->sizes + half;
		h->nids = part == 0 ? half : b->nids - half;
		for (i = 0; i < h->nids; i++)
			h->raw_bytes += h->sizes[i];
		insert_batch(h, false);
	}
}

void
sl_dead_letter(const char *source, char **route_keys, int nkeys, const int64 *ids, char **reasons, int n)
{
	Oid			types[4] = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];

	if (n == 0)
		return;
	values[0] = CStringGetTextDatum(source);
	values[1] = sl_int8_array(ids, n);
	values[2] = sl_text_array(reasons, n);
	values[3] = sl_text_array(route_keys, nkeys);
	sl_plan_index_probes();
	/* Found by one index probe per id, deleted by its TID (see read_page in deliver.c). */
	sl_exec("WITH r AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS r(id, reason)),"
			"     t AS (SELECT p.tid, r.reason FROM r,"
			"                  LATERAL (SELECT p.ctid AS tid FROM securitylake.queue p"
			"                            WHERE p.route_key OPERATOR(pg_catalog.=) ANY ($4)"
			"                              AND p.id OPERATOR(pg_catalog.=) r.id OFFSET 0) p),"
			"     moved AS (DELETE FROM securitylake.queue q USING t WHERE q.ctid OPERATOR(pg_catalog.=) t.tid"
			"            RETURNING q.event, q.region, q.account_id, q.enqueued_at, t.reason)"
			"INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)"
			"SELECT $1, m.event, m.region, m.account_id, m.reason, m.enqueued_at FROM moved m",
			4, types, values, NULL, SPI_OK_INSERT);
}

void
sl_batch_flush_rejects(SlBatch *b)
{
	sl_dead_letter(b->source->name, b->route_keys, b->nroute_keys, b->reject_ids, b->reject_reasons, b->nrejects);
	b->nrejects = 0;
}

void
sl_batch_record_remainder(SlBatch *b)
{
	SlBatch    *r = sl_batch_new(b->source, "", b->region, b->account_id, b->event_day);
	int			i;

	r->route_keys = b->route_keys;
	r->nroute_keys = b->nroute_keys;
	r->ids = b->ids + b->ndelivered;
	r->sizes = b->sizes + b->ndelivered;
	r->nids = b->nids - b->ndelivered;
	for (i = 0; i < r->nids; i++)
		r->raw_bytes += r->sizes[i];
	insert_batch(r, false);
}

/* Move b's one row to dead_letter with reason (within a step). */
static void
dead_letter_rows(SlBatch *b, const char *reason)
{
	char	  **reasons = palloc(sizeof(char *) * Max(b->nids, 1));
	int			i;

	for (i = 0; i < b->nids; i++)
		reasons[i] = (char *) reason;
	sl_dead_letter(b->source->name, b->route_keys, b->nroute_keys, b->ids, reasons, b->nids);
}

const char *
sl_batch_encode_failed(SlBatch *b, const char *error)
{
	Oid			types[LEASE_NARGS + 1];
	Datum		values[LEASE_NARGS + 1];
	const char *what;

	sl_begin_step("securitylake: isolating a failing batch");
	if (b->nids > 1)
	{
		what = "split in two to isolate the events that cause it";
		if (sl_batch_delete_held(b))
			split_batch(b);
	}
	else if (b->failures + 1 >= 2)
	{
		what = "its one event is dead-lettered";
		if (sl_batch_delete_held(b))
			dead_letter_rows(b, psprintf("could not be delivered: %s", error));
	}
	else
	{
		what = "it is tried once more";
		batch_lease_params(b, types, values);
		types[LEASE_NARGS] = TEXTOID;
		values[LEASE_NARGS] = CStringGetTextDatum(error);
		sl_exec("UPDATE securitylake.batch SET failures = failures OPERATOR(pg_catalog.+) 1, last_error = $5,"
				"       held_by = NULL, held_since = NULL" HELD_BY_ME,
				LEASE_NARGS + 1, types, values, NULL, SPI_OK_UPDATE);
	}
	sl_end_step();
	b->failures++;
	return what;
}

/*
 * securitylake._worker_alive(pid, started): does the backend with this pid,
 * started at this time, still run as a securitylake worker? Read from the
 * backends' status array, which only the postmaster's children write: a
 * lease no role can fake or keep alive for a dead worker.
 */
PG_FUNCTION_INFO_V1(securitylake_worker_alive);
Datum
securitylake_worker_alive(PG_FUNCTION_ARGS)
{
	int			pid = PG_GETARG_INT32(0);
	TimestampTz started = PG_GETARG_TIMESTAMPTZ(1);
	int			n = pgstat_fetch_stat_numbackends();
	int			i;

	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		const char *type;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid != pid)
			continue;
		if (be->st_proc_start_timestamp != started || be->st_backendType != B_BG_WORKER)
			PG_RETURN_BOOL(false);
		type = GetBackgroundWorkerTypeByPid(pid);
		PG_RETURN_BOOL(type != NULL && strncmp(type, "securitylake", 12) == 0);
	}
	PG_RETURN_BOOL(false);
}
