/*-------------------------------------------------------------------------
 *
 * claim.c
 *		Step 1: claim. In one short transaction, read a source's queued rows
 *		of one routing key oldest first, check each event's rules (its size
 *		before it is decompressed, its time, class and partition), group the
 *		good ones by partition (region, account, eventDay) and record each
 *		group as a batch: its object key and its ids in record order (time,
 *		then id) — committed before anything is uploaded.
 *
 * Claims of one source are serialised with a row lock on its source_state
 * row (FOR UPDATE SKIP LOCKED: only the workers' role may lock it), and a
 * source with batches still pending claims nothing new: its pending batches
 * are delivered first (batches.c), so no two batches ever hold one row.
 *
 * What a claim keeps in memory is 16 bytes, a size and a TID per row: its
 * events are read again, a page at a time, when the batch is encoded, by the
 * TIDs the claim saw (deliver.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "batches.h"
#include "claim.h"
#include "event_rules.h"
#include "schedule.h"
#include "securitylake.h"
#include "step.h"

/* How many queue rows one SPI fetch brings while claiming. */
#define CLAIM_FETCH_ROWS 1000
/* Rejected rows are dead-lettered in groups of this many, to bound memory. */
#define REJECT_FLUSH 10000

typedef struct ClaimEntry
{
	int64		time_ms;
	int64		id;
	int32		size;
	ItemPointerData tid;
} ClaimEntry;

/* The rows of one partition gathered by a claim. */
typedef struct ClaimPartition
{
	SlBatch    *batch;
	ClaimEntry *entries;
	int			n;
	int			max;
} ClaimPartition;

typedef struct Claim
{
	SlSource   *source;
	const char *route_key;
	MemoryContext cxt;			/* the caller's: batches live on */
	ClaimPartition *parts;
	int			nparts;
	int64		rows;			/* rows looked at */
	int64		raw;			/* raw bytes of the good ones */
	int64		max_rows;
	int64		max_raw;
	int64		last_seen;		/* highest id looked at */
	/* rejected rows waiting to be dead-lettered */
	int64	   *reject_ids;
	char	  **reject_reasons;
	int			nrejects;
} Claim;

/* Is another worker claiming the source, or does it still have batches? (Takes the lock.) */
static bool
source_busy(SlSource *source)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(source->name)};

	sl_exec("INSERT INTO securitylake.source_state (source) VALUES ($1) ON CONFLICT (source) DO NOTHING",
			1, types, values, NULL, SPI_OK_INSERT);
	sl_exec("SELECT 1 FROM securitylake.source_state st WHERE st.source OPERATOR(pg_catalog.=) $1"
			"   FOR UPDATE SKIP LOCKED",
			1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return true;
	sl_exec("SELECT 1 FROM securitylake.batch b WHERE b.source OPERATOR(pg_catalog.=) $1 LIMIT 1",
			1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

static void
flush_rejects(Claim *c)
{
	char	   *key = (char *) c->route_key;

	sl_dead_letter(c->source->name, &key, 1, c->reject_ids, c->reject_reasons, c->nrejects);
	c->nrejects = 0;
}

static void
add_reject(Claim *c, int64 id, const char *reason)
{
	MemoryContext old = MemoryContextSwitchTo(c->cxt);

	if (c->reject_ids == NULL)
	{
		c->reject_ids = palloc(sizeof(int64) * REJECT_FLUSH);
		c->reject_reasons = palloc(sizeof(char *) * REJECT_FLUSH);
	}
	c->reject_ids[c->nrejects] = id;
	c->reject_reasons[c->nrejects++] = pstrdup(reason);
	MemoryContextSwitchTo(old);
	if (c->nrejects == REJECT_FLUSH)
	{
		int			i;

		flush_rejects(c);
		for (i = 0; i < REJECT_FLUSH; i++)
			pfree(c->reject_reasons[i]);
	}
}

/* The partition an event goes to; NULL when the claim may open no more partitions. */
static ClaimPartition *
partition_for(Claim *c, const SlPartition *p)
{
	int			i;
	ClaimPartition *part;
	MemoryContext old;

	for (i = c->nparts - 1; i >= 0; i--)
	{
		SlBatch    *b = c->parts[i].batch;

		if (b->event_day == p->event_day && strcmp(b->region, p->region) == 0 &&
			strcmp(b->account_id, p->account_id) == 0)
			return &c->parts[i];
	}
	if (c->nparts == SL_MAX_CLAIM_PARTITIONS)
		return NULL;
	old = MemoryContextSwitchTo(c->cxt);
	if (c->parts == NULL)
		c->parts = palloc0(sizeof(ClaimPartition) * SL_MAX_CLAIM_PARTITIONS);
	part = &c->parts[c->nparts++];
	part->batch = sl_batch_new(c->source, c->route_key, p->region, p->account_id, p->event_day);
	part->max = 1024;
	part->entries = palloc(sizeof(ClaimEntry) * part->max);
	MemoryContextSwitchTo(old);
	return part;
}

static void
partition_add(ClaimPartition *part, int64 time_ms, int64 id, int32 size, ItemPointer tid)
{
	if (part->n == part->max)
	{
		part->max *= 2;
		part->entries = repalloc_huge(part->entries, sizeof(ClaimEntry) * part->max);
	}
	part->entries[part->n].time_ms = time_ms;
	part->entries[part->n].id = id;
	part->entries[part->n].size = size;
	ItemPointerCopy(tid, &part->entries[part->n].tid);
	part->n++;
}

/*
 * One queued row. False when the claim must stop before it (a partition more
 * than a claim may hold): the row stays queued for the next claim.
 */
static bool
claim_row(Claim *c, HeapTuple tup, TupleDesc desc, MemoryContext row_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(row_cxt);
	int64		id = sl_int8_col(tup, desc, 1, 0);
	bool		isnull;
	bool		tid_isnull;
	ItemPointer tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 5, &tid_isnull));
	Datum		event = SPI_getbinval(tup, desc, 2, &isnull);
	Size		raw = isnull ? 0 : sl_event_datum_size(event);
	SlPartition p;
	char	   *reason = NULL;
	ClaimPartition *part = NULL;
	bool		ok;

	/*
	 * The size first (from the header): a hostile event is refused before it
	 * is decompressed. No event at all takes a superuser's change of the
	 * column; it is dead-lettered, not a crash.
	 */
	if (isnull)
	{
		reason = "no event (NULL)";
		ok = false;
	}
	else if ((reason = sl_event_size_reason(c->source, raw)) != NULL)
		ok = false;
	else
		ok = sl_classify_event(c->source, DatumGetJsonbP(event), sl_text_or_null(tup, desc, 3),
							   sl_text_or_null(tup, desc, 4), &p, &reason);
	MemoryContextSwitchTo(old);
	if (!ok)
		add_reject(c, id, reason);
	else if ((part = partition_for(c, &p)) != NULL)
	{
		partition_add(part, p.time_ms, id, (int32) raw, tid);
		c->raw += raw;
	}
	MemoryContextReset(row_cxt);
	if (ok && part == NULL)
		return false;			/* no room for another partition: the row waits */
	c->rows++;
	c->last_seen = Max(c->last_seen, id);
	return true;
}

static int
compare_entries(const void *a, const void *b)
{
	const ClaimEntry *x = a;
	const ClaimEntry *y = b;

	if (x->time_ms != y->time_ms)
		return x->time_ms < y->time_ms ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/* Sort a partition's rows into record order and record its batch. */
static void
record_partition(Claim *c, ClaimPartition *part)
{
	SlBatch    *b = part->batch;
	MemoryContext old = MemoryContextSwitchTo(c->cxt);
	int			i;

	qsort(part->entries, part->n, sizeof(ClaimEntry), compare_entries);
	b->nids = part->n;
	b->ids = palloc(sizeof(int64) * Max(part->n, 1));
	b->sizes = palloc(sizeof(int32) * Max(part->n, 1));
	b->tids = palloc(sizeof(ItemPointerData) * Max(part->n, 1));
	for (i = 0; i < part->n; i++)
	{
		b->ids[i] = part->entries[i].id;
		b->sizes[i] = part->entries[i].size;
		b->tids[i] = part->entries[i].tid;
		b->raw_bytes += part->entries[i].size;
	}
	pfree(part->entries);
	part->entries = NULL;
	MemoryContextSwitchTo(old);
	sl_batch_record(b);
}

/* Read the rows: true when the claim stopped at a limit. */
static bool
read_rows(Claim *c, int64 from_id)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	Portal		portal;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "securitylake claim row",
												  ALLOCSET_DEFAULT_SIZES);
	bool		stopped = false;

	/*
	 * Oldest first through the primary key (route_key, id): the claim costs
	 * what it takes, never what other sources have queued. These settings
	 * last for this transaction only.
	 */
	sl_plan_index_probes();
	values[0] = CStringGetTextDatum(c->route_key);
	values[1] = Int64GetDatum(from_id);
	/*
	 * Not read-only: the cursor takes a snapshot of its own, after the
	 * source's lock was taken and its batches were checked. The step's
	 * snapshot is older: a batch another worker delivered and committed in
	 * between would still show its rows, and they would go out twice.
	 */
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT q.id, q.event, q.region, q.account_id, q.ctid"
									   "  FROM securitylake.queue q"
									   " WHERE q.route_key OPERATOR(pg_catalog.=) $1"
									   "   AND q.id OPERATOR(pg_catalog.>=) $2"
									   " ORDER BY q.id",
									   2, types, values, NULL, false, CURSOR_OPT_NO_SCROLL);
	while (!stopped)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, CLAIM_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed && !stopped; i++)
		{
			if (c->rows >= c->max_rows || c->raw >= c->max_raw ||
				!claim_row(c, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, row_cxt))
				stopped = true;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_cxt);
	return stopped;
}

static int64
max_rows_per_claim(SlSource *source)
{
	if (source->batch_record_count > 0)
		return Min(source->batch_record_count, SL_MAX_CLAIM_ROWS);
	return SL_MAX_CLAIM_ROWS;
}

SlClaimResult
sl_claim(SlSource *source, int key, int64 from_id, List **batches, int64 *last_id)
{
	Claim		c;
	bool		stopped;
	int			i;

	memset(&c, 0, sizeof(c));
	c.source = source;
	c.route_key = source->route_keys[key];
	c.cxt = CurrentMemoryContext;
	c.max_rows = max_rows_per_claim(source);
	c.max_raw = Min(source->batch_data_size, sl_raw_bytes_per_object(source));
	*batches = NIL;
	*last_id = 0;

	sl_begin_step("securitylake: claiming a batch");
	sl_test_fault_point("claim-begun");	/* the step's snapshot is taken */
	if (source_busy(source))
	{
		sl_end_step();
		return SL_CLAIM_BUSY;
	}
	stopped = read_rows(&c, from_id);
	flush_rejects(&c);
	for (i = 0; i < c.nparts; i++)
	{
		MemoryContext old;

		record_partition(&c, &c.parts[i]);
		old = MemoryContextSwitchTo(c.cxt);
		*batches = lappend(*batches, c.parts[i].batch);
		MemoryContextSwitchTo(old);
	}
	*last_id = c.last_seen;
	sl_end_step();
	return stopped ? SL_CLAIM_FULL : SL_CLAIM_DONE;
}
