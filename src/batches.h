/*-------------------------------------------------------------------------
 *
 * batches.h
 *		A batch: the events of one partition of one source, one object. Its
 *		state lives in securitylake.batch from its claim to its commit; this
 *		is the code that writes it.
 *
 * A batch is held by the worker delivering it: the row carries that worker's
 * pid and backend start (a lease no other role can take: only the worker's
 * role may write the table). A batch whose holder is gone — it crashed, or
 * gave the batch back after a failed attempt — is pending: the next cycle of
 * any worker takes it and delivers it again, to the same key with the same
 * rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_BATCHES_H
#define SECURITYLAKE_BATCHES_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "storage/itemptr.h"

#include "source.h"

typedef struct SlBatch
{
	int64		id;
	SlSource   *source;
	char	  **route_keys;		/* the queue rows' routing keys (one, but for batches of 0.1.0) */
	int			nroute_keys;
	char	   *region;
	char	   *account_id;
	int32		event_day;		/* days since 1970-01-01 (UTC) */
	char	   *object_key;
	char	   *upload_id;		/* multipart id persisted with the batch, or NULL */
	int64	   *ids;			/* queue ids in record order (time, then id) */
	int32	   *sizes;			/* each event's raw JSON bytes, in the same order */
	/*
	 * Where each row was last seen (ctid), in the same order, or NULL: a hint
	 * that spares the page read and the delete an index probe per row. The
	 * row found there must still have the batch's key and the id, or the
	 * probe by id runs after all (an UPDATE, VACUUM FULL or a restore moves
	 * rows). Invalid where not known; not stored with the batch.
	 */
	ItemPointerData *tids;
	int			nids;
	int64		raw_bytes;
	int			attempts;		/* failed upload attempts */
	bool		maybe_uploaded; /* a pending batch: an earlier attempt may have written its key */
	int			failures;		/* failures of another kind */
	bool		upload_ready;	/* this attempt's upload is set up (sl_deliver_prepare) */

	/* Events the delivery refused, waiting to be dead-lettered */
	int64	   *reject_ids;
	char	  **reject_reasons;
	int			nrejects;

	/* The delivery's outcome (deliver.c) */
	int			ndelivered;		/* ids[0 .. ndelivered) are in the object (nids unless it filled up) */
	int64		rows;			/* records written */
	int64		bytes;			/* object size */
	int64		delivered_raw;	/* raw JSON of ids[0 .. ndelivered) */
} SlBatch;

extern SlBatch *sl_batch_new(SlSource *source, const char *route_key, const char *region,
							 const char *account_id, int32 event_day);

/* Record a claimed batch, held by this worker (within the claim's step). */
extern void sl_batch_record(SlBatch *b);

/*
 * Lease up to max_batches pending batches of these sources that no live
 * worker holds and whose source is not backing off (the forced ones, which a
 * flush() asks for, whatever their backoff) (own step).
 */
extern List *sl_take_pending(List *sources, int max_batches, List *forced);

/* Read a pending batch's ids (own step). */
extern void sl_batch_load_ids(SlBatch *b);

/* Give the batch back: another attempt takes it later (own step). */
extern void sl_batch_release(SlBatch *b);

/*
 * Give back every batch this worker holds (own step): after an ERROR the
 * worker caught, whatever step it hit, so no batch stays held by a live
 * worker that no longer works on it.
 */
extern void sl_release_my_leases(void);

/* An upload attempt failed (S3, STS, network): counted, given back (own step). */
extern void sl_batch_upload_failed(SlBatch *b, const char *error);

/*
 * The batch failed for another reason (an ERROR while encoding it): split it
 * in two new batches to find the events that cause it, or — one event left,
 * failed twice — dead-letter that event with the error (own step). Returns
 * what was done, for the log.
 */
extern const char *sl_batch_encode_failed(SlBatch *b, const char *error);

/* Move queued rows of a routing key to dead_letter, each with its reason (within a step). */
extern void sl_dead_letter(const char *source, char **route_keys, int nkeys, const int64 *ids, char **reasons, int n);

/* The batch's routing keys as a text[] (for "q.route_key = ANY ($n)"). */
extern Datum sl_batch_keys(SlBatch *b);

/* Dead-letter the events the delivery refused so far (within a step). */
extern void sl_batch_flush_rejects(SlBatch *b);

/* Record ids[ndelivered ..) as a new batch, not held: the object filled up first (within a step). */
extern void sl_batch_record_remainder(SlBatch *b);

/*
 * Does this worker still hold this very batch (within a step)? Not when the
 * source was dropped, or the extension dropped and created again, meanwhile.
 */
extern bool sl_batch_still_held(SlBatch *b);

/* Remove the batch if this worker holds it; false when it does not (within a step). */
extern bool sl_batch_delete_held(SlBatch *b);

/* Persist a multipart UploadId before any part is sent (own step). */
extern void sl_batch_save_upload_id(SlBatch *b, const char *upload_id);

/* This worker's lease (pid, backend start) as SQL parameters. */
extern void sl_lease_params(Datum *pid, Datum *since);

#endif							/* SECURITYLAKE_BATCHES_H */
