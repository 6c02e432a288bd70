/*-------------------------------------------------------------------------
 *
 * upload.h
 *		The S3 adapter: objects and multipart parts to a source's bucket
 *		through src/aws. One client per source, kept alive (its assumed-role
 *		session cached and refreshed), rebuilt when the source's settings or
 *		the static credentials change. It knows nothing of batches: the
 *		caller persists what must survive a crash (deliver.c, batches.c).
 *
 * Every call returns true, or false with *error set to a secret-free
 * sentence (the text status shows) and *transport telling whether S3, STS or
 * the network failed (to be retried with backoff) rather than the request
 * being refused for good (an endpoint not allowed).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_UPLOAD_H
#define SECURITYLAKE_UPLOAD_H

#include "postgres.h"

#include "aws/aws.h"
#include "source.h"

/* A part sent: what CompleteMultipartUpload needs of it. */
typedef aws_part SlPart;

/* Parts of a multipart upload (S3: at least 5 MiB but the last). */
extern size_t sl_s3_part_size(void);

extern bool sl_s3_put(SlSource *source, const char *key, const void *data, size_t len, char **error);
extern bool sl_s3_multipart_create(SlSource *source, const char *key, char **upload_id, char **error);
/* The same, tried once (the STS call for fresh credentials too): the caller backs off itself. */
extern bool sl_s3_multipart_create_once(SlSource *source, const char *key, char **upload_id, char **error);
/*
 * One part in flight while the next is encoded: start, then wait (which joins it, or gives
 * the result of a part the worker had to send itself; false for a part abandoned since).
 */
extern bool sl_s3_upload_part_start(SlSource *source, const char *key, const char *upload_id, int number,
									const void *data, size_t len, char **error);
extern bool sl_s3_upload_part_wait(SlSource *source, SlPart *part, char **error);
extern void sl_s3_upload_part_abandon(void);
extern bool sl_s3_multipart_complete(SlSource *source, const char *key, const char *upload_id,
									 const SlPart *parts, int nparts, char **error);
extern bool sl_s3_multipart_abort(SlSource *source, const char *key, const char *upload_id, char **error);

/* The region S3 named for the source's bucket after a redirect, or NULL. */
extern const char *sl_s3_bucket_region(SlSource *source);

/* Read the static credentials (within a step of the worker, once per cycle). */
extern void sl_load_static_credentials(void);

#endif							/* SECURITYLAKE_UPLOAD_H */
