/*-------------------------------------------------------------------------
 *
 * sweep.h
 *		Queued rows that no source takes go to dead_letter with the reason.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SWEEP_H
#define SECURITYLAKE_SWEEP_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* Dead-letter the rows whose routing key no source takes, for at most max_ms (own steps). */
extern void sl_sweep_unroutable(int max_ms);

#endif							/* SECURITYLAKE_SWEEP_H */
