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
		SpinLockInit(&sl_shared->flush_mutex);
		for (i = 0; i < SL_MAX_WORKERS; i++)
			pg_atomic_init_u64(&sl_shared->worker[i].flush_done, 0);
		pg_atomic_init_u64(&sl_shared->progress, 0);
		ConditionVariableInit(&sl_shared->progress_cv);
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

/* A worker took rows off the queue or ended a cycle: wake the flush() callers waiting. */
void
sl_note_progress(void)
{
	if (sl_shared == NULL)
		return;
	pg_atomic_fetch_add_u64(&sl_shared->progress, 1);
	ConditionVariableBroadcast(&sl_shared->progress_cv);
}

uint64
sl_progress(void)
{
	return sl_shared ? pg_atomic_read_u64(&sl_shared->progress) : 0;
}

uint64
sl_flush_request(const char *source)
{
	uint64		ticket;
	SlFlushRequest *r;

	SpinLockAcquire(&sl_shared->flush_mutex);
	ticket = pg_atomic_add_fetch_u64(&sl_shared->flush_requested, 1);
	r = &sl_shared->flush_ring[ticket % SL_FLUSH_RING];
	r->ticket = ticket;
	r->database = MyDatabaseId;
	strlcpy(r->source, source ? source : "", sizeof(r->source));
	r->drained = false;
	SpinLockRelease(&sl_shared->flush_mutex);
	return ticket;
}

void
sl_flush_note_drained(uint64 seen, uint64 upto, const char *source)
{
	uint64		t;

	if (sl_shared == NULL || upto <= seen)
		return;
	SpinLockAcquire(&sl_shared->flush_mutex);
	for (t = Max(seen + 1, upto >= SL_FLUSH_RING ? upto - SL_FLUSH_RING + 1 : 1); t <= upto; t++)
	{
		SlFlushRequest *r = &sl_shared->flush_ring[t % SL_FLUSH_RING];

		if (r->ticket == t && r->database == MyDatabaseId && strcmp(r->source, source) == 0)
			r->drained = true;
	}
	SpinLockRelease(&sl_shared->flush_mutex);
}

bool
sl_flush_drained(uint64 ticket)
{
	SlFlushRequest *r;
	bool		drained;

	if (sl_shared == NULL || ticket == 0)
		return false;
	SpinLockAcquire(&sl_shared->flush_mutex);
	r = &sl_shared->flush_ring[ticket % SL_FLUSH_RING];
	drained = r->ticket == ticket && r->drained;
	SpinLockRelease(&sl_shared->flush_mutex);
	return drained;
}

/*
 * A flush() of one source forces that source only (its backoff, its
 * thresholds): another source failing on its own schedule must not make
 * every flush of this one wait for its attempt.
 */
bool
sl_flush_wanted(uint64 seen, uint64 upto, char names[][SL_FLUSH_NAME_SIZE], int *n)
{
	bool		all = false;
	uint64		t;

	*n = 0;
	if (upto <= seen)
		return false;
	if (upto - seen > SL_FLUSH_RING)
		return true;			/* some were overwritten: drain everything */
	SpinLockAcquire(&sl_shared->flush_mutex);
	for (t = seen + 1; t <= upto && !all; t++)
	{
		SlFlushRequest *r = &sl_shared->flush_ring[t % SL_FLUSH_RING];

		if (r->ticket != t)
			all = true;
		else if (r->database != MyDatabaseId)
			continue;
		else if (r->source[0] == '\0')
			all = true;
		else
			strlcpy(names[(*n)++], r->source, SL_FLUSH_NAME_SIZE);
	}
	SpinLockRelease(&sl_shared->flush_mutex);
	return all;
}
