/*-------------------------------------------------------------------------
 *
 * backpressure.c
 *		The backpressure trigger's verdict (sql/install/10-config.sql), kept
 *		for one second in this backend's own memory: which sources are over
 *		their max_queued_rows. Only the trigger (SECURITY DEFINER) may call
 *		these; a producer cannot read or forge the verdict.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define VERDICT_LIFETIME_MS 1000

static ArrayType *verdict = NULL;	/* in TopMemoryContext */
static TimestampTz verdict_at = 0;

/* securitylake._bp_cached(): the verdict of the last second, or NULL. */
PG_FUNCTION_INFO_V1(securitylake_bp_cached);
Datum
securitylake_bp_cached(PG_FUNCTION_ARGS)
{
	if (verdict == NULL ||
		TimestampDifferenceExceeds(verdict_at, GetCurrentTimestamp(), VERDICT_LIFETIME_MS))
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(verdict);
}

/* securitylake._bp_remember(over text[]): keep it (NULL forgets it). */
PG_FUNCTION_INFO_V1(securitylake_bp_remember);
Datum
securitylake_bp_remember(PG_FUNCTION_ARGS)
{
	if (verdict != NULL)
		pfree(verdict);
	verdict = NULL;
	if (!PG_ARGISNULL(0))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);

		verdict = MemoryContextAlloc(TopMemoryContext, VARSIZE(a));
		memcpy(verdict, a, VARSIZE(a));
		verdict_at = GetCurrentTimestamp();
	}
	PG_RETURN_VOID();
}
