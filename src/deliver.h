/*-------------------------------------------------------------------------
 *
 * deliver.h
 *		Step 2 of a delivery: encode a claimed batch and upload its object,
 *		with no transaction open while bytes go to S3.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_DELIVER_H
#define SECURITYLAKE_DELIVER_H

#include "postgres.h"

#include "batches.h"

typedef enum SlDeliverResult
{
	SL_DELIVERED,				/* the object is in the lake (or no record was left to write) */
	SL_UPLOAD_FAILED,			/* S3, STS or the network failed: retry with backoff */
	SL_ENCODE_FAILED,			/* an ERROR while encoding the events: isolate the ones that cause it */
	SL_SOURCE_FAILED,			/* an ERROR that is neither (the source's schema, the server's
								 * resources): retry with backoff, never blame the events */
	SL_INTERRUPTED,				/* the worker is asked to stop */
	SL_BATCH_GONE				/* not this worker's any more (source dropped, extension re-created) */
} SlDeliverResult;

/*
 * Read the batch's events a page at a time (in its record order), shred them
 * into one Parquet object whose bytes go to S3 as multipart parts as they
 * fill, and complete the upload. Events that do not fit their schema are
 * kept in b->reject_* (dead-lettered along the way and at the commit). When
 * the object reaches the source's object_size, it is closed there:
 * b->ndelivered < b->nids, and the commit records the rest as a new batch.
 * *error says why otherwise.
 */
extern SlDeliverResult sl_deliver_batch(SlBatch *b, char **error);

/*
 * Set up the batch's upload before its ids are even loaded: abort what an
 * earlier attempt left open and, when the batch or its source has been
 * failing, start the multipart upload (see deliver.c). sl_deliver_batch
 * does it too when it was not done. SL_DELIVERED when it is set up;
 * otherwise why not (*error).
 */
extern SlDeliverResult sl_deliver_prepare(SlBatch *b, char **error);

/* Overwrite the batch's key with an object of no record (see deliver.c). */
extern bool sl_deliver_empty_object(SlBatch *b, char **error);

#endif							/* SECURITYLAKE_DELIVER_H */
