/*-------------------------------------------------------------------------
 *
 * securitylake.h
 *		Declarations shared by the PostgreSQL glue of securitylake.
 *
 * Data flows one way:
 *   queue ─▶ batcher (worker.c: claim, group by source/region/account/day)
 *         ─▶ shredder (shred.c: jsonb → column values)
 *         ─▶ parquet encoder (src/parquet) ─▶ uploader (upload.c over src/aws)
 *         ─▶ commit (worker.c: delete rows, log the upload)
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_H
#define SECURITYLAKE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "storage/latch.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "source.h"

#define SL_MAX_WORKERS 32

/* GUCs (securitylake.c) */
extern char *sl_database;
extern int	sl_naptime_ms;
extern int	sl_max_backoff_s;
extern int	sl_workers;
extern char *sl_test_fault;

/* One queued event held in memory between claim and commit. */
typedef struct SlEvent
{
	int64		id;
	int64		time_ms;		/* the event's time (epoch ms), the sort key */
	Jsonb	   *event;
	char	   *region;			/* row value or NULL */
	char	   *account_id;
	TimestampTz enqueued_at;
	char	   *reject;			/* non-NULL: dead-letter reason */
} SlEvent;

/* A batch: the events of one partition of one source, one object. */
typedef struct SlBatch
{
	int64		id;
	SlSource   *source;
	char	   *region;
	char	   *account_id;
	int32		event_day;		/* days since 1970-01-01 (UTC) */
	char	   *object_key;
	char	   *upload_id;		/* multipart id persisted with the claim, or NULL */
	int			attempts;
	SlEvent   **events;
	int			nevents;
	int			maxevents;
	int64		rows;			/* encoded rows and object bytes, once uploaded */
	size_t		bytes;
} SlBatch;

/* Shared memory (shmem.c). */
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

/* worker.c */
extern void sl_register_workers(void);
PGDLLEXPORT void securitylake_worker_main(Datum main_arg);
PGDLLEXPORT void securitylake_flush_worker_main(Datum main_arg);

/* step.c: one short transaction per worker step, SPI conveniences */
extern void sl_begin_step(const char *activity);
extern void sl_end_step(void);
extern void sl_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected);
extern char *sl_text_or_null(HeapTuple tup, TupleDesc desc, int col);
extern Datum sl_int8_array(int64 *values, int n);
extern Datum sl_text_array(char **values, int n);

/* batch.c: claim, deliver (encode + upload), commit */
extern List *sl_claim(SlSource *source, int64 from_id, bool *full, int64 *last_id);
extern List *sl_take_pending_batches(List *sources);
extern void sl_load_batch_events(SlBatch *b);
extern bool sl_deliver_batches(List *batches, char **error);
extern void sl_release_batch(SlBatch *b);

/* upload.c: objects to S3 through src/aws */
extern bool sl_upload_object(SlSource *source, SlBatch *batch,
							 const char *data, size_t len, char **error);
extern void sl_load_static_credentials(void);

/* test hook (securitylake.test_fault): fail at a named step of the protocol */
extern void sl_test_fault_point(const char *step);

#endif							/* SECURITYLAKE_H */
