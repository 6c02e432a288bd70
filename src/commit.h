/*-------------------------------------------------------------------------
 *
 * commit.h
 *		Step 3 of a delivery: in one transaction, the delivered rows are
 *		deleted, the refused ones dead-lettered, the upload logged and the
 *		batch forgotten.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_COMMIT_H
#define SECURITYLAKE_COMMIT_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* Commit delivered batches of one source (the batches of one claim, or one pending batch). */
extern void sl_commit_batches(List *batches);

#endif							/* SECURITYLAKE_COMMIT_H */
