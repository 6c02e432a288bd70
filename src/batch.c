/*-------------------------------------------------------------------------
 *
 * batch.c
 *		Batches: claim (step 1), deliver = encode + upload (step 2) and
 *		commit (step 3) — see worker.c for the protocol and why it is
 *		exactly once.
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
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "event_rules.h"
#include "keys.h"
#include "securitylake.h"
#include "shred.h"

/* How many queue rows one SPI fetch brings while claiming. */
#define CLAIM_FETCH_ROWS 2000

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

/* Classify an event; on failure ev->reject says why. */
static void
classify_event(SlSource *source, SlEvent *ev, char **region, char **account, int32 *day)
{
	SlPartition part;

	if (!sl_classify_event(source, ev->event, ev->region, ev->account_id, &part, &ev->reject))
		return;
	ev->time_ms = part.time_ms;
	*region = part.region;
	*account = part.account_id;
	*day = part.event_day;
}

static SlEvent *
event_from_tuple(HeapTuple tup, TupleDesc desc)
{
	SlEvent    *ev = palloc0(sizeof(SlEvent));
	bool		isnull;

	ev->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	ev->event = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 2, &isnull));
	ev->region = sl_text_or_null(tup, desc, 3);
	ev->account_id = sl_text_or_null(tup, desc, 4);
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
	values[1] = sl_int8_array(ids, n);
	values[2] = sl_text_array(reasons, n);
	sl_exec("WITH r AS (SELECT * FROM unnest($2::bigint[], $3::text[]) AS r(id, reason)),"
				 "     moved AS (INSERT INTO securitylake.dead_letter"
				 "                      (source, event, region, account_id, reason, enqueued_at)"
				 "               SELECT $1, q.event, q.region, q.account_id, r.reason, q.enqueued_at"
				 "                 FROM securitylake.queue q JOIN r ON r.id = q.id"
				 "               RETURNING 1)"
				 "DELETE FROM securitylake.queue q USING r WHERE q.id = r.id",
				 3, types, values, NULL, SPI_OK_DELETE);
}

/*
 * Record one batch: batch id from the identity, key with a fresh nonce. The
 * key is allocated in cxt: every SPI call returns to SPI's own context.
 */
static void
record_batch(SlBatch *b, MemoryContext cxt)
{
	MemoryContext old;
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, INT8ARRAYOID};
	Datum		values[7];
	int64	   *ids = palloc(sizeof(int64) * b->nevents);
	uint64		nonce;
	bool		isnull;
	int			i;

	sl_exec("SELECT nextval(pg_catalog.pg_get_serial_sequence('securitylake.batch', 'id'))",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	b->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (!pg_strong_random(&nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not generate a random object key nonce")));
	old = MemoryContextSwitchTo(cxt);
	b->object_key = sl_object_key(b->source->prefix, b->region, b->account_id, b->event_day, b->id, nonce);
	MemoryContextSwitchTo(old);
	for (i = 0; i < b->nevents; i++)
		ids[i] = b->events[i]->id;
	values[0] = Int64GetDatum(b->id);
	values[1] = CStringGetTextDatum(b->source->name);
	values[2] = CStringGetTextDatum(b->region);
	values[3] = CStringGetTextDatum(b->account_id);
	values[4] = Int32GetDatum(b->event_day);
	values[5] = CStringGetTextDatum(b->object_key);
	values[6] = sl_int8_array(ids, b->nevents);
	sl_exec("INSERT INTO securitylake.batch"
				 "       (id, source, region, account_id, event_day, object_key, ids)"
				 "OVERRIDING SYSTEM VALUE "
				 "VALUES ($1, $2, $3, $4, date '1970-01-01' + $5, $6, $7)",
				 7, types, values, NULL, SPI_OK_INSERT);
	/* Held until this worker commits or gives up the batch: keeps re-drives away. */
	values[0] = Int64GetDatum(b->id);
	sl_exec("SELECT pg_catalog.pg_advisory_lock(8467, $1::int)", 1, types, values, NULL, SPI_OK_SELECT);
}

/* The queue ids held by a source's pending batches, sorted, to skip while claiming. */
static int64 *
pending_ids(SlSource *source, int *n)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(source->name)};
	int64	   *ids;
	uint64		i;

	sl_exec("SELECT i FROM securitylake.batch b, unnest(b.ids) AS i"
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
 * Claim up to one batch-size worth of a source's queued rows with id >=
 * from_id, oldest first, skipping rows of its pending batches; *last_id is
 * the highest id claimed (0 if none). Per-source advisory lock: claims of one
 * source are serialised across workers, and the pending list is read after
 * it is taken, so no two batches ever hold the same row.
 */
List *
sl_claim(SlSource *source, int64 from_id, bool *full, int64 *last_id)
{
	Oid			types[4] = {TEXTOID, BOOLOID, JSONBOID, INT8OID};
	Datum		values[4];
	Portal		portal;
	List	   *batches = NIL;
	List	   *rejects = NIL;
	int64	   *skip;
	int			nskip;
	int64		nrows = 0;
	int64		nbytes = 0;
	ListCell   *lc;
	MemoryContext batch_cxt = CurrentMemoryContext;

	sl_begin_step("securitylake: claiming a batch");
	values[0] = CStringGetTextDatum(source->name);
	sl_exec("SELECT pg_catalog.pg_advisory_xact_lock(8466, pg_catalog.hashtext($1))",
				 1, types, values, NULL, SPI_OK_SELECT);
	skip = pending_ids(source, &nskip);

	/*
	 * Oldest first, through the primary key: a sort would read the whole
	 * queue (and spill it to disk) for every batch, so a claim would cost
	 * what is queued rather than what it takes. The routing filter hides the
	 * index from the planner's estimates; these settings last for this
	 * transaction only.
	 */
	sl_exec("SET LOCAL enable_sort = off", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	sl_exec("SET LOCAL enable_seqscan = off", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	sl_exec("SET LOCAL enable_bitmapscan = off", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	values[1] = BoolGetDatum(source->route_by_class);
	/* class_uid as jsonb once: to_jsonb() in the query would run for every row */
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("%d", source->class_uid)));
	values[3] = Int64GetDatum(from_id);
	*last_id = 0;
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT q.id, q.event, q.region, q.account_id, q.enqueued_at,"
									   "       pg_catalog.pg_column_size(q.event)"
									   "  FROM securitylake.queue q"
									   " WHERE q.id >= $4"
									   "   AND (q.source = $1 OR ($2 AND q.source IS NULL"
									   "        AND q.event->'class_uid' = $3))"
									   " ORDER BY q.id",
									   4, types, values, NULL, true, CURSOR_OPT_NO_SCROLL);
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
			*last_id = id;
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
		record_batch(lfirst(lc), batch_cxt);
	sl_end_step();
	return batches;
}

/* ----------------------------------------------------------------
 * Pending batches left by a crash or a failed upload
 * ---------------------------------------------------------------- */

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

static SlBatch *
pending_from_tuple(List *sources, HeapTuple tup, TupleDesc desc)
{
	SlBatch    *b;
	SlSource   *source;
	char	   *name = sl_text_or_null(tup, desc, 2);
	bool		isnull;

	source = find_source(sources, name);
	if (source == NULL)
		return NULL;			/* source dropped: drop_source removes its batches */
	b = new_batch(source, sl_text_or_null(tup, desc, 3), sl_text_or_null(tup, desc, 4),
				  DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull)));
	b->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	b->object_key = sl_text_or_null(tup, desc, 6);
	b->upload_id = sl_text_or_null(tup, desc, 7);
	b->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	return b;
}

/*
 * Lock (session advisory lock, so no other worker takes them meanwhile) and
 * load the pending batches that no other worker holds, into the caller's
 * memory context.
 */
List *
sl_take_pending_batches(List *sources)
{
	List	   *batches = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	sl_begin_step("securitylake: looking for pending batches");
	sl_exec("SELECT b.id, b.source, b.region, b.account_id, b.event_day - date '1970-01-01',"
			"       b.object_key, b.upload_id, b.attempts"
			"  FROM securitylake.batch b"
			" WHERE pg_catalog.pg_try_advisory_lock(8467, b.id::int)"
			" ORDER BY b.id",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		/* Every SPI call returns to SPI's context: build the list in the caller's. */
		MemoryContext old = MemoryContextSwitchTo(cxt);
		SlBatch    *b = pending_from_tuple(sources, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);

		if (b != NULL)
			batches = lappend(batches, b);
		MemoryContextSwitchTo(old);
		if (b == NULL)
		{
			Oid			t = INT8OID;
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			sl_exec("SELECT pg_catalog.pg_advisory_unlock(8467, $1::int)", 1, &t, &v, NULL, SPI_OK_SELECT);
		}
	}
	sl_end_step();
	return batches;
}

/* Re-read a pending batch's rows; the events come back exactly as claimed. */
void
sl_load_batch_events(SlBatch *b)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	values[0] = Int64GetDatum(b->id);
	sl_begin_step("securitylake: reloading a pending batch");
	sl_exec("SELECT q.id, q.event, q.region, q.account_id, q.enqueued_at"
				 "  FROM securitylake.queue q, securitylake.batch b"
				 " WHERE b.id = $1 AND q.id = ANY (b.ids)"
				 " ORDER BY q.id",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		SlEvent    *ev = event_from_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		char	   *region,
				   *account;
		int32		day;

		classify_event(b->source, ev, &region, &account, &day);
		batch_add(b, ev);
		MemoryContextSwitchTo(old);
	}
	sl_end_step();
}

/* ----------------------------------------------------------------
 * Steps 2 and 3: encode, upload, commit
 * ---------------------------------------------------------------- */

/*
 * Delete the rows of the batches committed together. Claims take rows oldest
 * first, so the ids of one claim's batches together form (mostly) one range,
 * however its partitions interleave: one index range scan filtered by the
 * hashed id list, rather than one range per batch (which would visit every
 * row of the other partitions once per partition) or one descent per id.
 * batch_ids is their ids as a bigint[], for the guard below.
 */
static void
delete_batch_rows(List *batches, Datum batch_ids)
{
	Oid			types[5] = {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT4OID};
	Datum		values[5];
	int			n = 0;
	int64	   *ids;
	int64		lo = PG_INT64_MAX;
	int64		hi = PG_INT64_MIN;
	ListCell   *lc;

	foreach(lc, batches)
		n += ((SlBatch *) lfirst(lc))->nevents;
	ids = palloc(sizeof(int64) * Max(n, 1));
	n = 0;
	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);
		int			i;

		if (b->nevents == 0)
		{
			/* Nothing in memory (its rows were already gone): the recorded list decides. */
			values[0] = Int64GetDatum(b->id);
			sl_exec("DELETE FROM securitylake.queue q USING securitylake.batch b"
					" WHERE b.id = $1 AND q.id = ANY (b.ids)",
					1, types, values, NULL, SPI_OK_DELETE);
			continue;
		}
		for (i = 0; i < b->nevents; i++)
		{
			ids[n++] = b->events[i]->id;
			lo = Min(lo, b->events[i]->id);
			hi = Max(hi, b->events[i]->id);
		}
	}
	if (n == 0)
		return;
	values[0] = Int64GetDatum(lo);
	values[1] = Int64GetDatum(hi);
	values[2] = sl_int8_array(ids, n);
	values[3] = batch_ids;
	values[4] = Int32GetDatum(list_length(batches));

	/*
	 * Only while every batch is still recorded: if the extension was dropped
	 * and created again meanwhile, the same ids name other rows.
	 */
	sl_exec("DELETE FROM securitylake.queue q WHERE q.id BETWEEN $1 AND $2 AND q.id = ANY ($3)"
			"   AND (SELECT count(*) FROM securitylake.batch b WHERE b.id = ANY ($4)) = $5",
			5, types, values, NULL, SPI_OK_DELETE);
}

/* Step 3 for one batch: its dead letters, its upload logged, its claim gone. */
static void
commit_batch_records(SlBatch *b)
{
	Oid			types[5] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT8OID, INT8OID};
	Datum		values[5];
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
	values[1] = sl_int8_array(ids, nrejects);
	values[2] = sl_text_array(reasons, nrejects);
	values[3] = Int64GetDatum(b->rows);
	values[4] = Int64GetDatum((int64) b->bytes);
	if (nrejects > 0)
		sl_exec("INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)"
				"SELECT b.source, q.event, q.region, q.account_id, r.reason, q.enqueued_at"
				"  FROM securitylake.batch b"
				"  JOIN unnest($2::bigint[], $3::text[]) AS r(id, reason) ON true"
				"  JOIN securitylake.queue q ON q.id = r.id"
				" WHERE b.id = $1",
				3, types, values, NULL, SPI_OK_INSERT);
	if (b->rows > 0)
		sl_exec("INSERT INTO securitylake.uploads"
				"       (source, object_key, region, account_id, event_day, rows, bytes, attempts)"
				"SELECT source, object_key, region, account_id, event_day, $4, $5, attempts + 1"
				"  FROM securitylake.batch WHERE id = $1",
				5, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Step 3 for the uploaded batches of one claim (all of one source), in one
 * transaction: dead letters, uploads logged, rows deleted, claims removed,
 * the source's state cleared.
 */
static void
commit_batches(List *batches)
{
	SlSource   *source = ((SlBatch *) linitial(batches))->source;
	Oid			types[2] = {INT8ARRAYOID, TEXTOID};
	Datum		values[2];
	int64	   *batch_ids = palloc(sizeof(int64) * list_length(batches));
	int64		rows = 0;
	int			n = 0;
	ListCell   *lc;

	sl_begin_step("securitylake: committing uploaded batches");
	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);

		commit_batch_records(b);
		batch_ids[n++] = b->id;
		rows += b->rows;
	}
	values[0] = sl_int8_array(batch_ids, n);
	delete_batch_rows(batches, values[0]);
	values[1] = CStringGetTextDatum(source->name);
	sl_exec("DELETE FROM securitylake.batch WHERE id = ANY ($1)", 1, types, values, NULL, SPI_OK_DELETE);
	sl_exec(rows > 0
			? "UPDATE securitylake.source_state SET last_upload_at = now(), last_error = NULL, failures = 0,"
			"       next_attempt_at = NULL WHERE source = $2"
			: "UPDATE securitylake.source_state SET last_error = NULL, failures = 0,"
			"       next_attempt_at = NULL WHERE source = $2",
			2, types, values, NULL, SPI_OK_UPDATE);
	sl_test_fault_point("committed-before");
	sl_end_step();
	if (source->failures > 0)
		ereport(LOG,
				(errmsg("securitylake: source \"%s\" delivers again after %d failed attempts",
						source->name, source->failures)));
	source->failures = 0;
	source->next_attempt_at = 0;
}

static void
count_attempt(SlBatch *b)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(b->id)};

	sl_begin_step("securitylake: counting an upload attempt");
	sl_exec("UPDATE securitylake.batch SET attempts = attempts + 1 WHERE id = $1",
				 1, types, values, NULL, SPI_OK_UPDATE);
	sl_end_step();
}

void
sl_release_batch(SlBatch *b)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(b->id)};

	sl_begin_step("securitylake: releasing a batch");
	sl_exec("SELECT pg_catalog.pg_advisory_unlock(8467, $1::int)", 1, types, values, NULL, SPI_OK_SELECT);
	sl_end_step();
}

/*
 * Step 2 for one batch: encode (events sorted by time) and upload. False
 * with *error set when the upload failed.
 */
static bool
upload_batch(SlBatch *b, char **error)
{
	SlEncoder  *enc;
	StringInfoData out;
	pq_buffer	buf;
	int			i;

	qsort(b->events, b->nevents, sizeof(SlEvent *), compare_events);
	pq_buffer_init(&buf, NULL);
	enc = sl_encoder_begin(b->source, pq_buffer_sink(&buf));
	for (i = 0; i < b->nevents; i++)
	{
		SlEvent    *ev = b->events[i];

		if (ev->reject == NULL)
			sl_encoder_add(enc, ev->event, &ev->reject);
	}
	sl_encoder_finish(enc, &b->rows);
	initStringInfo(&out);
	appendBinaryStringInfo(&out, (const char *) buf.data, (int) buf.len);
	pq_buffer_free(&buf);
	b->bytes = out.len;
	sl_test_fault_point("claimed");

	if (b->rows > 0)
	{
		pgstat_report_activity(STATE_RUNNING, "securitylake: uploading a batch");
		if (!sl_upload_object(b->source, b, out.data, out.len, error))
			return false;
	}
	pfree(out.data);
	sl_test_fault_point("uploaded");
	return true;
}

/*
 * Deliver the batches of one claim (one source): upload each, then commit
 * the uploaded ones together. Returns false with *error set when an upload
 * failed: that batch and the ones after it stay pending for a later attempt.
 * Every batch is released (its advisory lock) on return.
 */
bool
sl_deliver_batches(List *batches, char **error)
{
	List	   *uploaded = NIL;
	ListCell   *lc;
	bool		ok = true;

	foreach(lc, batches)
	{
		SlBatch    *b = lfirst(lc);

		if (ok && upload_batch(b, error))
			uploaded = lappend(uploaded, b);
		else
		{
			if (ok)
				count_attempt(b);
			ok = false;
		}
	}
	if (uploaded != NIL)
	{
		commit_batches(uploaded);
		sl_test_fault_point("committed");
	}
	foreach(lc, batches)
		sl_release_batch(lfirst(lc));
	return ok;
}
