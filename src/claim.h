/*-------------------------------------------------------------------------
 *
 * claim.h
 *		Step 1 of a delivery: claim a source's queued rows of one routing key
 *		into batches (one per partition), each recorded with its object key
 *		and its ids in record order, in one committed transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_CLAIM_H
#define SECURITYLAKE_CLAIM_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "source.h"

/* At most this many records per claim: the claim sorts (time, id, size) in memory. */
#define SL_MAX_CLAIM_ROWS 2000000
/* At most this many partitions per claim (one object each). */
#define SL_MAX_CLAIM_PARTITIONS 256

typedef enum SlClaimResult
{
	SL_CLAIM_DONE,				/* took every row there was (*batches may be NIL) */
	SL_CLAIM_FULL,				/* stopped at a limit: more rows wait */
	SL_CLAIM_BUSY				/* another worker claims this source, or it has pending batches */
} SlClaimResult;

/*
 * Claim the source's rows of routing key number `key` with id >= from_id,
 * oldest first. *last_id is the highest id looked at. Rows that break an
 * event rule (size, time, partition) are dead-lettered in the same
 * transaction.
 */
extern SlClaimResult sl_claim(SlSource *source, int key, int64 from_id, List **batches, int64 *last_id);

#endif							/* SECURITYLAKE_CLAIM_H */
