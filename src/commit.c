/*-------------------------------------------------------------------------
 *
 * commit.c
 *		Step 3: commit. In one transaction for the delivered batches of one
 *		source: each batch still held by this worker is removed, its
 *		delivered rows deleted, its refused events dead-lettered, its upload
 *		logged — and what did not fit in its object recorded as a new batch.
 *
 * The batch row is removed first and only while this worker holds it: if the
 * extension was dropped and created again meanwhile (ids restart, the same
 * ids name other rows) or the source was dropped, nothing else is touched.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "batches.h"
#include "commit.h"
#include "schedule.h"
#include "securitylake.h"
#include "sources.h"
#include "step.h"

/* A delivered row: its id and where the page read found it. */
typedef struct RowRef
{
	int64		id;
	ItemPointerData tid;
} RowRef;

static int
compare_rows(const void *a, const void *b)
{
	int64		x = ((const RowRef *) a)->id;
	int64		y = ((const RowRef *) b)->id;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Ids deleted per statement. The planner estimates "id = ANY (array)" element
 * by element and keeps what it allocates until the statement ends (~300
 * bytes per id): one statement for a batch of 600,000 rows took 170 MB.
 */
#define DELETE_CHUNK 10000

/*
 * Delete these ids (sorted): an index range scan over the key's rows between
 * the lowest and highest id, filtered by the hashed id list (claims take rows
 * oldest first, so they are mostly one range).
 */
static void
delete_by_id(Datum keys, const int64 *ids, int n)
{
	Oid			types[4] = {TEXTARRAYOID, INT8OID, INT8OID, INT8ARRAYOID};
	Datum		values[4];

	values[0] = keys;
	values[1] = Int64GetDatum(ids[0]);
	values[2] = Int64GetDatum(ids[n - 1]);
	values[3] = sl_int8_array(ids, n);
	sl_exec("DELETE FROM securitylake.queue q"
			" WHERE q.route_key OPERATOR(pg_catalog.=) ANY ($1)"
			"   AND q.id OPERATOR(pg_catalog.>=) $2 AND q.id OPERATOR(pg_catalog.<=) $3"
			"   AND q.id OPERATOR(pg_catalog.=) ANY ($4)",
			4, types, values, NULL, SPI_OK_DELETE);
	pfree(DatumGetPointer(values[3]));
}

/*
 * Delete these rows where the page read found them (a TID scan: no index),
 * each only if it still has the batch's key and its id; when fewer went (a
 * row moved since), the ids again through the index. Returns nothing: a row
 * gone meanwhile is simply gone.
 */
static void
delete_by_tid(Datum keys, const int64 *ids, const ItemPointerData *tids, int n)
{
	Oid			types[3] = {TEXTARRAYOID, TIDARRAYOID, INT8ARRAYOID};
	Datum		values[3];

	values[0] = keys;
	values[1] = sl_tid_array(tids, n);
	values[2] = sl_int8_array(ids, n);
	sl_exec("DELETE FROM securitylake.queue q"
			" WHERE q.ctid OPERATOR(pg_catalog.=) ANY ($2)"
			"   AND q.route_key OPERATOR(pg_catalog.=) ANY ($1)"
			"   AND q.id OPERATOR(pg_catalog.=) ANY ($3)",
			3, types, values, NULL, SPI_OK_DELETE);
	pfree(DatumGetPointer(values[1]));
	pfree(DatumGetPointer(values[2]));
	if (SPI_processed < (uint64) n)
		delete_by_id(keys, ids, n);
}

/*
 * Delete the rows of ids[0 .. ndelivered) that the page reads found and the
 * encoder took (the ones it refused were dead-lettered already, the ones
 * not found are gone), DELETE_CHUNK at a time; every one by id when no page
 * noted where its rows were. Ids are sorted for delete_by_id's range.
 */
static void
delete_delivered_rows(SlBatch *b)
{
	RowRef	   *rows;
	int64	   *ids;
	ItemPointerData *tids;
	Datum		keys;
	int			n = 0;
	int			i;
	int			from;

	if (b->ndelivered == 0)
		return;
	rows = palloc(sizeof(RowRef) * b->ndelivered);
	for (i = 0; i < b->ndelivered; i++)
	{
		if (b->tids == NULL)
			ItemPointerSetInvalid(&rows[n].tid);	/* not known: by id */
		else if (!ItemPointerIsValid(&b->tids[i]))
			continue;
		else
			rows[n].tid = b->tids[i];
		rows[n].id = b->ids[i];
		n++;
	}
	qsort(rows, n, sizeof(RowRef), compare_rows);
	ids = palloc(sizeof(int64) * Max(Min(n, DELETE_CHUNK), 1));
	tids = palloc(sizeof(ItemPointerData) * Max(Min(n, DELETE_CHUNK), 1));
	keys = sl_batch_keys(b);
	sl_plan_index_probes();
	for (from = 0; from < n; from += DELETE_CHUNK)
	{
		int			chunk = Min(DELETE_CHUNK, n - from);

		for (i = 0; i < chunk; i++)
		{
			ids[i] = rows[from + i].id;
			tids[i] = rows[from + i].tid;
		}
		if (b->tids == NULL)
			delete_by_id(keys, ids, chunk);
		else
			delete_by_tid(keys, ids, tids, chunk);
	}
	pfree(rows);
	pfree(ids);
	pfree(tids);
}

static void
log_upload(SlBatch *b)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT8OID, INT8OID, INT8OID, INT4OID};
	Datum		values[9];

	values[0] = CStringGetTextDatum(b->source->name);
	values[1] = CStringGetTextDatum(b->object_key);
	values[2] = CStringGetTextDatum(b->region);
	values[3] = CStringGetTextDatum(b->account_id);
	values[4] = Int32GetDatum(b->event_day);
	values[5] = Int64GetDatum(b->rows);
	values[6] = Int64GetDatum(b->bytes);
	values[7] = Int64GetDatum(b->delivered_raw);
	values[8] = Int32GetDatum(b->attempts + 1);
	sl_exec("INSERT INTO securitylake.uploads"
			"       (source, object_key, region, account_id, event_day, rows, bytes, raw_bytes, attempts)"
			"VALUES ($1, $2, $3, $4, CAST('1970-01-01' AS pg_catalog.date) OPERATOR(pg_catalog.+) $5,"
			"        $6, $7, $8, $9)",
			9, types, values, NULL, SPI_OK_INSERT);
}

/* One batch; false when this worker no longer holds it (nothing was changed). */
static bool
commit_batch(SlBatch *b)
{
	if (!sl_batch_delete_held(b))
		return false;
	sl_batch_flush_rejects(b);
	delete_delivered_rows(b);
	if (b->ndelivered < b->nids)
		sl_batch_record_remainder(b);
	if (b->rows > 0)
		log_upload(b);
	return true;
}

void
sl_commit_batches(List *batches)
{
	SlSource   *source;
	int64		rows = 0;
	ListCell   *lc;

	if (batches == NIL)
		return;
	source = ((SlBatch *) linitial(batches))->source;
	sl_begin_step("securitylake: committing uploaded batches");
	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);

		if (commit_batch(b))
			rows += b->rows;
	}
	sl_clear_failures_sql(source, rows > 0);
	sl_test_fault_point("committed-before");
	sl_end_step();
	sl_note_recovered(source);
	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);

		sl_note_object(source, b->delivered_raw, b->bytes);
	}
}
