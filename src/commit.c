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

/* A delivered row: its id and where the page read found it (invalid: not known, by id). */
typedef struct RowRef
{
	int64		id;
	ItemPointerData tid;
} RowRef;

/* The rows one commit deletes, of every batch it commits. */
typedef struct RowSet
{
	RowRef	   *rows;
	int			n;
	int			max;
} RowSet;

static int
compare_ids(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Heap order: rows without a TID first, by id. */
static int
compare_rows(const void *a, const void *b)
{
	const RowRef *x = a;
	const RowRef *y = b;
	bool		xv = ItemPointerIsValid(&x->tid);
	bool		yv = ItemPointerIsValid(&y->tid);

	if (xv != yv)
		return xv ? 1 : -1;
	if (xv)
		return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/*
 * Ids deleted per statement. The planner estimates "id = ANY (array)" element
 * by element and keeps what it allocates until the statement ends (~300
 * bytes per id): one statement for a batch of 600,000 rows took 170 MB.
 */
#define DELETE_CHUNK 10000

/*
 * Delete these ids: an index range scan over the key's rows between the
 * lowest and highest id, filtered by the hashed id list (claims take rows
 * oldest first, so they are mostly one range). Sorts ids.
 */
static void
delete_by_id(Datum keys, int64 *ids, int n)
{
	Oid			types[4] = {TEXTARRAYOID, INT8OID, INT8OID, INT8ARRAYOID};
	Datum		values[4];

	qsort(ids, n, sizeof(int64), compare_ids);
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
 * row moved since), the ids again through the index. A row gone meanwhile
 * is simply gone.
 */
static void
delete_by_tid(Datum keys, int64 *ids, const ItemPointerData *tids, int n)
{
	Oid			types[3] = {TEXTARRAYOID, TIDARRAYOID, INT8ARRAYOID};
	Datum		values[3];

	values[0] = keys;
	values[1] = sl_tid_array(tids, n);
	values[2] = sl_int8_array(ids, n);
	sl_plan_tid_scans(true);
	sl_exec("DELETE FROM securitylake.queue q"
			" WHERE q.ctid OPERATOR(pg_catalog.=) ANY ($2)"
			"   AND q.route_key OPERATOR(pg_catalog.=) ANY ($1)"
			"   AND q.id OPERATOR(pg_catalog.=) ANY ($3)",
			3, types, values, NULL, SPI_OK_DELETE);
	sl_plan_tid_scans(false);
	pfree(DatumGetPointer(values[1]));
	pfree(DatumGetPointer(values[2]));
	if (SPI_processed < (uint64) n)
		delete_by_id(keys, ids, n);
}

/*
 * The rows of ids[0 .. ndelivered) to delete: the ones the page reads found
 * and the encoder took (the ones it refused were dead-lettered already, the
 * ones not found are gone); every one, by id, when no page noted where its
 * rows were.
 */
static void
collect_delivered_rows(SlBatch *b, RowSet *set)
{
	int			i;

	if (set->n + b->ndelivered > set->max)
	{
		set->max = Max(set->max * 2, set->n + b->ndelivered);
		set->rows = set->rows ? repalloc_huge(set->rows, sizeof(RowRef) * set->max)
			: palloc_extended(sizeof(RowRef) * set->max, MCXT_ALLOC_HUGE);
	}
	for (i = 0; i < b->ndelivered; i++)
	{
		RowRef	   *r = &set->rows[set->n];

		if (b->tids == NULL)
			ItemPointerSetInvalid(&r->tid);
		else if (!ItemPointerIsValid(&b->tids[i]))
			continue;
		else
			r->tid = b->tids[i];
		r->id = b->ids[i];
		set->n++;
	}
}

/*
 * Delete the collected rows in heap order, DELETE_CHUNK at a time: the
 * batches of one claim share their pages (events of several days side by
 * side), and one pass over them costs a third of a pass per batch.
 */
static void
delete_rows(Datum keys, RowSet *set)
{
	int64	   *ids = palloc(sizeof(int64) * Max(Min(set->n, DELETE_CHUNK), 1));
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * Max(Min(set->n, DELETE_CHUNK), 1));
	int			from = 0;

	qsort(set->rows, set->n, sizeof(RowRef), compare_rows);
	sl_plan_index_probes();
	while (from < set->n)
	{
		bool		by_tid = ItemPointerIsValid(&set->rows[from].tid);
		int			n = 0;

		/* A chunk is all by TID or all by id (those sort first). */
		while (from + n < set->n && n < DELETE_CHUNK &&
			   ItemPointerIsValid(&set->rows[from + n].tid) == by_tid)
		{
			ids[n] = set->rows[from + n].id;
			tids[n] = set->rows[from + n].tid;
			n++;
		}
		if (by_tid)
			delete_by_tid(keys, ids, tids, n);
		else
			delete_by_id(keys, ids, n);
		from += n;
	}
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

/*
 * One batch, its rows collected for the delete; false when this worker no
 * longer holds it (nothing was changed).
 */
static bool
commit_batch(SlBatch *b, RowSet *rows)
{
	if (!sl_batch_delete_held(b))
		return false;
	sl_batch_flush_rejects(b);
	collect_delivered_rows(b, rows);
	if (b->ndelivered < b->nids)
		sl_batch_record_remainder(b);
	if (b->rows > 0)
		log_upload(b);
	return true;
}

static bool
same_keys(SlBatch *a, SlBatch *b)
{
	int			i;

	if (a->nroute_keys != b->nroute_keys)
		return false;
	for (i = 0; i < a->nroute_keys; i++)
		if (strcmp(a->route_keys[i], b->route_keys[i]) != 0)
			return false;
	return true;
}

void
sl_commit_batches(List *batches)
{
	SlSource   *source;
	SlBatch    *first;
	RowSet		shared = {0};
	int64		rows = 0;
	ListCell   *lc;

	if (batches == NIL)
		return;
	first = linitial(batches);
	source = first->source;
	sl_begin_step("securitylake: committing uploaded batches");
	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);
		RowSet		own = {0};

		/* The batches of one claim share their keys, and their rows go in one pass. */
		if (commit_batch(b, same_keys(b, first) ? &shared : &own))
			rows += b->rows;
		if (own.n > 0)
			delete_rows(sl_batch_keys(b), &own);
	}
	if (shared.n > 0)
		delete_rows(sl_batch_keys(first), &shared);
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
