/*
 * aws.h — a small AWS client in plain C11 (no PostgreSQL headers): SigV4, S3 PutObject and
 * multipart upload, STS AssumeRole with an ExternalId, the standard credential chain,
 * retries with exponential backoff and full jitter.
 *
 * Built on libcurl (one easy handle per client, kept alive), OpenSSL (SHA-256, HMAC, MD5,
 * OPENSSL_cleanse) and libxml2 (every XML answer).
 *
 *   aws_config cfg;  aws_config_init(&cfg);
 *   cfg.region = "us-east-1";  cfg.role_arn = ...;  cfg.external_id = ...;
 *   aws_error err;
 *   aws_client *c = aws_client_new(&cfg, &err);
 *   if (aws_upload(c, "bucket", "key", data, len, "application/octet-stream", NULL, NULL, &err) != 0)
 *       ... err.code, err.message, err.http_status, err.request_id, err.retryable ...
 *   aws_client_free(c);
 *
 * Secrets (secret keys, session tokens) never appear in an aws_error or anything the
 * client prints, and are wiped from memory when freed. Functions return 0 on success and
 * -1 with *err filled on failure; nothing exits or aborts.
 */
#ifndef SECURITYLAKE_AWS_H
#define SECURITYLAKE_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A failure, precise and secret-free. */
typedef struct aws_error
{
	long		http_status;	/* 0 when no HTTP answer came */
	char		code[64];		/* AWS error code (SignatureDoesNotMatch, AccessDenied, ...) or a
								 * client code (ConnectionError, Timeout, InvalidConfig, ...) */
	char		message[512];
	char		request_id[128];
	char		operation[48];	/* what was being done: PutObject, AssumeRole, ... */
	bool		retryable;
	int			curl_code;		/* CURLcode, 0 if none */
	int			attempts;		/* attempts made */
} aws_error;

/* Where variables like AWS_PROFILE come from (inside PostgreSQL, not necessarily getenv). */
typedef const char *(*aws_getenv_fn) (void *ctx, const char *name);

typedef struct aws_tag
{
	const char *key;
	const char *value;
} aws_tag;

typedef struct aws_config
{
	const char *region;			/* required, e.g. "us-east-1" */

	/* S3 */
	const char *s3_endpoint;	/* NULL: https://s3.<region>.amazonaws.com; an explicit http://
								 * endpoint is the only way to plain HTTP */
	bool		force_path_style;	/* else virtual-hosted (bucket.s3...) when the name allows */
	size_t		multipart_threshold;	/* default 16 MiB: larger objects go multipart */
	size_t		part_size;		/* default 8 MiB, at least 5 MiB */

	/* STS */
	const char *sts_endpoint;	/* NULL: https://sts.<region>.amazonaws.com */
	const char *role_arn;		/* NULL: use the base credentials directly */
	const char *external_id;
	const char *role_session_name;	/* default "securitylake" */
	int			duration_seconds;	/* default 3600 */
	int			refresh_ahead_seconds;	/* default 300 */
	const aws_tag *session_tags;
	int			num_session_tags;

	/* Base credentials: these static keys if given, else the chain — environment,
	 * shared files (credentials / config, profile), web identity, ECS, EC2 IMDSv2. */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
	aws_getenv_fn getenv_fn;	/* NULL: getenv */
	void	   *getenv_ctx;

	/* HTTP */
	const char *ca_file;		/* NULL: the system's CA bundle; TLS is always verified */
	long		connect_timeout_ms; /* default 5000 */
	long		low_speed_limit;	/* bytes/s, default 1024 ... */
	long		low_speed_time_s;	/* ... for this long (default 30 s) aborts the transfer */
	long		metadata_timeout_ms;	/* IMDS / ECS, default 1000 */

	/* Retries: exponential backoff with full jitter. */
	int			max_attempts;	/* default 5 */
	int			base_delay_ms;	/* default 200 */
	int			max_delay_ms;	/* default 20000 */
	int			max_elapsed_ms; /* default 120000; 0 = no limit */
} aws_config;

void		aws_config_init(aws_config *cfg);

typedef struct aws_client aws_client;

/* NULL (with *err) when the configuration is unusable. Credentials are fetched lazily. */
aws_client *aws_client_new(const aws_config *cfg, aws_error *err);
void		aws_client_free(aws_client *client);

/*
 * Upload an object from memory: one PutObject (with Content-MD5, ETag checked) up to
 * the multipart threshold, else a multipart upload. on_upload_id, if given, is called
 * with the UploadId right after CreateMultipartUpload (persist it: after a crash the
 * upload can be aborted); a failed multipart upload is aborted before returning.
 */
int			aws_upload(aws_client *client, const char *bucket, const char *key,
					   const void *data, size_t len, const char *content_type,
					   void (*on_upload_id) (void *ctx, const char *upload_id), void *ctx,
					   aws_error *err);

/*
 * Streaming upload, fed by the encoder's sink: begin, write any number of times, then
 * finish (or abort). Bytes are buffered while the total stays under the multipart
 * threshold and finish sends one PutObject; past it the upload turns multipart
 * (on_upload_id is called with the UploadId to persist) and full parts of part_size are
 * sent as they fill. finish and abort free the stream; a failed finish aborts the
 * multipart upload. After a failed write only abort is useful.
 */
typedef struct aws_upload_stream aws_upload_stream;

aws_upload_stream *aws_upload_begin(aws_client *client, const char *bucket, const char *key,
									const char *content_type,
									void (*on_upload_id) (void *ctx, const char *upload_id), void *ctx,
									aws_error *err);
int			aws_upload_write(aws_upload_stream *stream, const void *data, size_t len, aws_error *err);
int			aws_upload_finish(aws_upload_stream *stream, aws_error *err);
void		aws_upload_abort(aws_upload_stream *stream);

int			aws_put_object(aws_client *client, const char *bucket, const char *key,
						   const void *data, size_t len, const char *content_type, aws_error *err);
int			aws_abort_multipart_upload(aws_client *client, const char *bucket, const char *key,
									   const char *upload_id, aws_error *err);

/* HeadObject: 0 and *size when it exists, 1 when it does not, -1 on error. */
int			aws_head_object(aws_client *client, const char *bucket, const char *key,
							int64_t *size, aws_error *err);

/* GetObject into a malloc'd buffer (*data, *len; free with free()). */
int			aws_get_object(aws_client *client, const char *bucket, const char *key,
						   void **data, size_t *len, aws_error *err);

/* ListObjectsV2: calls fn for every key under prefix (all pages). */
int			aws_list_objects(aws_client *client, const char *bucket, const char *prefix,
							 void (*fn) (void *ctx, const char *key, int64_t size), void *ctx,
							 aws_error *err);

/* Make sure credentials are at hand (assuming the role if configured): for checks. */
int			aws_client_check_credentials(aws_client *client, aws_error *err);

/* Parse s3://bucket/prefix or https://bucket.s3.region.amazonaws.com/prefix. Writes the
 * bucket and prefix (malloc'd); 0 on success. */
int			aws_parse_location(const char *location, char **bucket, char **prefix, aws_error *err);

/* "AccessDenied (HTTP 403) during AssumeRole: ... [request id ...]" into buf. */
void		aws_error_format(const aws_error *err, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif							/* SECURITYLAKE_AWS_H */
