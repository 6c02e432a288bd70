/*-------------------------------------------------------------------------
 *
 * keys.h
 *		Object keys, unique to the writer and the claim.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_KEYS_H
#define SECURITYLAKE_KEYS_H

#include "postgres.h"

extern char *sl_object_key(const char *prefix, const char *region, const char *account_id,
						   int32 event_day, int64 batch_id, uint64 nonce);

#endif							/* SECURITYLAKE_KEYS_H */
