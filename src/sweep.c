/*-------------------------------------------------------------------------
 *
 * sweep.c
 *		Rows no source takes: a row naming a source that does not exist, or
 *		without a source and with a class_uid no source routes. They are
 *		moved to dead_letter with the reason, so nothing waits forever.
 *
 * The routing keys present in the queue come from a loose scan of its
 * primary key (securitylake._queued_keys(): one index probe per distinct
 * key), so a sweep costs the number of keys, not the number of rows; a key no
 * source takes is then moved in chunks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "securitylake.h"
#include "source.h"
#include "step.h"
#include "sweep.h"

/* Rows moved per statement, and keys looked at per sweep. */
#define SWEEP_CHUNK 10000
#define SWEEP_MAX_KEYS 1000

/* Routing keys no source takes (looked up live: a source created meanwhile counts). */
#define NO_SOURCE_TAKES(key) \
	"NOT EXISTS (SELECT 1 FROM securitylake.source s" \
	"             WHERE " key " OPERATOR(pg_catalog.=)" \
	"                   ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)))"

static List *
unroutable_keys(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	List	   *keys = NIL;
	uint64		i;

	values[0] = Int32GetDatum(SWEEP_MAX_KEYS);
	sl_begin_step("securitylake: looking for events no source takes");
	sl_exec("SELECT k.key FROM securitylake._queued_keys() AS k(key)"
			" WHERE " NO_SOURCE_TAKES("k.key") " LIMIT $1",
			1, types, values, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		keys = lappend(keys, sl_text_or_null(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	sl_end_step();
	return keys;
}

/* Move up to SWEEP_CHUNK rows of the key; returns how many moved. */
static uint64
move_chunk(const char *key)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	uint64		moved;

	values[0] = CStringGetTextDatum(key);
	values[1] = Int32GetDatum(SWEEP_CHUNK);
	sl_begin_step("securitylake: dead-lettering events no source takes");
	sl_exec("WITH moved AS (DELETE FROM securitylake.queue q"
			"                WHERE q.route_key OPERATOR(pg_catalog.=) $1"
			"                  AND q.id OPERATOR(pg_catalog.=) ANY (ARRAY("
			"                      SELECT p.id FROM securitylake.queue p"
			"                       WHERE p.route_key OPERATOR(pg_catalog.=) $1 ORDER BY p.id LIMIT $2))"
			"                  AND " NO_SOURCE_TAKES("$1")
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
	return moved;
}

void
sl_sweep_unroutable(void)
{
	List	   *keys = unroutable_keys();
	ListCell   *lc;

	foreach(lc, keys)
	{
		const char *key = lfirst(lc);

		while (!sl_stop_requested() && move_chunk(key) == SWEEP_CHUNK)
			;
	}
}
