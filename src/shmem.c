/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Shared state between flush() callers and the background workers:
 *		flush tickets and the workers' latches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "securitylake.h"
#include "shmem.h"

SlShared   *sl_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
sl_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SlShared)));
}

static void
sl_shmem_startup_hook(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	sl_shared = ShmemInitStruct("securitylake", sizeof(SlShared), &found);
	if (!found)
	{
		int			i;

		memset(sl_shared, 0, sizeof(SlShared));
		pg_atomic_init_u64(&sl_shared->flush_requested, 0);
		for (i = 0; i < SL_MAX_WORKERS; i++)
			pg_atomic_init_u64(&sl_shared->worker[i].flush_done, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
sl_shmem_request(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = sl_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = sl_shmem_startup_hook;
}

/* True when the extension was preloaded and its workers can be woken. */
bool
sl_shmem_ready(void)
{
	return sl_shared != NULL && sl_workers > 0;
}

void
sl_wake_workers(void)
{
	int			i;

	for (i = 0; i < SL_MAX_WORKERS; i++)
	{
		Latch	   *latch = sl_shared->worker[i].latch;

		if (latch != NULL)
			SetLatch(latch);
	}
}

/*
 * Every running worker of DATABASE has finished a drain cycle that began
 * after TICKET was requested. False while none runs there (it may be
 * starting); flush() keeps polling the queue meanwhile.
 */
bool
sl_workers_done(Oid database, uint64 ticket)
{
	int			i;
	bool		any = false;

	for (i = 0; i < SL_MAX_WORKERS; i++)
	{
		SlWorkerSlot *slot = &sl_shared->worker[i];

		if (slot->latch == NULL || slot->database != database)
			continue;
		any = true;
		if (pg_atomic_read_u64(&slot->flush_done) < ticket)
			return false;
	}
	return any;
}
