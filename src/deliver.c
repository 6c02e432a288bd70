/*-------------------------------------------------------------------------
 *
 * deliver.c
 *		Step 2: encode a batch and upload its object, streaming.
 *
 * Memory does not grow with the object: the batch's events are read a page
 * at a time (at most PAGE_BYTES of JSON, in short transactions of their own),
 * the encoder buffers one row group (the source's row_group_size), and its
 * sink hands the object's bytes to S3 as multipart parts of sl_s3_part_size()
 * as they fill. One part is in flight on a thread of its own (upload.c,
 * src/aws/parts.c) while the next fills: the worker encodes while S3
 * receives (when no thread can be started, the worker sends it itself). The UploadId is recorded with the batch before the first part
 * is sent, so that after a crash the next attempt aborts that upload before
 * writing the same key again.
 *
 * No transaction is open while bytes go to S3, and nothing in here may
 * longjmp through libcurl or the Parquet writer: the sink catches every
 * ERROR and reports it as a write failure.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "batches.h"
#include "deliver.h"
#include "schedule.h"
#include "securitylake.h"
#include "shred.h"
#include "step.h"
#include "upload.h"

/* At most this much JSON (and this many events) is read and held at once. */
#define PAGE_BYTES (8 * 1024 * 1024)
#define PAGE_ROWS 2000
/* The page's memory: a page of small events fits in one block. */
#define PAGE_BLOCK_SIZE (4 * 1024 * 1024)

/*
 * The object being written: its current part, the part in flight (in the other
 * buffer, untouched until it is joined) and the parts sent.
 */
typedef struct ObjectStream
{
	SlBatch    *batch;
	MemoryContext cxt;			/* the stream's own: the sink runs in the encoder's contexts */
	char	   *buf;
	size_t		len;
	size_t		cap;
	char	   *spare;			/* the part in flight, or the next buffer to fill */
	size_t		spare_cap;
	bool		in_flight;		/* part nparts + 1 was started from spare, not yet joined */
	size_t		part_size;
	SlPart	   *parts;
	int			nparts;
	int			maxparts;
	int64		written;		/* bytes of the object so far */
	char	   *error;			/* why the sink failed, or NULL */
	bool		transport;		/* ... S3/STS/network rather than something else */
	bool		encoding;		/* events are being added (an ERROR now may be theirs) */
} ObjectStream;

/* ----------------------------------------------------------------
 * The sink: parts as they fill
 * ---------------------------------------------------------------- */

/* Join the part in flight, if any, and count it sent. */
static bool
wait_part(ObjectStream *s)
{
	if (!s->in_flight)
		return true;
	s->in_flight = false;
	if (!sl_s3_upload_part_wait(s->batch->source, &s->parts[s->nparts], &s->error))
	{
		s->transport = true;
		return false;
	}
	s->nparts++;
	return true;
}

/* The current buffer becomes the part in flight; the other one fills next. */
static bool
send_part(ObjectStream *s)
{
	SlBatch    *b = s->batch;
	char	   *upload_id = NULL;
	char	   *sent;
	size_t		sent_cap;

	if (b->upload_id == NULL)
	{
		if (!sl_s3_multipart_create(b->source, b->object_key, &upload_id, &s->error))
		{
			s->transport = true;
			return false;
		}
		/* Recorded before any part is sent: a crash then aborts this upload. */
		sl_batch_save_upload_id(b, upload_id);
	}
	if (!wait_part(s))
		return false;
	if (s->nparts == s->maxparts)
	{
		s->maxparts = Max(16, s->maxparts * 2);
		s->parts = s->parts ? repalloc(s->parts, sizeof(SlPart) * s->maxparts)
			: MemoryContextAlloc(s->cxt, sizeof(SlPart) * s->maxparts);
	}
	if (!sl_s3_upload_part_start(b->source, b->object_key, b->upload_id, s->nparts + 1, s->buf, s->len,
								 &s->error))
	{
		s->transport = true;
		return false;
	}
	s->in_flight = true;
	sent = s->buf;
	sent_cap = s->cap;
	s->buf = s->spare;
	s->cap = s->spare_cap;
	s->spare = sent;
	s->spare_cap = sent_cap;
	s->len = 0;
	return true;
}

static void
buffer_append(ObjectStream *s, const void *data, size_t len)
{
	if (s->len + len > s->cap)
	{
		size_t		cap = Max(s->cap * 2, s->len + len);

		s->buf = s->buf ? repalloc_huge(s->buf, cap) : MemoryContextAllocHuge(s->cxt, cap);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
}

/*
 * pq_sink write: called by the Parquet writer as row groups close. An ERROR
 * (a failed step recording the UploadId, out of memory) is caught here and
 * becomes a write failure: it must not unwind the writer's frames.
 */
static int
sink_write(void *ctx, const void *data, size_t len)
{
	ObjectStream *s = ctx;
	MemoryContext cxt = MemoryContextSwitchTo(s->cxt);
	volatile bool ok = true;

	if (s->error)
	{
		MemoryContextSwitchTo(cxt);
		return -1;
	}
	PG_TRY();
	{
		buffer_append(s, data, len);
		s->written += len;
		if (s->len >= s->part_size)
			ok = send_part(s);
	}
	PG_CATCH();
	{
		s->error = sl_take_error(s->cxt)->message;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok ? 0 : -1;
}

/* Upload what is left: one PutObject, or the last part and the completion. */
static bool
finish_object(ObjectStream *s)
{
	SlBatch    *b = s->batch;

	s->transport = true;
	if (b->upload_id == NULL)
		return sl_s3_put(b->source, b->object_key, s->buf, s->len, &s->error);
	if (s->len > 0 && !send_part(s))
		return false;
	if (!wait_part(s))
		return false;
	/* S3 completes an upload with gaps in its part numbers: the object would lack bytes. */
	for (int i = 0; i < s->nparts; i++)
		if (s->parts[i].part_number != i + 1)
		{
			s->error = psprintf("part %d of %s is numbered %d: not completed", i + 1, b->object_key, s->parts[i].part_number);
			return false;
		}
	return sl_s3_multipart_complete(b->source, b->object_key, b->upload_id, s->parts, s->nparts, &s->error);
}

/* ----------------------------------------------------------------
 * Pages of events
 * ---------------------------------------------------------------- */

/* Set when the batch turned out not to be ours any more: the delivery just stops. */
static bool gone = false;

static void
batch_gone(SlBatch *b)
{
	gone = true;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("securitylake: batch " INT64_FORMAT " is no longer this worker's", b->id),
			 errdetail("Its source was dropped, or the extension dropped and created again, meanwhile.")));
}

/* Before the object is completed: is the batch still ours? (own step) */
static void
check_still_held(SlBatch *b)
{
	bool		held;

	sl_begin_step("securitylake: checking a batch");
	held = sl_batch_still_held(b);
	sl_end_step();
	if (!held)
		batch_gone(b);
}

typedef struct PageSlot
{
	int64		id;
	int			pos;
} PageSlot;

static int
compare_slots(const void *a, const void *b)
{
	int64		x = ((const PageSlot *) a)->id;
	int64		y = ((const PageSlot *) b)->id;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Where the page starting at from ends (at least one event). */
static int
page_end(SlBatch *b, int from)
{
	int64		bytes = 0;
	int			to = from;

	while (to < b->nids && to - from < PAGE_ROWS && (to == from || bytes + b->sizes[to] <= PAGE_BYTES))
		bytes += b->sizes[to++];
	return to;
}

/*
 * The rows SPI returned, as (id, event, ctid): each event copied into cxt at
 * its slot's place in events[], its TID noted for the delete. Returns how
 * many slots they filled.
 */
static int
take_rows(SlBatch *b, int from, PageSlot *slots, int n, Jsonb **events, MemoryContext cxt)
{
	int			found = 0;
	uint64		r;

	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		PageSlot	key;
		PageSlot   *hit;
		bool		isnull;
		Datum		event;
		MemoryContext old;

		key.id = sl_int8_col(tup, desc, 1, 0);
		hit = bsearch(&key, slots, n, sizeof(PageSlot), compare_slots);
		if (hit == NULL || events[hit->pos] != NULL)
			continue;
		event = SPI_getbinval(tup, desc, 2, &isnull);
		if (isnull)
			continue;			/* no event to deliver (a column swapped by a superuser): the row is left alone */
		old = MemoryContextSwitchTo(cxt);
		events[hit->pos] = DatumGetJsonbPCopy(event);
		MemoryContextSwitchTo(old);
		b->tids[from + hit->pos] = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 3, &isnull));
		found++;
	}
	return found;
}

/* The queue's attributes the page read needs, by name (its columns have a fixed order, checked here anyway). */
typedef struct QueueColumns
{
	AttrNumber	id;
	AttrNumber	route_key;
	AttrNumber	event;
	AttrNumber	max;
} QueueColumns;

static bool
queue_columns(Relation rel, QueueColumns *cols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	memset(cols, 0, sizeof(*cols));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), "id") == 0 && att->atttypid == INT8OID)
			cols->id = att->attnum;
		else if (strcmp(NameStr(att->attname), "route_key") == 0 && att->atttypid == TEXTOID)
			cols->route_key = att->attnum;
		else if (strcmp(NameStr(att->attname), "event") == 0 && att->atttypid == JSONBOID)
			cols->event = att->attnum;
	}
	cols->max = Max(cols->id, Max(cols->route_key, cols->event));
	return cols->id && cols->route_key && cols->event;
}

static bool
batch_has_key(SlBatch *b, text *key)
{
	int			len = VARSIZE_ANY_EXHDR(key);
	int			i;

	for (i = 0; i < b->nroute_keys; i++)
		if ((int) strlen(b->route_keys[i]) == len && memcmp(b->route_keys[i], VARDATA_ANY(key), len) == 0)
			return true;
	return false;
}

/*
 * The page's rows where the claim saw them, fetched from the heap directly
 * (table_tuple_fetch_row_version, the step's snapshot): no index, no plan, no
 * copy of the row into an SPI tuple table. A row counts only when the TID
 * still holds a visible row with the batch's key and the very id expected
 * at that place. The worker's own grant is checked as SPI would; a queue with
 * row security enabled is read by the SQL path only (read_by_id). Returns how
 * many events were found.
 */
static int
read_by_tid(SlBatch *b, int from, int n, Jsonb **events, MemoryContext cxt)
{
	Oid			relid = RangeVarGetRelid(makeRangeVar("securitylake", "queue", -1), AccessShareLock, false);
	Relation	rel;
	QueueColumns cols;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	BlockNumber nblocks;
	int			found = 0;
	int			i;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, "queue");
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		return 0;
	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION || !queue_columns(rel, &cols))
	{
		table_close(rel, AccessShareLock);
		return 0;
	}
	CommandCounterIncrement();	/* the rejects just dead-lettered are gone to it */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(rel, NULL);
	nblocks = RelationGetNumberOfBlocks(rel);
	for (i = 0; i < n; i++)
	{
		ItemPointerData tid = b->tids[from + i];
		bool		isnull;
		Datum		d;
		MemoryContext old;

		/* A TID past the end (the table was rewritten smaller) is no row. */
		if (!ItemPointerIsValid(&tid) || ItemPointerGetBlockNumber(&tid) >= nblocks)
			continue;
		if (!table_tuple_fetch_row_version(rel, &tid, snapshot, slot))
			continue;
		slot_getsomeattrs(slot, cols.max);
		d = slot_getattr(slot, cols.id, &isnull);
		if (isnull || DatumGetInt64(d) != b->ids[from + i])
			continue;
		d = slot_getattr(slot, cols.route_key, &isnull);
		if (isnull || !batch_has_key(b, DatumGetTextPP(d)))
			continue;
		d = slot_getattr(slot, cols.event, &isnull);
		if (isnull)
			continue;
		old = MemoryContextSwitchTo(cxt);
		events[i] = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(old);
		found++;
	}
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	table_close(rel, NoLock);	/* the lock lasts as SPI's would: to the end of the step */
	return found;
}

/* The page's rows not found yet, by id: one index probe each. */
static void
read_by_id(SlBatch *b, int from, PageSlot *slots, int n, Jsonb **events, MemoryContext cxt)
{
	int64	   *ids = palloc(sizeof(int64) * n);
	Oid			types[2] = {TEXTARRAYOID, INT8ARRAYOID};
	Datum		values[2];
	int			nids = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (events[slots[i].pos] == NULL)
			ids[nids++] = slots[i].id;
	values[0] = sl_batch_keys(b);
	values[1] = sl_int8_array(ids, nids);
	/*
	 * One index probe per id (the LATERAL subquery, kept apart by OFFSET 0,
	 * can only be the inner side): as a plain join, statistics from another
	 * moment could make the key's every row the outer side, each matched
	 * against the page's 2000 ids (17 s a page instead of 8 ms).
	 */
	sl_exec("SELECT i.id, q.event, q.tid FROM pg_catalog.unnest($2) AS i(id),"
			"       LATERAL (SELECT p.event, p.ctid AS tid FROM securitylake.queue p"
			"                 WHERE p.route_key OPERATOR(pg_catalog.=) ANY ($1)"
			"                   AND p.id OPERATOR(pg_catalog.=) i.id OFFSET 0) q",
			2, types, values, NULL, SPI_OK_SELECT);
	pfree(ids);
	(void) take_rows(b, from, slots, n, events, cxt);
}

/* The batch's TID hints, all unknown (a batch loaded from the table). */
static void
ensure_tids(SlBatch *b)
{
	int			i;

	if (b->tids != NULL)
		return;
	b->tids = MemoryContextAlloc(GetMemoryChunkContext(b), sizeof(ItemPointerData) * Max(b->nids, 1));
	for (i = 0; i < b->nids; i++)
		ItemPointerSetInvalid(&b->tids[i]);
}

/*
 * Read ids[from .. to) into events[] (record order), copied into cxt; a row
 * that is gone (dead-lettered by an earlier attempt) stays NULL. Rows are
 * looked for where the claim saw them first, then by id. The same short
 * transaction dead-letters the events refused so far.
 */
static void
read_page(SlBatch *b, int from, int to, Jsonb **events, MemoryContext cxt)
{
	int			n = to - from;
	PageSlot   *slots = palloc(sizeof(PageSlot) * n);
	int			found;
	int			i;

	sl_test_fault_point("page-read");
	ensure_tids(b);
	for (i = 0; i < n; i++)
	{
		slots[i].id = b->ids[from + i];
		slots[i].pos = i;
		events[i] = NULL;
	}
	qsort(slots, n, sizeof(PageSlot), compare_slots);
	sl_begin_step("securitylake: reading events");
	if (!sl_batch_still_held(b))
		batch_gone(b);
	sl_plan_index_probes();
	sl_batch_flush_rejects(b);
	found = read_by_tid(b, from, n, events, cxt);
	if (found < n)
		read_by_id(b, from, slots, n, events, cxt);
	/* A row found nowhere is gone: the delete does not look for it. */
	for (i = 0; i < n; i++)
		if (events[i] == NULL)
			ItemPointerSetInvalid(&b->tids[from + i]);
	sl_end_step();
	pfree(slots);
}

static void
add_reject(SlBatch *b, int64 id, char *reason)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(b));

	if (b->reject_ids == NULL)
	{
		b->reject_ids = palloc(sizeof(int64) * PAGE_ROWS);
		b->reject_reasons = palloc(sizeof(char *) * PAGE_ROWS);
	}
	b->reject_ids[b->nrejects] = id;
	b->reject_reasons[b->nrejects++] = pstrdup(reason);
	MemoryContextSwitchTo(old);
}

/* ----------------------------------------------------------------
 * The batch
 * ---------------------------------------------------------------- */

/* The object has reached its target size: close it here. */
static bool
object_full(SlEncoder *enc, int64 object_size)
{
	return (int64) (sl_encoder_bytes_written(enc) + sl_encoder_bytes_buffered(enc)) >= object_size;
}

/*
 * Encode the batch's events into enc, page by page, until they are all in or
 * the object is full; sets b->ndelivered. Raises an ERROR when the sink
 * failed (the stream holds why).
 */
static void
encode_events(SlBatch *b, SlEncoder *enc, ObjectStream *s)
{
	/*
	 * One block kept across pages: freed and allocated again for every page,
	 * its memory came back from the kernel each time, page fault by page
	 * fault (a twelfth of the worker's time).
	 */
	MemoryContext page_cxt = AllocSetContextCreate(CurrentMemoryContext, "securitylake page",
												   0, PAGE_BLOCK_SIZE, PAGE_BLOCK_SIZE);
	Jsonb	  **events = palloc(sizeof(Jsonb *) * PAGE_ROWS);
	int64		object_size = sl_object_size(b->source);
	int			from = 0;

	b->ndelivered = 0;
	b->delivered_raw = 0;
	while (from < b->nids)
	{
		int			to = page_end(b, from);
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (sl_stop_requested())
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("securitylake: delivery interrupted by a shutdown request")));
		read_page(b, from, to, events, page_cxt);
		pgstat_report_activity(STATE_RUNNING, "securitylake: encoding and uploading a batch");
		for (i = 0; i < to - from; i++)
		{
			char	   *reason = NULL;

			if (events[i] != NULL)
				sl_test_fault_event(events[i]);
			if (events[i] != NULL && !sl_encoder_add(enc, events[i], &reason))
			{
				add_reject(b, b->ids[from + i], reason);
				ItemPointerSetInvalid(&b->tids[from + i]);	/* dead-lettered, not deleted with the rest */
			}
			if (s->error)
				ereport(ERROR,
						(errcode(ERRCODE_IO_ERROR),
						 errmsg("securitylake: could not write the object: %s", s->error)));
			b->ndelivered = from + i + 1;
			b->delivered_raw += b->sizes[from + i];
			if (object_full(enc, object_size))
				break;
		}
		MemoryContextReset(page_cxt);
		if (b->ndelivered < to)
			break;				/* the object is full */
		from = to;
	}
	MemoryContextDelete(page_cxt);
}

/* The multipart upload an earlier attempt left behind: its parts must not linger. */
static bool
abort_earlier_upload(SlBatch *b, char **error)
{
	if (b->upload_id == NULL)
		return true;
	if (!sl_s3_multipart_abort(b->source, b->object_key, b->upload_id, error))
		return false;
	sl_batch_save_upload_id(b, NULL);
	return true;
}

/*
 * A batch whose upload failed before, or whose source is failing, starts its
 * multipart upload before any event is read: CreateMultipartUpload needs what
 * PutObject needs (credentials, the endpoint, s3:PutObject, the bucket's KMS
 * key), so while S3, STS or the role keep refusing, the attempt costs one
 * request instead of loading the batch's ids and reading and encoding its
 * events again, on the core the other sources' deliveries need. One try: the
 * source's own backoff spaces the next, and the client's retries (up to five,
 * with sleeps, or five connect timeouts against an endpoint that drops
 * packets) would hold the worker from every other source meanwhile.
 */
static bool
upload_first_if_failing(SlBatch *b, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *upload_id = NULL;

	if (b->attempts == 0 && b->source->failures == 0)
		return true;
	if (!sl_s3_multipart_create_once(b->source, b->object_key, &upload_id, error))
		return false;
	PG_TRY();
	{
		sl_batch_save_upload_id(b, upload_id);
	}
	PG_CATCH();
	{
		MemoryContext ecxt = MemoryContextSwitchTo(cxt);
		char	   *ignored;

		/* Not recorded (the batch is no longer ours): nobody would abort it later. */
		(void) sl_s3_multipart_abort(b->source, b->object_key, upload_id, &ignored);
		MemoryContextSwitchTo(ecxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return true;
}

static bool
prepare_upload(SlBatch *b, char **error)
{
	if (b->upload_ready)
		return true;
	if (!abort_earlier_upload(b, error) || !upload_first_if_failing(b, error))
		return false;
	b->upload_ready = true;
	return true;
}

/*
 * Before the ids are loaded. An ERROR recording the UploadId means the batch
 * is no longer this worker's (SL_BATCH_GONE); an attempt cut short by a
 * shutdown request is no failure of the source (SL_INTERRUPTED).
 */
SlDeliverResult
sl_deliver_prepare(SlBatch *b, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile SlDeliverResult result = SL_DELIVERED;

	*error = NULL;
	PG_TRY();
	{
		if (!prepare_upload(b, error))
			result = SL_UPLOAD_FAILED;
	}
	PG_CATCH();
	{
		ErrorData  *edata = sl_take_error(cxt);

		*error = edata->message;
		result = edata->sqlerrcode == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE ? SL_BATCH_GONE : SL_SOURCE_FAILED;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (result != SL_DELIVERED && result != SL_BATCH_GONE && sl_stop_requested())
		result = SL_INTERRUPTED;
	return result;
}

static SlDeliverResult
deliver(SlBatch *b, ObjectStream *s, SlEncoder **encp, char **error)
{
	pq_sink		sink;

	if (!prepare_upload(b, error))
		return SL_UPLOAD_FAILED;
	sink.write = sink_write;
	sink.ctx = s;
	*encp = sl_encoder_begin(b->source, sink);
	s->encoding = true;
	encode_events(b, *encp, s);
	sl_test_fault_point("claimed");
	sl_encoder_finish(*encp, &b->rows);
	*encp = NULL;
	s->encoding = false;
	if (s->error)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("securitylake: could not write the object: %s", s->error)));
	b->bytes = s->written;
	if (b->rows == 0 && !b->maybe_uploaded)
	{
		/* Every event was refused: no object, and no upload left open. */
		if (b->upload_id && !sl_s3_multipart_abort(b->source, b->object_key, b->upload_id, error))
			return SL_UPLOAD_FAILED;
		return SL_DELIVERED;
	}
	/*
	 * A pending batch's key may hold what an earlier attempt wrote (it
	 * crashed before its commit): the object is written again even with no
	 * record left, so the events now refused are not in the lake as well.
	 */
	check_still_held(b);
	pgstat_report_activity(STATE_RUNNING, "securitylake: uploading a batch");
	if (!finish_object(s))
	{
		*error = s->error;
		return SL_UPLOAD_FAILED;
	}
	sl_test_fault_point("uploaded");
	return SL_DELIVERED;
}

/*
 * Can an ERROR be the batch's events' doing? Not when it came before any
 * event was added (the source's schema, the encoder), nor when the server ran
 * short (memory, disk, connections), was told to stop, or a lock or
 * serialisation failed: splitting the batch would then blame good events.
 */
static bool
error_may_be_content(int sqlerrcode, bool encoding)
{
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_CONFIG_FILE_ERROR:
			return false;
		default:
			return encoding;
	}
}

SlDeliverResult
sl_deliver_batch(SlBatch *b, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(cxt, "securitylake delivery", ALLOCSET_DEFAULT_SIZES);
	ObjectStream s;
	SlEncoder  *volatile enc = NULL;
	volatile SlDeliverResult result;

	memset(&s, 0, sizeof(s));
	s.batch = b;
	s.cxt = work;
	gone = false;
	s.part_size = sl_s3_part_size();
	*error = NULL;
	MemoryContextSwitchTo(work);
	PG_TRY();
	{
		result = deliver(b, &s, (SlEncoder **) &enc, error);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* First: nothing below may raise while a thread still reads the part. */
		sl_s3_upload_part_abandon();
		edata = sl_take_error(cxt);
		if (enc != NULL)
			sl_encoder_abandon(enc);
		if (gone)
		{
			*error = edata->message;
			result = SL_BATCH_GONE;
		}
		else if (s.error && s.transport)
		{
			*error = pstrdup(s.error);
			result = SL_UPLOAD_FAILED;
		}
		else if (s.error)
		{
			/* The sink failed (recording the UploadId, memory): the writer broke, not the events. */
			*error = pstrdup(s.error);
			result = SL_SOURCE_FAILED;
		}
		else if (edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN || edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			*error = edata->message;
			result = SL_INTERRUPTED;
		}
		else
		{
			*error = edata->detail ? psprintf("%s: %s", edata->message, edata->detail) : edata->message;
			result = error_may_be_content(edata->sqlerrcode, s.encoding) ? SL_ENCODE_FAILED : SL_SOURCE_FAILED;
		}
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);

	/*
	 * No path returns with a part in flight (the catch above abandons it, the
	 * others wait for it); kept so that none ever does before its buffer is
	 * freed and its upload aborted below.
	 */
	sl_s3_upload_part_abandon();
	/* An upload cut short by a shutdown request is no failure of the source. */
	if (result != SL_DELIVERED && result != SL_BATCH_GONE && sl_stop_requested())
		result = SL_INTERRUPTED;
	if (*error)
		*error = pstrdup(*error);
	if (result != SL_DELIVERED && result != SL_BATCH_GONE && b->upload_id != NULL)
	{
		char	   *ignored;

		/* Best effort: the next attempt aborts it anyway (the id is recorded). */
		(void) sl_s3_multipart_abort(b->source, b->object_key, b->upload_id, &ignored);
	}
	MemoryContextDelete(work);
	return result;
}

/*
 * Write an object with no record to the batch's key: before a batch that an
 * earlier attempt may have written is split (its halves get keys of their
 * own) or its last event dead-lettered, what that attempt left at the key
 * must go. False with *error when the upload failed.
 */
bool
sl_deliver_empty_object(SlBatch *b, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(cxt, "securitylake empty object", ALLOCSET_SMALL_SIZES);
	pq_buffer	buf;
	SlEncoder  *enc;
	int64		rows;
	bool		ok;

	MemoryContextSwitchTo(work);
	pq_buffer_init(&buf, NULL);
	enc = sl_encoder_begin(b->source, pq_buffer_sink(&buf));
	sl_encoder_finish(enc, &rows);
	ok = sl_s3_put(b->source, b->object_key, buf.data, buf.len, error);
	pq_buffer_free(&buf);
	MemoryContextSwitchTo(cxt);
	if (!ok)
		*error = pstrdup(*error);
	MemoryContextDelete(work);
	return ok;
}
