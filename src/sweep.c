/*-------------------------------------------------------------------------
 *
 * sweep.c
 *		Rows no source takes: a row naming a source that does not exist, or
 *		without a source and with a class_uid no source routes. They are
 *		moved to dead_letter with the reason, so nothing waits forever.
 *
 * The routing keys present in the queue come from a loose scan of its
 * primary key (securitylake._queued_keys(): one index probe per distinct
 * key), so a sweep costs the number of keys, not the number of rows; the keys
 * no source takes are moved a thousand keys and ten thousand rows a statement
 * (a writer inserting a row under each of 200,000 made-up source names costs
 * the sweep 200 statements).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"

#include "securitylake.h"
#include "shmem.h"
#include "source.h"
#include "step.h"
#include "sweep.h"

/* Keys looked at, and rows moved, per statement. */
#define SWEEP_KEYS 1000
#define SWEEP_ROWS 10000

/*
 * A key no source takes (looked up live: a source created meanwhile counts),
 * and no batch holds (a batch claimed under a routing the admin changed since
 * is delivered as claimed: its rows must not be dead-lettered under it).
 */
#define UNROUTABLE(key) \
	"NOT EXISTS (SELECT 1 FROM securitylake.source s" \
	"             WHERE " key " OPERATOR(pg_catalog.=)" \
	"                   ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)))" \
	" AND NOT EXISTS (SELECT 1 FROM securitylake.batch b WHERE " key " OPERATOR(pg_catalog.=) ANY (b.route_keys))"

/* Up to SWEEP_KEYS unroutable keys after `after` (NULL: from the first), as a text[]; NULL when none. */
static Datum
unroutable_keys(const char *after, char **last)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {after ? ' ' : 'n', ' '};
	Datum		keys = (Datum) 0;
	bool		isnull = true;

	values[0] = after ? CStringGetTextDatum(after) : (Datum) 0;
	values[1] = Int32GetDatum(SWEEP_KEYS);
	sl_begin_step("securitylake: looking for events no source takes");
	sl_exec("SELECT pg_catalog.array_agg(u.key ORDER BY u.key), pg_catalog.max(u.key) FROM ("
			"  SELECT k.key FROM securitylake._queued_keys($1) AS k(key)"
			"   WHERE " UNROUTABLE("k.key") " LIMIT $2) u",
			2, types, values, nulls, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		keys = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			keys = datumCopy(keys, false, -1);
			*last = sl_text_or_null(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		}
		MemoryContextSwitchTo(old);
	}
	sl_end_step();
	return isnull ? (Datum) 0 : keys;
}

/* Move up to SWEEP_ROWS rows of these keys; returns how many moved. */
static uint64
move_rows(Datum keys)
{
	Oid			types[2] = {TEXTARRAYOID, INT4OID};
	Datum		values[2];
	uint64		moved;

	values[0] = keys;
	values[1] = Int32GetDatum(SWEEP_ROWS);
	sl_begin_step("securitylake: dead-lettering events no source takes");
	sl_exec("WITH moved AS (DELETE FROM securitylake.queue q"
			"                WHERE q.route_key OPERATOR(pg_catalog.=) ANY ($1)"
			"                  AND q.id OPERATOR(pg_catalog.=) ANY (ARRAY("
			"                      SELECT p.id FROM securitylake.queue p"
			"                       WHERE p.route_key OPERATOR(pg_catalog.=) ANY ($1) LIMIT $2))"
			"                  AND " UNROUTABLE("q.route_key")
			"            RETURNING q.*)"
			"INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)"
			"SELECT m.source, m.event, m.region, m.account_id,"
			"       CASE WHEN m.source IS NOT NULL THEN pg_catalog.format('no source named %s', m.source)"
			"            WHEN pg_catalog.jsonb_typeof(m.event OPERATOR(pg_catalog.->) 'class_uid') IS NULL"
			"            THEN 'missing required attribute class_uid'"
			"            ELSE pg_catalog.format('no source for class_uid %s', m.event OPERATOR(pg_catalog.->) 'class_uid') END,"
			"       m.enqueued_at FROM moved m",
			2, types, values, NULL, SPI_OK_INSERT);
	moved = SPI_processed;
	sl_end_step();
	if (moved > 0)
		sl_note_progress();
	return moved;
}

void
sl_sweep_unroutable(int max_ms)
{
	TimestampTz start = GetCurrentTimestamp();
	char	   *after = NULL;
	Datum		keys;

#define SWEEP_GOES_ON() \
	(!sl_stop_requested() && !TimestampDifferenceExceeds(start, GetCurrentTimestamp(), max_ms))

	while (SWEEP_GOES_ON() && (keys = unroutable_keys(after, &after)) != (Datum) 0)
	{
		while (SWEEP_GOES_ON() && move_rows(keys) == SWEEP_ROWS)
			;
	}
}
