/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		Shared state between flush() callers and the background workers:
 *		flush tickets and the workers' latches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SHMEM_H
#define SECURITYLAKE_SHMEM_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/latch.h"

#define SL_MAX_WORKERS 32

typedef struct SlWorkerSlot
{
	Latch	   *latch;			/* NULL while the worker is not running */
	pid_t		pid;
	Oid			database;
	pg_atomic_uint64 flush_done;	/* highest flush ticket whose drain cycle ended */
} SlWorkerSlot;

typedef struct SlShared
{
	pg_atomic_uint64 flush_requested;	/* ticket counter, bumped by flush() */
	SlWorkerSlot worker[SL_MAX_WORKERS];
} SlShared;

extern SlShared *sl_shared;
extern void sl_shmem_request(void);
extern bool sl_shmem_ready(void);
extern void sl_wake_workers(void);
extern bool sl_workers_done(Oid database, uint64 ticket);
extern int	sl_database_count(void);
extern char *sl_database_name(int i);

#endif							/* SECURITYLAKE_SHMEM_H */
