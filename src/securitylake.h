/*-------------------------------------------------------------------------
 *
 * securitylake.h
 *		Settings and entry points of the PostgreSQL glue. Each phase of the
 *		delivery has its own header; the data flows one way:
 *
 *   queue ─▶ claim.c     rows of one routing key, oldest first → batches (one
 *                        per partition), each recorded with its object key and
 *                        its ids in record order — committed
 *         ─▶ deliver.c   the batch's events, a page at a time ─▶ shred.c
 *                        (jsonb → columns) ─▶ src/parquet ─▶ parts ─▶ upload.c
 *                        (an S3 adapter over src/aws)
 *         ─▶ commit.c    rows deleted, dead letters and upload log written
 *
 *   loop.c runs it: the worker's connection, its cycle, schedule.c (when a
 *   source is due), batches.c (pending batches, leases, splits), sweep.c (rows
 *   no source takes); flush.c is flush(); sources.c loads sources and records
 *   their failures.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_H
#define SECURITYLAKE_H

#include "postgres.h"

#include "utils/jsonb.h"

/* GUCs (securitylake.c) */
extern char *sl_database;
extern int	sl_naptime_ms;
extern int	sl_max_backoff_s;
extern int	sl_workers;
extern char *sl_allowed_endpoints;
#ifdef SL_TEST_HOOKS
extern char *sl_test_fault;
extern char *sl_test_connect_to;
#endif

/* test hook (securitylake.test_fault, test builds only): fail at a named step */
#ifdef SL_TEST_HOOKS
extern void sl_test_fault_point(const char *step);
/* "error:event:<metadata.uid>": an ERROR (not the event's reject) while encoding that event */
extern void sl_test_fault_event(Jsonb *event);
/* Is the test fault "<kind>:<step>" set? (for faults that are not an ERROR or abort) */
extern bool sl_test_fault_is(const char *kind, const char *step);
#else
#define sl_test_fault_point(step) ((void) 0)
#define sl_test_fault_event(event) ((void) 0)
#define sl_test_fault_is(kind, step) false
#endif

/* loop.c: the workers */
extern void sl_register_workers(void);
PGDLLEXPORT void securitylake_worker_main(Datum main_arg);
PGDLLEXPORT void securitylake_flush_worker_main(Datum main_arg);

/* True when the worker should stop what it is doing (SIGTERM, postmaster gone). */
extern bool sl_stop_requested(void);
/* A flush() asked for a drain since this worker's cycle began: cut optional work short. */
extern bool sl_flush_asked(void);

#endif							/* SECURITYLAKE_H */
