/*
 * s3.c — S3 operations: PutObject, the caller-driven multipart upload (Create / UploadPart /
 * Complete / Abort), HeadObject, GetObject, ListObjectsV2, and location parsing.
 *
 * Integrity: PutObject and UploadPart send Content-MD5 and x-amz-checksum-sha256 (S3 checks
 * both: BadDigest); multipart uploads are created with x-amz-checksum-algorithm: SHA256 and
 * completed with each part's checksum. An ETag is opaque: with SSE-KMS it is not the MD5 of
 * anything we sent, so it is never compared with one.
 *
 * Every request carries x-amz-expected-bucket-owner when configured. A region redirect
 * (301 PermanentRedirect, or 400 AuthorizationHeaderMalformed naming the bucket's region) is
 * followed once: re-signed for the region S3 names (and sent to that region's endpoint when
 * the endpoint is AWS's default), and remembered for the bucket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_internal.h"

typedef struct s3_target
{
	char		url_base[340];
	char		host[320];
	char	   *path;			/* encoded, owned */
	const char *region;			/* signing region */
} s3_target;

/* What one S3 call sends, apart from where. */
typedef struct s3_call
{
	const char *operation;
	const char *method;
	const char *query;
	const void *body;
	size_t		body_len;
	const char *content_type;
	const char *content_md5;
	sigv4_header extra[4];
	int			num_extra;
	bool		unlimited_2xx;
} s3_call;

/* Virtual-hosted style needs a DNS-compatible name (and no dots under TLS). */
static bool
virtual_hostable(const char *bucket, bool https)
{
	const char *p;

	if (strlen(bucket) < 3 || strlen(bucket) > 63)
		return false;
	for (p = bucket; *p; p++)
		if (!(aws_is_lower((unsigned char) *p) || aws_is_digit((unsigned char) *p) || *p == '-' || (*p == '.' && !https)))
			return false;
	return true;
}

/* The region to sign for: the one S3 named for this bucket after a redirect, else ours. */
static const char *
bucket_region(const aws_client *c, const char *bucket)
{
	if (c->redirect_bucket && strcmp(c->redirect_bucket, bucket) == 0)
		return c->redirect_region;
	return c->cfg.region;
}

static int
s3_target_for(aws_client *c, const char *bucket, const char *key, s3_target *t, aws_error *err)
{
	char		regional[300];
	const char *region = bucket_region(c, bucket);
	const char *ep = c->s3_endpoint;
	bool		https;
	const char *hostpart;
	size_t		hostlen;
	char	   *ekey = aws_uri_encode(key ? key : "", key ? strlen(key) : 0, true);
	aws_buf		path = {0};

	if (c->s3_default_endpoint)
	{
		/* AWS's own endpoint follows the bucket's region. */
		snprintf(regional, sizeof(regional), "https://s3.%s.amazonaws.com", region);
		ep = regional;
	}
	https = strncmp(ep, "https://", 8) == 0;
	hostpart = strstr(ep, "://") + 3;
	hostlen = strcspn(hostpart, "/");
	if (ekey == NULL || hostlen == 0 || hostlen > 250)
	{
		free(ekey);
		aws_set_error(err, "S3", 0, "InvalidConfig", false, "bad S3 endpoint or key");
		return -1;
	}
	if (!c->cfg.force_path_style && virtual_hostable(bucket, https))
	{
		snprintf(t->host, sizeof(t->host), "%s.%.*s", bucket, (int) hostlen, hostpart);
		aws_buf_appendf(&path, "/%s", ekey);
	}
	else
	{
		snprintf(t->host, sizeof(t->host), "%.*s", (int) hostlen, hostpart);
		aws_buf_appendf(&path, "/%s%s%s", bucket, key ? "/" : "", ekey);
	}
	snprintf(t->url_base, sizeof(t->url_base), "%s://%s", https ? "https" : "http", t->host);
	free(ekey);
	t->path = path.data;
	t->region = region;
	return 0;
}

static void
begin_op(aws_error *err, const char *operation)
{
	memset(err, 0, sizeof(*err));
	snprintf(err->operation, sizeof(err->operation), "%s", operation);
}

/* The region an error answer names: x-amz-bucket-region, else its <Region> element. */
static char *
redirect_region(const aws_response *resp, const aws_error *err)
{
	bool		redirect = strcmp(err->code, "PermanentRedirect") == 0 || resp->status == 301 || resp->status == 307 ||
		strcmp(err->code, "AuthorizationHeaderMalformed") == 0 || strcmp(err->code, "IllegalLocationConstraintException") == 0 ||
		(resp->status == 400 && resp->bucket_region[0]);
	char	   *region;
	const char *p;

	if (!redirect)
		return NULL;
	region = resp->bucket_region[0] ? aws_strdup(resp->bucket_region) : aws_xml_find(resp->body.data, resp->body.len, "Region");
	/* A region is a short run of [a-z0-9-]: anything else is not one to sign for. */
	for (p = region; p && *p; p++)
		if (!(aws_is_lower((unsigned char) *p) || aws_is_digit((unsigned char) *p) || *p == '-'))
			break;
	if (region == NULL || *p != '\0' || strlen(region) < 3 || strlen(region) > 32)
	{
		free(region);
		return NULL;
	}
	return region;
}

static void
remember_region(aws_client *c, const char *bucket, char *region)
{
	free(c->redirect_bucket);
	free(c->redirect_region);
	c->redirect_bucket = aws_strdup(bucket);
	c->redirect_region = region;
}

static int
s3_send(aws_client *c, const s3_target *t, const s3_call *call, aws_response *resp, aws_error *err)
{
	aws_http_request r;
	sigv4_header extra[6];
	int			n = 0;
	int			i;

	memset(&r, 0, sizeof(r));
	if (c->cfg.expected_bucket_owner)
		extra[n++] = (sigv4_header) {"x-amz-expected-bucket-owner", c->cfg.expected_bucket_owner};
	for (i = 0; i < call->num_extra; i++)
		extra[n++] = call->extra[i];
	r.method = call->method;
	r.url_base = t->url_base;
	r.host = t->host;
	r.path = t->path;
	r.query = call->query;
	r.service = "s3";
	r.region = t->region;
	r.sign = true;
	r.body = call->body;
	r.body_len = call->body_len;
	r.content_type = call->content_type;
	r.content_md5 = call->content_md5;
	r.extra = extra;
	r.num_extra = n;
	r.unlimited_2xx = call->unlimited_2xx;
	return aws_request(c, &r, resp, err);
}

/* One S3 call on bucket/key, following one region redirect. */
static int
s3_exchange(aws_client *c, const char *bucket, const char *key, const s3_call *call,
			aws_response *resp, aws_error *err)
{
	s3_target	t;
	int			rc;
	char	   *region;

	begin_op(err, call->operation);
	if (s3_target_for(c, bucket, key, &t, err) != 0)
		return -1;
	rc = s3_send(c, &t, call, resp, err);
	if (rc != 0 && (region = redirect_region(resp, err)) != NULL)
	{
		if (strcmp(region, t.region) == 0)
			free(region);		/* already signed for it: nothing to follow */
		else
		{
			remember_region(c, bucket, region);
			free(t.path);
			begin_op(err, call->operation);
			if (s3_target_for(c, bucket, key, &t, err) != 0)
				return -1;
			rc = s3_send(c, &t, call, resp, err);
		}
	}
	free(t.path);
	return rc;
}

/* Content-MD5 and x-amz-checksum-sha256 of a body, as call headers. */
typedef struct body_digests
{
	char		md5[25];
	char		sha256[45];
} body_digests;

static void
add_digests(aws_client *c, s3_call *call, body_digests *d)
{
	aws_md5_base64(call->body ? call->body : "", call->body_len, d->md5);
	aws_sha256_base64(call->body ? call->body : "", call->body_len, d->sha256);
	if (c->test_corrupt_checksum)
		d->sha256[0] = d->sha256[0] == 'A' ? 'B' : 'A';
	call->content_md5 = d->md5;
	call->extra[call->num_extra++] = (sigv4_header) {"x-amz-checksum-sha256", d->sha256};
}

/* S3 echoes the checksum it verified; one that differs from ours is a corrupted answer. */
static int
check_echo(const aws_response *resp, const body_digests *d, const char *operation, aws_error *err)
{
	if (resp->checksum_sha256[0] && strcmp(resp->checksum_sha256, d->sha256) != 0)
	{
		aws_set_error(err, operation, resp->status, "ChecksumMismatch", true,
					  "S3 acknowledged a SHA-256 checksum other than the one sent");
		return -1;
	}
	return 0;
}

int
aws_put_object(aws_client *c, const char *bucket, const char *key,
			   const void *data, size_t len, const char *content_type, aws_error *err)
{
	s3_call		call = {.operation = "PutObject", .method = "PUT", .body = data, .body_len = len,
	.content_type = content_type};
	body_digests d;
	aws_response resp = {0};
	int			rc;

	if (len > AWS_MAX_PART_SIZE)
	{
		begin_op(err, "PutObject");
		aws_set_error(err, "PutObject", 0, "EntityTooLarge", false, "one PutObject takes at most 5 GiB: use a multipart upload");
		return -1;
	}
	add_digests(c, &call, &d);
	rc = s3_exchange(c, bucket, key, &call, &resp, err);
	if (rc == 0)
		rc = check_echo(&resp, &d, "PutObject", err);
	aws_response_free(&resp);
	return rc;
}

static char *
upload_query(const char *upload_id, int part_number)
{
	char	   *eid = aws_uri_encode(upload_id, strlen(upload_id), false);
	aws_buf		q = {0};

	if (eid == NULL)
		return NULL;
	if (part_number > 0)
		aws_buf_appendf(&q, "partNumber=%d&uploadId=%s", part_number, eid);
	else
		aws_buf_appendf(&q, "uploadId=%s", eid);
	free(eid);
	return q.data;
}

int
aws_abort_multipart_upload(aws_client *c, const char *bucket, const char *key,
						   const char *upload_id, aws_error *err)
{
	char	   *q = upload_query(upload_id, 0);
	s3_call		call = {.operation = "AbortMultipartUpload", .method = "DELETE", .query = q};
	aws_response resp = {0};
	int			rc = s3_exchange(c, bucket, key, &call, &resp, err);

	/* Already gone is as good as aborted. */
	if (rc != 0 && strcmp(err->code, "NoSuchUpload") == 0)
		rc = 0;
	aws_response_free(&resp);
	free(q);
	return rc;
}

int
aws_multipart_create(aws_client *c, const char *bucket, const char *key, const char *content_type,
					 char **upload_id, aws_error *err)
{
	s3_call		call = {.operation = "CreateMultipartUpload", .method = "POST", .query = "uploads=",
	.content_type = content_type ? content_type : "application/octet-stream"};
	aws_response resp = {0};
	int			rc;

	*upload_id = NULL;
	call.extra[call.num_extra++] = (sigv4_header) {"x-amz-checksum-algorithm", "SHA256"};
	rc = s3_exchange(c, bucket, key, &call, &resp, err);
	if (rc == 0)
	{
		*upload_id = aws_xml_find(resp.body.data, resp.body.len, "UploadId");
		if (*upload_id == NULL || **upload_id == '\0')
		{
			free(*upload_id);
			*upload_id = NULL;
			aws_set_error(err, "CreateMultipartUpload", resp.status, "MalformedResponse", true, "no UploadId in the answer");
			rc = -1;
		}
	}
	aws_response_free(&resp);
	return rc;
}

static int
invalid_part(aws_error *err, const char *operation, const char *fmt, int a)
{
	aws_set_error(err, operation, 0, "InvalidPart", false, fmt, a);
	return -1;
}

int
aws_multipart_upload_part(aws_client *c, const char *bucket, const char *key, const char *upload_id,
						  int part_number, const void *data, size_t len, aws_part *out, aws_error *err)
{
	char	   *q;
	s3_call		call = {.operation = "UploadPart", .method = "PUT", .body = data, .body_len = len};
	body_digests d;
	aws_response resp = {0};
	int			rc;

	begin_op(err, "UploadPart");
	memset(out, 0, sizeof(*out));
	if (part_number < 1 || part_number > AWS_MAX_PARTS)
		return invalid_part(err, "UploadPart", "part numbers are 1 to 10000, not %d", part_number);
	if (len > AWS_MAX_PART_SIZE)
		return invalid_part(err, "UploadPart", "part %d is larger than 5 GiB", part_number);
	if ((q = upload_query(upload_id, part_number)) == NULL)
		return invalid_part(err, "UploadPart", "out of memory for part %d", part_number);
	call.query = q;
	add_digests(c, &call, &d);
	rc = s3_exchange(c, bucket, key, &call, &resp, err);
	if (rc == 0 && !resp.etag[0])
	{
		aws_set_error(err, "UploadPart", resp.status, "MalformedResponse", true, "no ETag for part %d", part_number);
		rc = -1;
	}
	if (rc == 0)
		rc = check_echo(&resp, &d, "UploadPart", err);
	if (rc == 0)
	{
		out->part_number = part_number;
		out->size = len;
		snprintf(out->etag, sizeof(out->etag), "%s", resp.etag);
		snprintf(out->checksum_sha256, sizeof(out->checksum_sha256), "%s", d.sha256);
	}
	aws_response_free(&resp);
	free(q);
	return rc;
}

/* S3's own rules, checked before sending: numbers ascending, each part but the last >= 5 MiB. */
static int
check_parts(const aws_part *parts, int nparts, aws_error *err)
{
	int			i;

	if (nparts < 1 || nparts > AWS_MAX_PARTS)
		return invalid_part(err, "CompleteMultipartUpload", "a multipart upload has 1 to 10000 parts, not %d", nparts);
	for (i = 0; i < nparts; i++)
	{
		if (parts[i].part_number < 1 || (i > 0 && parts[i].part_number <= parts[i - 1].part_number))
			return invalid_part(err, "CompleteMultipartUpload", "part numbers must ascend (at position %d)", i + 1);
		if (i < nparts - 1 && parts[i].size < AWS_MIN_PART_SIZE)
			return invalid_part(err, "CompleteMultipartUpload",
								"part %d is smaller than 5 MiB and is not the last", parts[i].part_number);
		if (!parts[i].etag[0] || !parts[i].checksum_sha256[0])
			return invalid_part(err, "CompleteMultipartUpload", "part %d has no ETag or checksum", parts[i].part_number);
	}
	return 0;
}

static void
xml_text(aws_buf *b, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '&')
			aws_buf_append(b, "&amp;", 5);
		else if (*s == '<')
			aws_buf_append(b, "&lt;", 4);
		else if (*s == '>')
			aws_buf_append(b, "&gt;", 4);
		else if (*s == '"')
			aws_buf_append(b, "&quot;", 6);
		else
			aws_buf_append(b, s, 1);
	}
}

static void
complete_body(aws_buf *body, const aws_part *parts, int nparts)
{
	int			i;

	aws_buf_appendf(body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < nparts; i++)
	{
		aws_buf_appendf(body, "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].part_number);
		xml_text(body, parts[i].etag);
		aws_buf_appendf(body, "</ETag><ChecksumSHA256>%s</ChecksumSHA256></Part>", parts[i].checksum_sha256);
	}
	aws_buf_appendf(body, "</CompleteMultipartUpload>");
}

/* S3 can fail a Complete after answering 200: the body is then an <Error>. */
static int
check_complete_answer(const aws_response *resp, aws_error *err)
{
	char	   *root = aws_xml_root_name(resp->body.data, resp->body.len);
	int			rc = 0;

	if (root && strcmp(root, "Error") == 0)
	{
		char	   *code = aws_xml_find(resp->body.data, resp->body.len, "Code");
		char	   *message = aws_xml_find(resp->body.data, resp->body.len, "Message");

		aws_set_error(err, "CompleteMultipartUpload", resp->status, code ? code : "InternalError",
					  true, "%s (failed after 200 OK)", message ? message : "no message");
		free(code);
		free(message);
		rc = -1;
	}
	else if (root == NULL || strcmp(root, "CompleteMultipartUploadResult") != 0)
	{
		aws_set_error(err, "CompleteMultipartUpload", resp->status, "MalformedResponse", true,
					  "the answer to CompleteMultipartUpload is not a CompleteMultipartUploadResult");
		rc = -1;
	}
	free(root);
	return rc;
}

int
aws_multipart_complete(aws_client *c, const char *bucket, const char *key, const char *upload_id,
					   const aws_part *parts, int nparts, aws_error *err)
{
	char	   *q;
	aws_buf		body = {0};
	s3_call		call = {.operation = "CompleteMultipartUpload", .method = "POST", .content_type = "application/xml"};
	aws_response resp = {0};
	int			rc;

	begin_op(err, "CompleteMultipartUpload");
	if (check_parts(parts, nparts, err) != 0)
		return -1;
	if ((q = upload_query(upload_id, 0)) == NULL)
		return invalid_part(err, "CompleteMultipartUpload", "out of memory (%d parts)", nparts);
	complete_body(&body, parts, nparts);
	call.query = q;
	call.body = body.data;
	call.body_len = body.len;
	rc = s3_exchange(c, bucket, key, &call, &resp, err);
	if (rc == 0)
		rc = check_complete_answer(&resp, err);
	aws_response_free(&resp);
	aws_buf_free(&body);
	free(q);
	return rc;
}

/* ---- the transitional whole-object upload ------------------------------------------------- */
static int
upload_parts(aws_client *c, const char *bucket, const char *key, const char *upload_id,
			 const char *data, size_t len, size_t part_size, aws_part *parts, int nparts, aws_error *err)
{
	int			i;

	for (i = 0; i < nparts; i++)
	{
		size_t		off = (size_t) i * part_size;
		size_t		n = len - off < part_size ? len - off : part_size;

		if (aws_multipart_upload_part(c, bucket, key, upload_id, i + 1, data + off, n, &parts[i], err) != 0)
			return -1;
	}
	return aws_multipart_complete(c, bucket, key, upload_id, parts, nparts, err);
}

static int
multipart_upload(aws_client *c, const char *bucket, const char *key, const void *data, size_t len,
				 const char *content_type, void (*on_upload_id) (void *, const char *), void *ctx,
				 aws_error *err)
{
	char	   *upload_id = NULL;
	size_t		part_size = c->cfg.part_size;
	int			nparts;
	aws_part   *parts;
	int			rc;

	while ((len + part_size - 1) / part_size > AWS_MAX_PARTS)
		part_size *= 2;
	nparts = (int) ((len + part_size - 1) / part_size);
	if (aws_multipart_create(c, bucket, key, content_type, &upload_id, err) != 0)
		return -1;
	if (on_upload_id)
		on_upload_id(ctx, upload_id);
	parts = calloc((size_t) nparts, sizeof(aws_part));
	if (parts == NULL)
	{
		aws_set_error(err, "Upload", 0, "OutOfMemory", false, "out of memory");
		rc = -1;
	}
	else
		rc = upload_parts(c, bucket, key, upload_id, data, len, part_size, parts, nparts, err);
	if (rc != 0)
	{
		aws_error	abort_err;
		aws_error	saved = *err;

		/* Never leave parts behind; report the error that made us abort. */
		(void) aws_abort_multipart_upload(c, bucket, key, upload_id, &abort_err);
		*err = saved;
	}
	free(parts);
	free(upload_id);
	return rc;
}

int
aws_upload(aws_client *c, const char *bucket, const char *key, const void *data, size_t len,
		   const char *content_type, void (*on_upload_id) (void *ctx, const char *upload_id), void *ctx,
		   aws_error *err)
{
	if (len <= c->cfg.multipart_threshold)
		return aws_put_object(c, bucket, key, data, len, content_type, err);
	return multipart_upload(c, bucket, key, data, len, content_type, on_upload_id, ctx, err);
}

/* ---- reads -------------------------------------------------------------------------------- */
int
aws_head_object(aws_client *c, const char *bucket, const char *key, int64_t *size, aws_error *err)
{
	s3_call		call = {.operation = "HeadObject", .method = "HEAD"};
	aws_response resp = {0};
	int			rc = s3_exchange(c, bucket, key, &call, &resp, err);

	if (rc == 0 && size)
		*size = resp.content_length;
	if (rc != 0 && resp.status == 404)
		rc = 1;
	aws_response_free(&resp);
	return rc;
}

int
aws_get_object(aws_client *c, const char *bucket, const char *key, void **data, size_t *len, aws_error *err)
{
	s3_call		call = {.operation = "GetObject", .method = "GET", .unlimited_2xx = true};
	aws_response resp = {0};
	int			rc = s3_exchange(c, bucket, key, &call, &resp, err);

	if (rc == 0)
	{
		*data = resp.body.data;
		*len = resp.body.len;
		resp.body.data = NULL;
	}
	aws_response_free(&resp);
	return rc;
}

static int
list_page(aws_client *c, const char *bucket, const char *prefix, char **token,
		  void (*fn) (void *ctx, const char *key, int64_t size), void *ctx, aws_error *err)
{
	aws_buf		q = {0};
	char	   *ep = aws_uri_encode(prefix ? prefix : "", prefix ? strlen(prefix) : 0, false);
	s3_call		call = {.operation = "ListObjectsV2", .method = "GET"};
	aws_response resp = {0};
	bool		truncated = false;
	int			rc;

	if (*token)
	{
		char	   *et = aws_uri_encode(*token, strlen(*token), false);

		aws_buf_appendf(&q, "continuation-token=%s&", et);
		free(et);
	}
	aws_buf_appendf(&q, "list-type=2&prefix=%s", ep);
	free(ep);
	call.query = q.data;
	rc = s3_exchange(c, bucket, NULL, &call, &resp, err);
	free(*token);
	*token = NULL;
	if (rc == 0)
		*token = aws_xml_list_keys(resp.body.data, resp.body.len, fn, ctx, &truncated);
	if (!truncated)
	{
		free(*token);
		*token = NULL;
	}
	aws_response_free(&resp);
	aws_buf_free(&q);
	return rc;
}

int
aws_list_objects(aws_client *c, const char *bucket, const char *prefix,
				 void (*fn) (void *ctx, const char *key, int64_t size), void *ctx, aws_error *err)
{
	char	   *token = NULL;
	int			rc;

	do
		rc = list_page(c, bucket, prefix, &token, fn, ctx, err);
	while (rc == 0 && token);
	free(token);
	return rc;
}

/*
 * Where the S3 label starts in an https host: the last ".s3." or ".s3-" (bucket names may
 * themselves hold dots and "s3"), or the host itself when it begins with "s3." / "s3-"
 * (path style). NULL when the host is not S3's.
 */
static const char *
s3_label(const char *host, size_t hostlen)
{
	const char *found = NULL;
	const char *p;

	if (hostlen > 3 && strncmp(host, "s3", 2) == 0 && (host[2] == '.' || host[2] == '-'))
		return host;
	for (p = host; p + 4 <= host + hostlen; p++)
		if (strncmp(p, ".s3", 3) == 0 && (p[3] == '.' || p[3] == '-'))
			found = p;
	return found;
}

static int
invalid_location(aws_error *err, const char *why)
{
	aws_set_error(err, "ParseLocation", 0, "InvalidLocation", false,
				  "%s: a location is s3://<bucket>/<prefix> or https://<bucket>.s3.<region>.amazonaws.com/<prefix>", why);
	return -1;
}

/* s3://bucket/prefix, https://bucket.s3[.-]region.amazonaws.com/prefix, or path style
 * https://s3.region.amazonaws.com/bucket/prefix. */
int
aws_parse_location(const char *location, char **bucket, char **prefix, aws_error *err)
{
	const char *p;
	const char *slash;
	size_t		blen;

	*bucket = *prefix = NULL;
	if (strncmp(location, "s3://", 5) == 0)
		p = location + 5;
	else if (strncmp(location, "https://", 8) == 0)
	{
		const char *host = location + 8;
		size_t		hostlen = strcspn(host, "/?#");
		const char *label = s3_label(host, hostlen);

		if (label == NULL)
			return invalid_location(err, "the host is not an S3 endpoint");
		if (label != host)
		{
			*bucket = strndup(host, (size_t) (label - host));
			*prefix = aws_strdup(host[hostlen] == '/' ? host + hostlen + 1 : "");
			return 0;
		}
		p = host[hostlen] == '/' ? host + hostlen + 1 : host + hostlen;	/* path style */
	}
	else
		return invalid_location(err, "unknown scheme");
	slash = strchr(p, '/');
	blen = slash ? (size_t) (slash - p) : strlen(p);
	*bucket = strndup(p, blen);
	*prefix = aws_strdup(slash ? slash + 1 : "");
	if (**bucket == '\0')
	{
		free(*bucket);
		free(*prefix);
		*bucket = *prefix = NULL;
		aws_set_error(err, "ParseLocation", 0, "InvalidLocation", false, "the location names no bucket");
		return -1;
	}
	return 0;
}

