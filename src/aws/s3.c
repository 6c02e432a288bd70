/*
 * s3.c — S3 operations: PutObject (Content-MD5, ETag checked), multipart upload
 * (Create / UploadPart / Complete, Abort on failure), HeadObject, GetObject,
 * ListObjectsV2, and location parsing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aws/aws_internal.h"

#define MAX_PARTS 10000

typedef struct s3_target
{
	char		url_base[340];
	char		host[320];
	char	   *path;			/* encoded, owned */
} s3_target;

/* Virtual-hosted style needs a DNS-compatible name (and no dots under TLS). */
static bool
virtual_hostable(const char *bucket, bool https)
{
	const char *p;

	if (strlen(bucket) < 3 || strlen(bucket) > 63)
		return false;
	for (p = bucket; *p; p++)
		if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '-' || (*p == '.' && !https)))
			return false;
	return true;
}

static int
s3_target_for(aws_client *c, const char *bucket, const char *key, s3_target *t, aws_error *err)
{
	const char *ep = c->s3_endpoint;
	bool		https = strncmp(ep, "https://", 8) == 0;
	const char *hostpart = strstr(ep, "://") + 3;
	size_t		hostlen = strcspn(hostpart, "/");
	char	   *ekey = aws_uri_encode(key ? key : "", key ? strlen(key) : 0, true);
	aws_buf		path = {0};

	if (ekey == NULL || hostlen == 0 || hostlen > 250)
	{
		free(ekey);
		aws_set_error(err, "S3", 0, "InvalidConfig", false, "bad S3 endpoint or key");
		return -1;
	}
	if (!c->cfg.force_path_style && virtual_hostable(bucket, https))
	{
		snprintf(t->host, sizeof(t->host), "%s.%.*s", bucket, (int) hostlen, hostpart);
		snprintf(t->url_base, sizeof(t->url_base), "%s://%s", https ? "https" : "http", t->host);
		aws_buf_appendf(&path, "/%s", ekey);
	}
	else
	{
		snprintf(t->host, sizeof(t->host), "%.*s", (int) hostlen, hostpart);
		snprintf(t->url_base, sizeof(t->url_base), "%s://%s", https ? "https" : "http", t->host);
		aws_buf_appendf(&path, "/%s%s%s", bucket, key ? "/" : "", ekey);
	}
	free(ekey);
	t->path = path.data;
	return 0;
}

static aws_http_request
s3_request(const s3_target *t, const char *method, const char *query)
{
	aws_http_request r;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.url_base = t->url_base;
	r.host = t->host;
	r.path = t->path;
	r.query = query;
	r.service = "s3";
	r.sign = true;
	return r;
}

static void
begin_op(aws_error *err, const char *operation)
{
	memset(err, 0, sizeof(*err));
	snprintf(err->operation, sizeof(err->operation), "%s", operation);
}

/* ETag is "<hex md5>" for a single PUT: check it against what we sent. */
static bool
etag_matches(const char *etag, const void *data, size_t len)
{
	unsigned char md[16];
	unsigned int mdlen = 0;
	char		hex[33];
	int			i;

	EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return strstr(etag, hex) != NULL;
}

int
aws_put_object(aws_client *c, const char *bucket, const char *key,
			   const void *data, size_t len, const char *content_type, aws_error *err)
{
	s3_target	t;
	aws_http_request r;
	aws_response resp = {0};
	char		md5[25];
	int			rc;

	begin_op(err, "PutObject");
	if (s3_target_for(c, bucket, key, &t, err) != 0)
		return -1;
	aws_md5_base64(data, len, md5);
	r = s3_request(&t, "PUT", NULL);
	r.body = data;
	r.body_len = len;
	r.content_type = content_type;
	r.content_md5 = md5;
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0 && resp.etag[0] && !etag_matches(resp.etag, data, len))
	{
		aws_set_error(err, "PutObject", resp.status, "ETagMismatch", true,
					  "the ETag S3 returned does not match the MD5 of what was sent");
		rc = -1;
	}
	aws_response_free(&resp);
	free(t.path);
	return rc;
}

int
aws_abort_multipart_upload(aws_client *c, const char *bucket, const char *key,
						   const char *upload_id, aws_error *err)
{
	s3_target	t;
	aws_http_request r;
	aws_response resp = {0};
	char	   *eid = aws_uri_encode(upload_id, strlen(upload_id), false);
	aws_buf		q = {0};
	int			rc;

	begin_op(err, "AbortMultipartUpload");
	if (s3_target_for(c, bucket, key, &t, err) != 0)
	{
		free(eid);
		return -1;
	}
	aws_buf_appendf(&q, "uploadId=%s", eid);
	r = s3_request(&t, "DELETE", q.data);
	rc = aws_request(c, &r, &resp, err);
	/* Already gone is as good as aborted. */
	if (rc != 0 && strcmp(err->code, "NoSuchUpload") == 0)
		rc = 0;
	aws_response_free(&resp);
	aws_buf_free(&q);
	free(eid);
	free(t.path);
	return rc;
}

static int
create_multipart(aws_client *c, const s3_target *t, const char *content_type, char **upload_id, aws_error *err)
{
	aws_http_request r = s3_request(t, "POST", "uploads=");
	aws_response resp = {0};
	int			rc;

	begin_op(err, "CreateMultipartUpload");
	r.content_type = content_type;
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0)
	{
		*upload_id = aws_xml_find(resp.body.data, resp.body.len, "UploadId");
		if (*upload_id == NULL)
		{
			aws_set_error(err, "CreateMultipartUpload", resp.status, "MalformedResponse", true, "no UploadId in the answer");
			rc = -1;
		}
	}
	aws_response_free(&resp);
	return rc;
}

static int
upload_part(aws_client *c, const s3_target *t, const char *eid, int part, const void *data, size_t len,
			char *etag, size_t etag_len, aws_error *err)
{
	aws_buf		q = {0};
	aws_http_request r;
	aws_response resp = {0};
	char		md5[25];
	int			rc;

	begin_op(err, "UploadPart");
	aws_buf_appendf(&q, "partNumber=%d&uploadId=%s", part, eid);
	aws_md5_base64(data, len, md5);
	r = s3_request(t, "PUT", q.data);
	r.body = data;
	r.body_len = len;
	r.content_md5 = md5;
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0)
	{
		if (!resp.etag[0])
		{
			aws_set_error(err, "UploadPart", resp.status, "MalformedResponse", true, "no ETag for part %d", part);
			rc = -1;
		}
		else
			snprintf(etag, etag_len, "%s", resp.etag);
	}
	aws_response_free(&resp);
	aws_buf_free(&q);
	return rc;
}

static int
complete_multipart(aws_client *c, const s3_target *t, const char *eid, char (*etags)[128], int nparts, aws_error *err)
{
	aws_buf		q = {0};
	aws_buf		body = {0};
	aws_http_request r;
	aws_response resp = {0};
	char	   *code;
	int			rc;
	int			i;

	begin_op(err, "CompleteMultipartUpload");
	aws_buf_appendf(&q, "uploadId=%s", eid);
	aws_buf_appendf(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < nparts; i++)
		aws_buf_appendf(&body, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, etags[i]);
	aws_buf_appendf(&body, "</CompleteMultipartUpload>");
	r = s3_request(t, "POST", q.data);
	r.body = body.data;
	r.body_len = body.len;
	r.content_type = "application/xml";
	rc = aws_request(c, &r, &resp, err);
	/* S3 can fail a Complete after answering 200: the error is in the body. */
	if (rc == 0 && (code = aws_xml_find(resp.body.data, resp.body.len, "Code")) != NULL)
	{
		char	   *message = aws_xml_find(resp.body.data, resp.body.len, "Message");

		aws_set_error(err, "CompleteMultipartUpload", resp.status, code, true, "%s", message ? message : "failed after 200 OK");
		free(message);
		free(code);
		rc = -1;
	}
	aws_response_free(&resp);
	aws_buf_free(&q);
	aws_buf_free(&body);
	return rc;
}

static int
multipart_upload(aws_client *c, const char *bucket, const char *key, const void *data, size_t len,
				 const char *content_type, void (*on_upload_id) (void *, const char *), void *ctx,
				 aws_error *err)
{
	s3_target	t;
	char	   *upload_id = NULL;
	char	   *eid;
	size_t		part_size = c->cfg.part_size;
	int			nparts;
	char		(*etags)[128];
	int			i;
	int			rc = 0;

	if (s3_target_for(c, bucket, key, &t, err) != 0)
		return -1;
	while ((len + part_size - 1) / part_size > MAX_PARTS)
		part_size *= 2;
	nparts = (int) ((len + part_size - 1) / part_size);
	if (create_multipart(c, &t, content_type, &upload_id, err) != 0)
	{
		free(t.path);
		return -1;
	}
	if (on_upload_id)
		on_upload_id(ctx, upload_id);
	eid = aws_uri_encode(upload_id, strlen(upload_id), false);
	etags = calloc((size_t) nparts, sizeof(*etags));
	for (i = 0; rc == 0 && i < nparts; i++)
	{
		size_t		off = (size_t) i * part_size;
		size_t		n = len - off < part_size ? len - off : part_size;

		rc = upload_part(c, &t, eid, i + 1, (const char *) data + off, n, etags[i], sizeof(etags[i]), err);
	}
	if (rc == 0)
		rc = complete_multipart(c, &t, eid, etags, nparts, err);
	if (rc != 0)
	{
		aws_error abort_err;
		aws_error saved = *err;

		/* Never leave parts behind; report the error that made us abort. */
		(void) aws_abort_multipart_upload(c, bucket, key, upload_id, &abort_err);
		*err = saved;
	}
	free(etags);
	free(eid);
	free(upload_id);
	free(t.path);
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

int
aws_head_object(aws_client *c, const char *bucket, const char *key, int64_t *size, aws_error *err)
{
	s3_target	t;
	aws_http_request r;
	aws_response resp = {0};
	int			rc;

	begin_op(err, "HeadObject");
	if (s3_target_for(c, bucket, key, &t, err) != 0)
		return -1;
	r = s3_request(&t, "HEAD", NULL);
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0 && size)
		*size = resp.content_length;
	if (rc != 0 && resp.status == 404)
		rc = 1;
	aws_response_free(&resp);
	free(t.path);
	return rc;
}

int
aws_get_object(aws_client *c, const char *bucket, const char *key, void **data, size_t *len, aws_error *err)
{
	s3_target	t;
	aws_http_request r;
	aws_response resp = {0};
	int			rc;

	begin_op(err, "GetObject");
	if (s3_target_for(c, bucket, key, &t, err) != 0)
		return -1;
	r = s3_request(&t, "GET", NULL);
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0)
	{
		*data = resp.body.data;
		*len = resp.body.len;
		resp.body.data = NULL;
	}
	aws_response_free(&resp);
	free(t.path);
	return rc;
}

int
aws_list_objects(aws_client *c, const char *bucket, const char *prefix,
				 void (*fn) (void *ctx, const char *key, int64_t size), void *ctx, aws_error *err)
{
	s3_target	t;
	char	   *token = NULL;
	int			rc = 0;

	begin_op(err, "ListObjectsV2");
	if (s3_target_for(c, bucket, NULL, &t, err) != 0)
		return -1;
	do
	{
		aws_buf		q = {0};
		char	   *ep = aws_uri_encode(prefix ? prefix : "", prefix ? strlen(prefix) : 0, false);
		aws_http_request r;
		aws_response resp = {0};
		bool		truncated = false;

		if (token)
		{
			char	   *et = aws_uri_encode(token, strlen(token), false);

			aws_buf_appendf(&q, "continuation-token=%s&", et);
			free(et);
		}
		aws_buf_appendf(&q, "list-type=2&prefix=%s", ep);
		free(ep);
		r = s3_request(&t, "GET", q.data);
		rc = aws_request(c, &r, &resp, err);
		free(token);
		token = NULL;
		if (rc == 0)
			token = aws_xml_list_keys(resp.body.data, resp.body.len, fn, ctx, &truncated);
		if (!truncated)
		{
			free(token);
			token = NULL;
		}
		aws_response_free(&resp);
		aws_buf_free(&q);
	} while (rc == 0 && token);
	free(t.path);
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

/* ---- streaming upload ----------------------------------------------------------------- */
struct aws_upload_stream
{
	aws_client *client;
	char	   *bucket;
	char	   *key;
	char	   *content_type;
	void		(*on_upload_id) (void *ctx, const char *upload_id);
	void	   *ctx;
	aws_buf		pending;		/* bytes not yet sent */
	s3_target	target;
	char	   *upload_id;		/* NULL until the upload goes multipart */
	char	   *eid;			/* upload id, URI-encoded */
	char		(*etags)[128];
	int			nparts;
	bool		failed;
};

static void
stream_free(aws_upload_stream *s)
{
	free(s->bucket);
	free(s->key);
	free(s->content_type);
	aws_buf_free(&s->pending);
	free(s->target.path);
	free(s->upload_id);
	free(s->eid);
	free(s->etags);
	free(s);
}

aws_upload_stream *
aws_upload_begin(aws_client *c, const char *bucket, const char *key, const char *content_type,
				 void (*on_upload_id) (void *ctx, const char *upload_id), void *ctx, aws_error *err)
{
	aws_upload_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
	{
		aws_set_error(err, "Upload", 0, "OutOfMemory", false, "out of memory");
		return NULL;
	}
	s->client = c;
	s->bucket = aws_strdup(bucket);
	s->key = aws_strdup(key);
	s->content_type = aws_strdup(content_type ? content_type : "application/octet-stream");
	s->on_upload_id = on_upload_id;
	s->ctx = ctx;
	if (s3_target_for(c, bucket, key, &s->target, err) != 0)
	{
		stream_free(s);
		return NULL;
	}
	return s;
}

static int
stream_start_multipart(aws_upload_stream *s, aws_error *err)
{
	if (create_multipart(s->client, &s->target, s->content_type, &s->upload_id, err) != 0)
		return -1;
	if (s->on_upload_id)
		s->on_upload_id(s->ctx, s->upload_id);
	s->eid = aws_uri_encode(s->upload_id, strlen(s->upload_id), false);
	return 0;
}

/* Send LEN bytes from the front of the pending buffer as the next part. */
static int
stream_send_part(aws_upload_stream *s, size_t len, aws_error *err)
{
	void	   *grown;

	if (s->nparts >= MAX_PARTS)
	{
		aws_set_error(err, "UploadPart", 0, "TooManyParts", false,
					  "the object needs more than %d parts: raise the part size", MAX_PARTS);
		return -1;
	}
	grown = realloc(s->etags, (size_t) (s->nparts + 1) * sizeof(*s->etags));
	if (grown == NULL)
	{
		aws_set_error(err, "UploadPart", 0, "OutOfMemory", false, "out of memory");
		return -1;
	}
	s->etags = grown;
	if (upload_part(s->client, &s->target, s->eid, s->nparts + 1, s->pending.data, len,
					s->etags[s->nparts], sizeof(s->etags[0]), err) != 0)
		return -1;
	s->nparts++;
	memmove(s->pending.data, s->pending.data + len, s->pending.len - len);
	s->pending.len -= len;
	return 0;
}

int
aws_upload_write(aws_upload_stream *s, const void *data, size_t len, aws_error *err)
{
	size_t		part_size = s->client->cfg.part_size;

	if (s->failed)
	{
		aws_set_error(err, "Upload", 0, "UploadFailed", false, "the upload already failed: abort it");
		return -1;
	}
	if (aws_buf_append(&s->pending, data, len) != 0)
	{
		aws_set_error(err, "Upload", 0, "OutOfMemory", false, "out of memory");
		s->failed = true;
		return -1;
	}
	/* Stay a single PutObject while the object fits under the threshold. */
	if (s->upload_id == NULL && s->pending.len <= s->client->cfg.multipart_threshold)
		return 0;
	if (s->upload_id == NULL && stream_start_multipart(s, err) != 0)
	{
		s->failed = true;
		return -1;
	}
	/* Keep at least one byte back so the last part is never empty. */
	while (s->pending.len > part_size)
		if (stream_send_part(s, part_size, err) != 0)
		{
			s->failed = true;
			return -1;
		}
	return 0;
}

void
aws_upload_abort(aws_upload_stream *s)
{
	aws_error	ignored;

	if (s == NULL)
		return;
	if (s->upload_id)
		(void) aws_abort_multipart_upload(s->client, s->bucket, s->key, s->upload_id, &ignored);
	stream_free(s);
}

int
aws_upload_finish(aws_upload_stream *s, aws_error *err)
{
	int			rc;

	if (s->failed)
	{
		aws_set_error(err, "Upload", 0, "UploadFailed", false, "the upload already failed");
		rc = -1;
	}
	else if (s->upload_id == NULL)
		rc = aws_put_object(s->client, s->bucket, s->key, s->pending.data, s->pending.len, s->content_type, err);
	else
	{
		rc = s->pending.len > 0 ? stream_send_part(s, s->pending.len, err) : 0;
		if (rc == 0)
			rc = complete_multipart(s->client, &s->target, s->eid, s->etags, s->nparts, err);
	}
	if (rc != 0 && s->upload_id)
	{
		aws_error	saved = *err;

		/* Never leave parts behind; report the error that made us abort. */
		aws_upload_abort(s);
		*err = saved;
		return -1;
	}
	stream_free(s);
	return rc;
}
