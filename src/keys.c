/*-------------------------------------------------------------------------
 *
 * keys.c
 *		Object keys: where a batch's object goes in the lake.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "pgtime.h"

#include "keys.h"

/*
 * The object key of a batch. Unique to the writer and the claim: the cluster's
 * system identifier, the database OID, the batch id and a random nonce drawn at
 * claim time. The key is persisted with the claim, so a retry reuses it; a
 * restored backup or a promoted replica shares the first three but draws new
 * nonces.
 */
char *
sl_object_key(const char *prefix, const char *region, const char *account_id, int32 event_day,
			  int64 batch_id, uint64 nonce)
{
	pg_time_t	t = (pg_time_t) event_day * SECS_PER_DAY;
	struct pg_tm *tm = pg_gmtime(&t);

	return psprintf("%sregion=%s/accountId=%s/eventDay=%04d%02d%02d/%016llx-%u-%lld-%016llx.parquet",
					prefix, region, account_id,
					tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
					(unsigned long long) GetSystemIdentifier(), MyDatabaseId,
					(long long) batch_id, (unsigned long long) nonce);
}

