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
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define SL_MAX_WORKERS 32
/* flush() requests remembered for the workers (a ring; older ones count as "all"). */
#define SL_FLUSH_RING 16
/* Room for a 64-character source name and the terminator. */
#define SL_FLUSH_NAME_SIZE 72

/* One flush() call: every source (source[0] == '\0') or the one it names. */
typedef struct SlFlushRequest
{
	uint64		ticket;
	Oid			database;		/* the database whose flush() asked */
	char		source[SL_FLUSH_NAME_SIZE];
	/*
	 * A worker drained the source in a cycle begun after this request, to the
	 * end: every row committed before the request went out, or to dead_letter.
	 */
	bool		drained;
} SlFlushRequest;

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
	slock_t		flush_mutex;	/* guards flush_ring and the counter's bumps */
	SlFlushRequest flush_ring[SL_FLUSH_RING];	/* ticket t is at t % SL_FLUSH_RING */
	SlWorkerSlot worker[SL_MAX_WORKERS];
	/*
	 * Bumped, and progress_cv broadcast, when a worker took rows off the queue
	 * or ended a drain cycle: flush() sleeps on the variable and looks at the
	 * queue when something may have changed, not on a timer.
	 */
	pg_atomic_uint64 progress;
	ConditionVariable progress_cv;
} SlShared;

extern SlShared *sl_shared;
extern void sl_shmem_request(void);
extern bool sl_shmem_ready(void);
extern void sl_wake_workers(void);
extern bool sl_workers_done(Oid database, uint64 ticket);
extern void sl_note_progress(void);
extern uint64 sl_progress(void);

/* flush(): a drain of one source (or of every source: NULL); returns its ticket. */
extern uint64 sl_flush_request(const char *source);

/*
 * A worker of this database: which sources the flush requests after ticket
 * seen, up to upto, ask for. True when every source; otherwise
 * names[0 .. *n) (at most SL_FLUSH_RING of them). Requests made in another
 * database name that database's sources: they force nothing here.
 */
extern bool sl_flush_wanted(uint64 seen, uint64 upto, char names[][SL_FLUSH_NAME_SIZE], int *n);

/* A worker drained this source to the end in a cycle that served tickets (seen, upto]. */
extern void sl_flush_note_drained(uint64 seen, uint64 upto, const char *source);

/* Has flush ticket (of one named source) been drained to the end? */
extern bool sl_flush_drained(uint64 ticket);
extern int	sl_database_count(void);
extern char *sl_database_name(int i);

#endif							/* SECURITYLAKE_SHMEM_H */
