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

#define SL_MAX_WORKERS 32

/* GUCs (securitylake.c) */
extern char *sl_database;
extern int	sl_naptime_ms;
extern int	sl_max_backoff_s;
extern int	sl_workers;
extern char *sl_test_fault;

/* A configured source, as loaded from securitylake.source for one cycle. */
typedef struct SlSource
{
	char	   *name;
	char	   *location;
	char	   *bucket;
	char	   *prefix;
	char	   *role_arn;		/* NULL: base credentials directly */
	char	   *external_id;
	char	   *region;
	char	   *account_id;
	char	   *ocsf_version;
	int			class_uid;
	bool		route_by_class;
	int			batch_record_count;
	int64		batch_data_size;
	int64		publish_rate_ms;
	Jsonb	   *schema;			/* parquet-go tag schema, or NULL (OCSF class) */
	Jsonb	   *options;
	bool		enabled;
	TimestampTz next_attempt_at;	/* from source_state; 0 = now */
	int			failures;
} SlSource;

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

/* partition.c: routing and partition values taken from an event */
typedef enum SlNumResult
{
	SL_NUM_OK,
	SL_NUM_FRACTION,
	SL_NUM_RANGE
} SlNumResult;
extern SlNumResult sl_numeric_int64(Numeric num, int64 *out);
extern bool sl_event_class_matches(Jsonb *event, int class_uid, char **reason);
extern bool sl_event_time_ms(Jsonb *event, int64 *time_ms, char **reason);
extern char *sl_event_string_at(Jsonb *event, const char *const *path, int depth);
extern bool sl_valid_region(const char *region);
extern bool sl_valid_account(const char *account);
extern char *sl_object_key(SlBatch *batch, uint64 nonce);
extern char *sl_option_text(SlSource *source, const char *name);
extern bool sl_option_bool(SlSource *source, const char *name);
extern int	sl_option_int(SlSource *source, const char *name, int dflt);

/* shred.c: jsonb → Parquet through src/parquet */
typedef struct SlEncoder SlEncoder;
extern SlEncoder *sl_encoder_begin(SlSource *source);
extern bool sl_encoder_add(SlEncoder *enc, Jsonb *event, char **reason);
extern void sl_encoder_finish(SlEncoder *enc, StringInfo out, int64 *rows);
extern void sl_encoder_abandon(SlEncoder *enc);

/* upload.c: objects to S3 through src/aws */
extern bool sl_upload_object(SlSource *source, SlBatch *batch,
							 const char *data, size_t len, char **error);
extern void sl_load_static_credentials(void);

/* test hook (securitylake.test_fault): fail at a named step of the protocol */
extern void sl_test_fault_point(const char *step);

#endif							/* SECURITYLAKE_H */
