/*
 * aws_internal.h — private parts of the AWS client shared by its files.
 */
#ifndef SECURITYLAKE_AWS_INTERNAL_H
#define SECURITYLAKE_AWS_INTERNAL_H

#include <curl/curl.h>
#include <time.h>

#include "aws/aws.h"

/* ---- ASCII character classes ------------------------------------------------------------
 * Never <ctype.h> here: its answers follow the locale (under Latin-1, isalnum(0xE9) is true),
 * and SigV4's encoding, header names and host names are defined on ASCII bytes only. */
static inline bool
aws_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool
aws_is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static inline bool
aws_is_upper(int c)
{
	return c >= 'A' && c <= 'Z';
}

static inline bool
aws_is_alnum(int c)
{
	return aws_is_digit(c) || aws_is_lower(c) || aws_is_upper(c);
}

static inline bool
aws_is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline int
aws_to_lower(int c)
{
	return aws_is_upper(c) ? c - 'A' + 'a' : c;
}

/* ---- secret memory -----------------------------------------------------------------------
 * Secret keys, session tokens and derived signing keys live in page-aligned mmap'ed blocks
 * marked MADV_DONTDUMP (no core dump carries them) and are wiped (OPENSSL_cleanse) when freed.
 * NULL on failure. */
void	   *aws_secret_alloc(size_t len);
/* aws_secret_strdup and aws_secret_free are public (aws.h): callers keep keys in them too. */
/* For tests: was P allocated by aws_secret_alloc (and is its block marked DONTDUMP)? */
bool		aws_secret_is_guarded(const void *p);

/* ---- growing buffers ------------------------------------------------------------------ */
typedef struct aws_buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} aws_buf;

int			aws_buf_append(aws_buf *b, const void *data, size_t len);
int			aws_buf_appendf(aws_buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		aws_buf_free(aws_buf *b);
/* Free ordinary malloc'd memory that held a secret in passing: wiped first. */
void		aws_free_secret(char *s);
char	   *aws_strdup(const char *s);

/* ---- SigV4 ----------------------------------------------------------------------------- */
typedef struct sigv4_header
{
	const char *name;
	const char *value;
} sigv4_header;

typedef struct sigv4_request
{
	const char *method;
	const char *canonical_uri;	/* the path exactly as canonicalised (already encoded) */
	const char *query;			/* raw encoded query string without '?', or NULL */
	const sigv4_header *headers;	/* every header to sign (host, x-amz-date included) */
	int			num_headers;
	const char *payload_hash;	/* hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
	const char *region;
	const char *service;
	const char *amz_date;		/* YYYYMMDDTHHMMSSZ */
	const char *access_key_id;
	const char *secret_access_key;
} sigv4_request;

typedef struct sigv4_result
{
	char	   *canonical_request;
	char	   *string_to_sign;
	char	   *signed_headers;
	char		signature[65];
	char	   *authorization;
} sigv4_result;

/* 0 on success. The signing key is derived each call; callers cache via sigv4_key_cache. */
int			aws_sigv4_sign(const sigv4_request *req, sigv4_result *out);
void		aws_sigv4_result_free(sigv4_result *r);
/* URI-encode per SigV4: unreserved A-Z a-z 0-9 - _ . ~ kept; '/' kept if keep_slash. */
char	   *aws_uri_encode(const char *s, size_t len, bool keep_slash);
void		aws_sha256_hex(const void *data, size_t len, char out[65]);
void		aws_sha256_base64(const void *data, size_t len, char out[45]);
void		aws_md5_base64(const void *data, size_t len, char out[25]);
void		aws_format_amz_date(time_t t, char out[17]);

/* ---- XML ------------------------------------------------------------------------------- */
/* The text of the first element named NAME anywhere in the document (malloc'd), or NULL. */
char	   *aws_xml_find(const char *xml, size_t len, const char *name);
/* The root element's name (malloc'd), or NULL when the text is not XML. */
char	   *aws_xml_root_name(const char *xml, size_t len);
/* Each <Key>/<Size> pair of a ListObjectsV2 page; returns the NextContinuationToken. */
char	   *aws_xml_list_keys(const char *xml, size_t len,
							  void (*fn) (void *ctx, const char *key, int64_t size), void *ctx,
							  bool *truncated);

/* ---- credentials ----------------------------------------------------------------------- */
typedef struct aws_credentials
{
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;
	time_t		expiration;		/* 0: does not expire */
	char		source[32];		/* where they came from, for messages */
} aws_credentials;

void		aws_credentials_clear(aws_credentials *c);
int			aws_credentials_copy(aws_credentials *dst, const aws_credentials *src);

/* ---- the client ---------------------------------------------------------------------- */
typedef struct aws_response
{
	long		status;
	aws_buf		body;
	char		etag[128];
	char		request_id[128];
	char		date[64];
	char		bucket_region[48];	/* x-amz-bucket-region */
	char		error_type[128];	/* x-amzn-errortype, before any ':' */
	char		checksum_sha256[64];	/* x-amz-checksum-sha256 echoed by S3 */
	int64_t		content_length;
	long		header_status;	/* from the status line, while the body arrives */
	size_t		max_body;		/* cap for this answer's body; 0: no cap */
	size_t		max_error_body; /* the cap when the status is not 2xx; 0: max_body */
	bool		unlimited_2xx;	/* a 2xx body is not capped (GetObject) */
	bool		truncated;		/* the body passed its cap: the transfer was ended */
} aws_response;

struct aws_client
{
	aws_config	cfg;			/* strings owned (copied) */
	char	   *s3_endpoint;
	char	   *sts_endpoint;
	char	   *securitylake_endpoint;
	bool		s3_default_endpoint;	/* AWS's own: a redirect may change the region in it */
	CURL	   *curl;
	CURLM	   *multi;			/* drives curl so the interrupt is polled every 100 ms */
	struct curl_slist *connect_to;
	char	   *redirect_bucket;	/* the bucket S3 redirected, and its region */
	char	   *redirect_region;
	bool		interrupt_hit;	/* the last transfer ended because interrupt_fn said so */
	bool		test_corrupt_checksum;	/* awsctl only: send a wrong x-amz-checksum-sha256 */
	long		clock_offset_s; /* server time − local time, learned from RequestTimeTooSkewed */
	aws_credentials base;		/* the chain's credentials */
	aws_credentials role;		/* assumed-role credentials, when role_arn */
	unsigned int rng;
};

typedef struct aws_http_request
{
	const char *method;
	const char *url_base;		/* scheme://host[:port] */
	const char *host;			/* Host header value */
	const char *path;			/* canonical (encoded) path */
	const char *query;			/* encoded, or NULL */
	const char *service;		/* "s3" or "sts" */
	const void *body;
	size_t		body_len;
	const char *content_type;
	const char *content_md5;
	const sigv4_header *extra;	/* more headers to send and sign (checksums, owner) */
	int			num_extra;
	const char *region;			/* signing region; NULL: the configured one */
	bool		sign;
	bool		unlimited_2xx;	/* GetObject: a successful body is not capped */
	const aws_credentials *creds;	/* NULL: the client's current ones */
} aws_http_request;

const char *aws_env(const aws_client *c, const char *name);
/* One signed request with retries; *resp must be freed with aws_response_free. */
int			aws_request(aws_client *c, const aws_http_request *req, aws_response *resp, aws_error *err);
/* A plain (unsigned) request without retries: metadata endpoints. */
int			aws_plain_request(aws_client *c, const char *method, const char *url,
							  const char *const *headers, long timeout_ms, aws_response *resp, aws_error *err);
void		aws_response_free(aws_response *r);
void		aws_set_error(aws_error *err, const char *operation, long status, const char *code,
						  bool retryable, const char *fmt,...) __attribute__((format(printf, 6, 7)));
/* Sleep MS in slices of <= 100 ms, polling the interrupt: -1 (err set) when interrupted. */
int			aws_sleep_interruptible(aws_client *c, long ms, const char *operation, aws_error *err);
bool		aws_interrupted(aws_client *c);
/* One attempt's overall time limit for a body of BODY_LEN bytes (request_timeout_ms + size). */
long		aws_request_timeout_ms(const aws_client *c, size_t body_len);

/* Credentials for signing: base or assumed role, refreshed ahead of expiry. */
int			aws_current_credentials(aws_client *c, const aws_credentials **out, aws_error *err);
int			aws_resolve_base_credentials(aws_client *c, aws_error *err);
int			aws_assume_role(aws_client *c, aws_error *err);
void		aws_invalidate_credentials(aws_client *c);

#endif							/* SECURITYLAKE_AWS_INTERNAL_H */
