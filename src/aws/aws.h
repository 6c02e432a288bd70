/*
 * aws.h — a small AWS client in plain C11 (no PostgreSQL headers): SigV4, S3 PutObject and
 * multipart upload driven by the caller, STS AssumeRole with an ExternalId and
 * GetCallerIdentity, the standard credential chain, a generic SigV4-signed REST-JSON call
 * (the Security Lake control plane), retries with exponential backoff and full jitter, and
 * an endpoint allow-list check.
 *
 * Built on libcurl (one easy handle per client, kept alive), OpenSSL (SHA-256, HMAC, MD5,
 * OPENSSL_cleanse) and libxml2 (every XML answer). JSON is the caller's business.
 *
 *   aws_config cfg;  aws_config_init(&cfg);
 *   cfg.region = "us-east-1";  cfg.role_arn = ...;  cfg.external_id = ...;
 *   cfg.expected_bucket_owner = "123456789012";      (the role ARN's account)
 *   cfg.interrupt_fn = my_shutdown_check;  cfg.interrupt_ctx = ...;
 *   aws_error err;
 *   aws_client *c = aws_client_new(&cfg, &err);
 *   small object:  aws_put_object(c, bucket, key, data, len, content_type, &err)
 *   large object:  aws_multipart_create(c, bucket, key, content_type, &upload_id, &err)
 *                  -- persist upload_id in your own transaction --
 *                  aws_multipart_upload_part(c, bucket, key, upload_id, n, buf, len, &parts[n-1], &err)  (n = 1, 2, ...)
 *                  aws_multipart_complete(c, bucket, key, upload_id, parts, nparts, &err)
 *                  (on failure: aws_abort_multipart_upload(c, bucket, key, upload_id, &err))
 *   aws_client_free(c);
 *
 * Integrity: every PutObject and UploadPart carries Content-MD5 and x-amz-checksum-sha256
 * (both signed; S3 verifies them and answers BadDigest); an ETag is never compared with an
 * MD5 (with SSE-KMS it is not one). Multipart uploads are created with
 * x-amz-checksum-algorithm: SHA256 and completed with each part's checksum.
 *
 * Secrets (secret keys, session tokens, derived signing keys) never appear in an aws_error
 * or anything the client prints; they live in page-aligned memory marked MADV_DONTDUMP and
 * are wiped when freed. Functions return 0 on success and -1 with *err filled on failure;
 * nothing exits, aborts or longjmps.
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

/* Polled while a call waits (every <= 100 ms, during transfers and backoff sleeps): true ends
 * the call at once with the non-retryable code "Interrupted". Must be cheap and must not
 * longjmp. Inside PostgreSQL: check the shutdown flag and postmaster death. */
typedef bool (*aws_interrupt_fn) (void *ctx);

typedef struct aws_config
{
	const char *region;			/* required, e.g. "us-east-1" */

	/* S3 */
	const char *s3_endpoint;	/* NULL: AWS's own, https://s3.<region>.amazonaws.com, virtual-hosted
								 * (and a region redirect may move it to the bucket's region); an
								 * explicit http:// endpoint is the only way to plain HTTP */
	bool		force_path_style;	/* else virtual-hosted (bucket.s3...) when the name allows */
	size_t		multipart_threshold;	/* aws_upload only: default 16 MiB, larger goes multipart */
	size_t		part_size;		/* aws_upload only: default 8 MiB, at least 5 MiB */
	const char *expected_bucket_owner;	/* 12-digit account or NULL: sent as
										 * x-amz-expected-bucket-owner on every S3 request; S3
										 * answers 403 AccessDenied when the bucket is someone
										 * else's. The glue passes the role ARN's account. */

	/* STS */
	const char *sts_endpoint;	/* NULL: https://sts.<region>.amazonaws.com */
	const char *role_arn;		/* NULL: use the base credentials directly */
	const char *external_id;
	const char *role_session_name;	/* default "securitylake" */
	int			duration_seconds;	/* default 3600 */
	int			refresh_ahead_seconds;	/* default 300 */
	const aws_tag *session_tags;
	int			num_session_tags;

	/* Security Lake control plane (aws_rest_json with service "securitylake") */
	const char *securitylake_endpoint;	/* NULL: https://securitylake.<region>.amazonaws.com */

	/* Base credentials: these static keys if given, else the chain — environment,
	 * shared files (credentials / config, profile), web identity, ECS, EC2 IMDSv2. */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
	aws_getenv_fn getenv_fn;	/* NULL: getenv */
	void	   *getenv_ctx;

	/* HTTP */
	const char *ca_file;		/* NULL: the system's CA bundle; TLS is always verified */
	const char *connect_to;		/* TESTS ONLY: comma-separated CURLOPT_CONNECT_TO entries
								 * ("HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT", e.g.
								 * "::127.0.0.1:8443" sends every host to a local gate) so the
								 * exact bytes AWS would receive (Host, SNI, signature) are
								 * checked against a local emulator. NULL in production. */
	long		connect_timeout_ms; /* default 5000 */
	long		low_speed_limit;	/* bytes/s, default 1024 ... */
	long		low_speed_time_s;	/* ... for this long (default 30 s) aborts the transfer */
	long		request_timeout_ms;	/* one attempt's overall limit: default 60000 (60 s) plus
									 * the size allowance below; a peer that trickles bytes
									 * just fast enough for the low-speed check cannot hold
									 * a call longer than this. 0 keeps the default. */
	long		min_transfer_rate;	/* the size allowance: request_timeout_ms grows by the
									 * time the body takes at this many bytes/s (default
									 * 65536: a 16 MiB part gets 60 s + 256 s). */
	size_t		max_response_bytes;	/* default 4 MiB: a longer answer body is cut (the
									 * transfer ends; error answers keep their status and
									 * the code ResponseTooLarge replaces an unreadable one).
									 * GetObject's successful bodies are not capped. */
	size_t		max_error_response_bytes;	/* default 64 KiB: the cap for an answer whose
											 * status is not 2xx (AWS's error documents
											 * are a few KiB); at most max_response_bytes */
	long		metadata_timeout_ms;	/* IMDS / ECS, default 1000 */
	aws_interrupt_fn interrupt_fn;	/* NULL: never interrupted */
	void	   *interrupt_ctx;

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
 * The most attempts each call makes from now on (at least 1); returns the value it had. For a
 * caller that knows the peer has been failing and backs off by itself: one try, not five with
 * sleeps in between while the caller's other work waits.
 */
int			aws_client_set_max_attempts(aws_client *client, int max_attempts);

/*
 * The region S3 named for a bucket after a redirect (301 PermanentRedirect or 400
 * AuthorizationHeaderMalformed, with x-amz-bucket-region): the client re-signs once for it
 * (and, with AWS's default endpoint, moves to that region's endpoint) and keeps using it for
 * that bucket. NULL while no redirect happened. Owned by the client.
 */
const char *aws_client_bucket_region(const aws_client *client);

/* ---- S3 ------------------------------------------------------------------------------- */

/* One PutObject from memory (Content-MD5 + x-amz-checksum-sha256, up to 5 GiB). */
int			aws_put_object(aws_client *client, const char *bucket, const char *key,
						   const void *data, size_t len, const char *content_type, aws_error *err);

#define AWS_MIN_PART_SIZE ((size_t) 5 * 1024 * 1024)	/* every part but the last */
#define AWS_MAX_PART_SIZE ((size_t) 5 * 1024 * 1024 * 1024)
#define AWS_MAX_PARTS 10000

/* What CompleteMultipartUpload needs of an uploaded part (filled by upload_part). */
typedef struct aws_part
{
	int			part_number;	/* 1 ... 10000 */
	size_t		size;			/* bytes sent: Complete checks the 5 MiB minimum */
	char		etag[128];		/* as S3 returned it, quotes included (opaque: not an MD5) */
	char		checksum_sha256[48];	/* base64 SHA-256 of the part */
} aws_part;

/*
 * Caller-driven multipart upload. create starts one (x-amz-checksum-algorithm: SHA256) and
 * gives the UploadId (*upload_id, malloc'd: free it): persist it before sending any part,
 * so an upload left behind by a crash can be aborted. upload_part sends part PART_NUMBER
 * (1-based, <= 10000, at most 5 GiB) with Content-MD5 and x-amz-checksum-sha256 and fills
 * *out for complete. complete checks the parts (numbers ascending, each but the last at least
 * 5 MiB) before sending, and reads the answer's body: S3 can fail a Complete after 200 OK.
 * None of them aborts on failure: the caller decides (aws_abort_multipart_upload).
 */
int			aws_multipart_create(aws_client *client, const char *bucket, const char *key,
								 const char *content_type, char **upload_id, aws_error *err);
int			aws_multipart_upload_part(aws_client *client, const char *bucket, const char *key,
									  const char *upload_id, int part_number,
									  const void *data, size_t len, aws_part *out, aws_error *err);
int			aws_multipart_complete(aws_client *client, const char *bucket, const char *key,
								   const char *upload_id, const aws_part *parts, int nparts,
								   aws_error *err);

/*
 * One part in flight while the caller prepares the next (parts.c): start sends part
 * PART_NUMBER on a thread of its own; wait joins it and gives what upload_part would have
 * (0 with *out, or -1 with *err). Between the two the caller must not use the client nor
 * touch DATA, and the client's interrupt_fn runs on that thread (it must only read flags).
 * wait with nothing in flight returns 0 at once; free waits for a part in flight.
 */
typedef struct aws_part_sender aws_part_sender;

aws_part_sender *aws_part_sender_new(void);
int			aws_part_sender_start(aws_part_sender *ps, aws_client *client, const char *bucket,
								  const char *key, const char *upload_id, int part_number,
								  const void *data, size_t len, aws_error *err);
bool		aws_part_sender_busy(const aws_part_sender *ps);
int			aws_part_sender_wait(aws_part_sender *ps, aws_part *out, aws_error *err);
void		aws_part_sender_free(aws_part_sender *ps);

/* Already gone (NoSuchUpload) counts as aborted. */
int			aws_abort_multipart_upload(aws_client *client, const char *bucket, const char *key,
									   const char *upload_id, aws_error *err);

/*
 * Transitional (the old glue's entry point): an object from memory, one PutObject up to
 * multipart_threshold, else the multipart calls above in part_size parts. on_upload_id, if
 * given, is called with the UploadId after create and before the first part (not under
 * libcurl); a failed multipart upload is aborted before returning.
 */
int			aws_upload(aws_client *client, const char *bucket, const char *key,
					   const void *data, size_t len, const char *content_type,
					   void (*on_upload_id) (void *ctx, const char *upload_id), void *ctx,
					   aws_error *err);

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

/* ---- REST-JSON services (Security Lake) ------------------------------------------------ */

/*
 * One SigV4-signed REST-JSON call to SERVICE ("securitylake": endpoint
 * cfg.securitylake_endpoint or https://securitylake.<region>.amazonaws.com), with retries on
 * 5xx, 429 and throttling. path_and_query is already URI-encoded ("/v1/datalake/logsources/
 * custom/my_source?sourceVersion=1.0"); json_body may be NULL (no body). Whatever the outcome
 * of an answered call, *status is its HTTP status and *response_body its body (malloc'd,
 * capped at max_response_bytes, NUL-terminated; free it), and error_type (if not NULL) gets
 * the x-amzn-errortype header without any ':' suffix ("ConflictException"), or "" on success.
 * Returns 0 for a 2xx answer; -1 otherwise, with err->code the error type (or a client code)
 * and err->message the JSON "message". response_body may be NULL when not wanted.
 */
int			aws_rest_json(aws_client *client, const char *service, const char *method,
						  const char *path_and_query, const char *json_body,
						  long *status, char **response_body,
						  char *error_type, size_t error_type_len, aws_error *err);

/* ---- STS ------------------------------------------------------------------------------- */

/*
 * STS GetCallerIdentity signed with the base credentials (never the configured role): the
 * 12-digit account (and, if arn is not NULL, the ARN) of the identity the client runs as.
 * No IAM permission is needed for it. 0 on success; -1 with *err (MalformedResponse when the
 * answer lacks them or they do not fit the buffers).
 */
int			aws_get_caller_identity(aws_client *client, char *account, size_t account_len,
									char *arn, size_t arn_len, aws_error *err);

/* ---- misc ----------------------------------------------------------------------------- */

/* Make sure credentials are at hand (assuming the role if configured): for checks. */
int			aws_client_check_credentials(aws_client *client, aws_error *err);

/* Parse s3://bucket/prefix or https://bucket.s3.region.amazonaws.com/prefix. Writes the
 * bucket and prefix (malloc'd); 0 on success. */
int			aws_parse_location(const char *location, char **bucket, char **prefix, aws_error *err);

/*
 * Endpoint allow-list check (pure, no network). 0 when URL is https to one of AWS's own S3,
 * STS or Security Lake host names — s3.<region>.amazonaws.com, s3.dualstack.<region>...,
 * s3-fips.<region>..., s3-fips.dualstack.<region>..., s3.amazonaws.com,
 * sts.<region>.amazonaws.com, sts.amazonaws.com, securitylake.<region>.amazonaws.com, and the
 * same under amazonaws.com.cn — with no port or :443, no userinfo, and no path but "/"; or
 * when its scheme://host[:port] is in ALLOWED: comma-separated "scheme://host[:port]"
 * entries (spaces around entries ignored). An entry without a port allows any port of that
 * scheme and host; with a port, only that port (a URL without one has its scheme's default,
 * 80 or 443). Hosts compare case-insensitively; userinfo, percent-encoded or IPv6 literal
 * hosts, a trailing dot, a backslash, control characters or spaces are always refused.
 * Else -1 and a one-sentence reason in why (if not NULL).
 */
int			aws_endpoint_check(const char *url, const char *allowed, char *why, size_t whylen);

/* "AccessDenied (HTTP 403) during AssumeRole: ... [request id ...]" into buf. */
void		aws_error_format(const aws_error *err, char *buf, size_t len);

/* A copy of a secret (a secret access key, a session token) the caller keeps: in its own
 * page-aligned mapping marked MADV_DONTDUMP, so no core dump carries it; NULL on failure.
 * aws_secret_free wipes it (OPENSSL_cleanse) and unmaps it; NULL is ignored. */
char	   *aws_secret_strdup(const char *s);
void		aws_secret_free(void *p);

#ifdef __cplusplus
}
#endif

#endif							/* SECURITYLAKE_AWS_H */
