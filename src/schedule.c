/*-------------------------------------------------------------------------
 *
 * schedule.c
 *		When a source is due, and where its next claim starts.
 *
 * A source is drained when a threshold is reached — batch_record_count rows
 * (when set), batch_data_size raw bytes, or raw bytes enough for an object of
 * object_size (256 MB by default, estimated from what its earlier objects
 * weighed per raw byte) — or when publish_rate has passed since its last
 * drain, whichever first; or when flush() asks. A failing source waits for its
 * backoff (flush() overrides it once).
 *
 * Arrivals are counted per routing key from the last counted id upwards, up to
 * the highest id the queue's sequence has handed out: an index range scan over
 * the new rows only. Ids are not trusted to only grow: a superuser can reset the
 * sequence (the counted position is then above it and starts over) or write a
 * row with any id (OVERRIDING SYSTEM VALUE, a restore). Rows above the sequence
 * are counted apart, from a position of their own (a probe past the sequence,
 * empty but for them): a row with id 2^63-1 does not hide the rows below it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "schedule.h"
#include "securitylake.h"
#include "step.h"

/* Room for a 64-character source name or routing key, and the terminator. */
#define SL_NAME_SIZE 72

/*
 * How many new rows one look counts per key (the rest on the next cycle), in
 * statements of COUNT_CHUNK rows: counting stops early when the source is due
 * anyway or a flush() asks the worker for a drain.
 */
#define COUNT_LIMIT 200000
#define COUNT_CHUNK 20000

/* A claim from the queue's head once a minute picks up rows that committed late. */
#define CLAIM_HEAD_INTERVAL_MS (60 * 1000)

typedef struct SlKeyRuntime
{
	char		key[SL_NAME_SIZE];
	int64		counted_upto;	/* ids up to here are counted */
	int64		counted_above;	/* ... and above the sequence, up to here */
	int64		claimed_upto;	/* the highest id a claim took: rows up to it need no count */
	int64		claim_from;		/* next claim starts here (0: from the head) */
	TimestampTz claim_from_since;	/* when claim_from left 0 */
} SlKeyRuntime;

typedef struct SlSourceRuntime
{
	char		name[SL_NAME_SIZE];
	TimestampTz last_drain_at;
	int64		queued_rows;	/* arrived since the last drain */
	int64		queued_raw;
	double		object_per_raw; /* object bytes per raw JSON byte (moving average) */
	SlKeyRuntime keys[2];
} SlSourceRuntime;

static HTAB *runtime_by_name = NULL;

static SlSourceRuntime *
runtime_of(SlSource *source)
{
	bool		found;
	SlSourceRuntime *rt;
	char		name[SL_NAME_SIZE];

	if (runtime_by_name == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = SL_NAME_SIZE;
		ctl.entrysize = sizeof(SlSourceRuntime);
		runtime_by_name = hash_create("securitylake sources", 64, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	memset(name, 0, sizeof(name));
	strlcpy(name, source->name, sizeof(name));
	rt = hash_search(runtime_by_name, name, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) rt) + SL_NAME_SIZE, 0, sizeof(*rt) - SL_NAME_SIZE);
		rt->last_drain_at = GetCurrentTimestamp();	/* first drain one publish period from now */
		rt->object_per_raw = 0.1;	/* OCSF JSON → zstd Parquet: about 10x, until measured */
	}
	return rt;
}

/* The runtime of the source's key number i, reset when the source's keys changed. */
static SlKeyRuntime *
key_runtime(SlSource *source, int i)
{
	SlKeyRuntime *k = &runtime_of(source)->keys[i];

	if (strcmp(k->key, source->route_keys[i]) != 0)
	{
		memset(k, 0, sizeof(*k));
		strlcpy(k->key, source->route_keys[i], sizeof(k->key));
	}
	return k;
}

void
sl_schedule_forget(void)
{
	if (runtime_by_name != NULL)
	{
		hash_destroy(runtime_by_name);
		runtime_by_name = NULL;
	}
}

int64
sl_object_size(SlSource *source)
{
	return sl_option_int64(source, "object_size", SL_DEFAULT_OBJECT_SIZE);
}

/*
 * Rows, raw bytes and the highest id of a key's rows with ids in (above, upto]
 * (one index range scan in id order, at most limit rows; sl_plan_index_probes
 * is in force: from statistics taken before a COPY the planner read the
 * range as a bitmap scan and sorted every event, spilled to disk, to count).
 */
static void
count_key(const char *key, int64 above, int64 upto, int64 limit, int64 *rows, int64 *raw, int64 *max_id)
{
	Oid			types[4] = {TEXTOID, INT8OID, INT8OID, INT8OID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(key);
	values[1] = Int64GetDatum(above);
	values[2] = Int64GetDatum(limit);
	values[3] = Int64GetDatum(upto);
	sl_exec("SELECT pg_catalog.count(*), CAST(pg_catalog.sum(securitylake._raw_size(n.event)) AS pg_catalog.int8),"
			"       pg_catalog.max(n.id)"
			"  FROM (SELECT q.id, q.event FROM securitylake.queue q"
			"         WHERE q.route_key OPERATOR(pg_catalog.=) $1 AND q.id OPERATOR(pg_catalog.>) $2"
			"           AND q.id OPERATOR(pg_catalog.<=) $4"
			"         ORDER BY q.id LIMIT $3) n",
			4, types, values, NULL, SPI_OK_SELECT);
	*rows = sl_int8_col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, 0);
	*raw = sl_int8_col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, 0);
	*max_id = sl_int8_col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, 0);
}

/* The highest queue id the sequence has handed out (0: none yet). */
static int64
queue_high_water(void)
{
	sl_exec("SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END FROM securitylake.queue_id_seq s",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	return SPI_processed ? sl_int8_col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, 0) : 0;
}

/* Has the source reached a size threshold (its publish rate aside)? */
static bool
thresholds_reached(SlSource *source, SlSourceRuntime *rt)
{
	return (source->batch_record_count > 0 && rt->queued_rows >= source->batch_record_count) ||
		rt->queued_raw >= source->batch_data_size ||
		rt->queued_raw >= sl_raw_bytes_per_object(source);
}

/*
 * Count a key's rows in (*position, upto] into the source's counters, a
 * chunk at a time, up to *budget rows; *position moves to the last row
 * counted. Stops once the source is due anyway or a flush() is waiting.
 */
static void
count_range(SlSource *source, SlSourceRuntime *rt, const char *key, int64 *position, int64 upto, int64 *budget)
{
	while (*budget > 0)
	{
		int64		chunk = Min(COUNT_CHUNK, *budget);
		int64		rows,
					raw,
					max_id;

		count_key(key, *position, upto, chunk, &rows, &raw, &max_id);
		if (rows == 0)
			return;
		rt->queued_rows += rows;
		rt->queued_raw += raw;
		*position = max_id;
		*budget -= rows;
		if (rows < chunk || thresholds_reached(source, rt) || sl_flush_asked())
			return;
	}
}

void
sl_count_arrivals(SlSource *source)
{
	SlSourceRuntime *rt = runtime_of(source);
	int64		high;
	int			i;

	sl_begin_step("securitylake: counting new events");
	sl_plan_index_probes();
	high = queue_high_water();
	/*
	 * Each key gets one chunk at least, whatever flush() calls keep coming:
	 * a client flushing one source in a loop must not keep the others from
	 * ever reaching their thresholds.
	 */
	for (i = 0; i < source->nroute_keys && !thresholds_reached(source, rt); i++)
	{
		SlKeyRuntime *k = key_runtime(source, i);
		int64		budget = COUNT_LIMIT;
		int64		budget_above = COUNT_LIMIT;

		if (k->counted_upto > high)
		{
			/* Ids went backwards (the sequence was reset): count afresh. */
			k->counted_upto = 0;
			k->counted_above = 0;
			k->claimed_upto = 0;
			k->claim_from = 0;
		}
		/*
		 * Rows a claim took are not counted: after a drain, counting from
		 * before them would walk their index entries, dead but not yet
		 * prunable, one by one.
		 */
		if (k->claimed_upto > k->counted_upto && k->claimed_upto <= high)
			k->counted_upto = k->claimed_upto;
		count_range(source, rt, k->key, &k->counted_upto, high, &budget);
		/* Rows above the sequence (written with an id of their own). */
		k->counted_above = Max(high, k->counted_above);
		count_range(source, rt, k->key, &k->counted_above, PG_INT64_MAX, &budget_above);
	}
	sl_end_step();
}

int64
sl_raw_bytes_per_object(SlSource *source)
{
	SlSourceRuntime *rt = runtime_of(source);
	double		raw = (double) sl_object_size(source) / Max(rt->object_per_raw, 0.001);

	return (int64) Min(raw, (double) PG_INT64_MAX / 2);
}

bool
sl_source_due(SlSource *source, TimestampTz now, bool flush)
{
	SlSourceRuntime *rt;

	if (!source->enabled)
		return false;
	if (flush)
		return true;
	if (source->next_attempt_at > now)
		return false;
	rt = runtime_of(source);
	return thresholds_reached(source, rt) ||
		TimestampDifferenceExceeds(rt->last_drain_at, now, (int) Min(source->publish_rate_ms, INT_MAX));
}

TimestampTz
sl_source_next_due(SlSource *source)
{
	TimestampTz publish = runtime_of(source)->last_drain_at + source->publish_rate_ms * 1000;

	return Max(publish, source->next_attempt_at);
}

int64
sl_claim_start(SlSource *source, int key)
{
	SlKeyRuntime *k = key_runtime(source, key);

	if (k->claim_from > 0 &&
		TimestampDifferenceExceeds(k->claim_from_since, GetCurrentTimestamp(), CLAIM_HEAD_INTERVAL_MS))
		k->claim_from = 0;
	return k->claim_from;
}

void
sl_note_claimed(SlSource *source, int key, int64 last_id)
{
	SlKeyRuntime *k = key_runtime(source, key);

	k->claimed_upto = Max(k->claimed_upto, last_id);
}

void
sl_claim_continue_after(SlSource *source, int key, int64 last_id)
{
	SlKeyRuntime *k = key_runtime(source, key);

	if (last_id == PG_INT64_MAX)
	{
		k->claim_from = 0;		/* nothing can follow it */
		return;
	}
	if (k->claim_from == 0)
		k->claim_from_since = GetCurrentTimestamp();
	k->claim_from = last_id + 1;
}

void
sl_claim_from_head(SlSource *source, int key)
{
	key_runtime(source, key)->claim_from = 0;
}

void
sl_source_drained(SlSource *source)
{
	SlSourceRuntime *rt = runtime_of(source);

	rt->last_drain_at = GetCurrentTimestamp();
	rt->queued_rows = 0;
	rt->queued_raw = 0;
}

void
sl_note_object(SlSource *source, int64 raw_bytes, int64 object_bytes)
{
	SlSourceRuntime *rt = runtime_of(source);
	double		ratio;

	if (raw_bytes < 1024 * 1024 || object_bytes <= 0)
		return;					/* too small to say much */
	ratio = (double) object_bytes / (double) raw_bytes;
	rt->object_per_raw = 0.5 * rt->object_per_raw + 0.5 * ratio;
}

/*
 * securitylake._raw_size(jsonb): the event's JSON size before compression,
 * from its header: not decompressed, not fetched from TOAST.
 */
PG_FUNCTION_INFO_V1(securitylake_raw_size);
Datum
securitylake_raw_size(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) toast_raw_datum_size(PG_GETARG_DATUM(0)));
}
