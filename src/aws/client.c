/*
 * client.c — HTTP through one kept-alive libcurl handle, SigV4-signed, with retries:
 * exponential backoff with full jitter on 5xx, 429, SlowDown, RequestTimeout,
 * InternalError, connection failures and timeouts; RequestTimeTooSkewed corrects the
 * clock offset from the answer's Date and re-signs; ExpiredToken refreshes the
 * credentials once. 4xx authentication and validation errors are never retried.
 */
#define _DEFAULT_SOURCE			/* timegm, rand_r */
#define _XOPEN_SOURCE 700		/* strptime */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/aws_internal.h"

void
aws_config_init(aws_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->multipart_threshold = 16 * 1024 * 1024;
	cfg->part_size = 8 * 1024 * 1024;
	cfg->role_session_name = "securitylake";
	cfg->duration_seconds = 3600;
	cfg->refresh_ahead_seconds = 300;
	cfg->connect_timeout_ms = 5000;
	cfg->low_speed_limit = 1024;
	cfg->low_speed_time_s = 30;
	cfg->metadata_timeout_ms = 1000;
	cfg->max_attempts = 5;
	cfg->base_delay_ms = 200;
	cfg->max_delay_ms = 20000;
	cfg->max_elapsed_ms = 120000;
}

void
aws_set_error(aws_error *err, const char *operation, long status, const char *code,
			  bool retryable, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	err->http_status = status;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "Error");
	snprintf(err->operation, sizeof(err->operation), "%s", operation ? operation : "");
	err->retryable = retryable;
	err->request_id[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void
aws_error_format(const aws_error *err, char *buf, size_t len)
{
	char		status[32] = "";

	if (err->http_status)
		snprintf(status, sizeof(status), " (HTTP %ld)", err->http_status);
	snprintf(buf, len, "%s%s%s%s: %s%s%s%s", err->code, status,
			 err->operation[0] ? " during " : "", err->operation, err->message,
			 err->request_id[0] ? " [request id " : "", err->request_id, err->request_id[0] ? "]" : "");
}

const char *
aws_env(const aws_client *c, const char *name)
{
	const char *v = c->cfg.getenv_fn ? c->cfg.getenv_fn(c->cfg.getenv_ctx, name) : getenv(name);

	return (v && *v) ? v : NULL;
}

/* ---- endpoints ---------------------------------------------------------------------- */
typedef struct endpoint
{
	char		scheme[8];
	char		host[256];		/* host[:port] as it goes in the Host header */
} endpoint;

static int
parse_endpoint(const char *url, endpoint *ep)
{
	const char *p;
	size_t		n;

	if (strncmp(url, "https://", 8) == 0)
		strcpy(ep->scheme, "https");
	else if (strncmp(url, "http://", 7) == 0)
		strcpy(ep->scheme, "http");
	else
		return -1;
	p = strstr(url, "://") + 3;
	n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(ep->host))
		return -1;
	memcpy(ep->host, p, n);
	ep->host[n] = '\0';
	return 0;
}

static char *
dup_or_null(const char *s)
{
	return s ? aws_strdup(s) : NULL;
}

aws_client *
aws_client_new(const aws_config *cfg, aws_error *err)
{
	aws_client *c;
	char		buf[300];
	endpoint	ep;
	aws_tag    *tags = NULL;
	int			i;

	memset(err, 0, sizeof(*err));
	if (cfg->region == NULL || strlen(cfg->region) < 3 || strlen(cfg->region) > 32)
	{
		aws_set_error(err, "Configure", 0, "InvalidConfig", false, "a region is required");
		return NULL;
	}
	c = calloc(1, sizeof(aws_client));
	if (c == NULL)
	{
		aws_set_error(err, "Configure", 0, "OutOfMemory", false, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	c->cfg.region = aws_strdup(cfg->region);
	c->cfg.role_arn = dup_or_null(cfg->role_arn);
	c->cfg.external_id = dup_or_null(cfg->external_id);
	c->cfg.role_session_name = aws_strdup(cfg->role_session_name ? cfg->role_session_name : "securitylake");
	c->cfg.access_key_id = dup_or_null(cfg->access_key_id);
	c->cfg.secret_access_key = dup_or_null(cfg->secret_access_key);
	c->cfg.session_token = dup_or_null(cfg->session_token);
	c->cfg.ca_file = dup_or_null(cfg->ca_file);
	c->cfg.s3_endpoint = NULL;
	c->cfg.sts_endpoint = NULL;
	if (cfg->num_session_tags > 0)
	{
		tags = calloc((size_t) cfg->num_session_tags, sizeof(aws_tag));
		for (i = 0; tags && i < cfg->num_session_tags; i++)
		{
			tags[i].key = aws_strdup(cfg->session_tags[i].key);
			tags[i].value = aws_strdup(cfg->session_tags[i].value);
		}
	}
	c->cfg.session_tags = tags;
	if (c->cfg.part_size < 5 * 1024 * 1024)
		c->cfg.part_size = 5 * 1024 * 1024;
	if (c->cfg.max_attempts < 1)
		c->cfg.max_attempts = 1;

	snprintf(buf, sizeof(buf), "https://s3.%s.amazonaws.com", cfg->region);
	c->s3_endpoint = aws_strdup(cfg->s3_endpoint ? cfg->s3_endpoint : buf);
	snprintf(buf, sizeof(buf), "https://sts.%s.amazonaws.com", cfg->region);
	c->sts_endpoint = aws_strdup(cfg->sts_endpoint ? cfg->sts_endpoint : buf);
	if (parse_endpoint(c->s3_endpoint, &ep) != 0 || parse_endpoint(c->sts_endpoint, &ep) != 0)
	{
		aws_set_error(err, "Configure", 0, "InvalidConfig", false,
					  "endpoints must be http:// or https:// URLs with a host");
		aws_client_free(c);
		return NULL;
	}
	c->curl = curl_easy_init();
	if (c->curl == NULL)
	{
		aws_set_error(err, "Configure", 0, "InvalidConfig", false, "libcurl could not start");
		aws_client_free(c);
		return NULL;
	}
	c->rng = (unsigned int) time(NULL) ^ (unsigned int) (uintptr_t) c;
	return c;
}

void
aws_client_free(aws_client *c)
{
	int			i;

	if (c == NULL)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	aws_credentials_clear(&c->base);
	aws_credentials_clear(&c->role);
	free((char *) c->cfg.region);
	free((char *) c->cfg.role_arn);
	free((char *) c->cfg.external_id);
	free((char *) c->cfg.role_session_name);
	free((char *) c->cfg.access_key_id);
	aws_free_secret((char *) c->cfg.secret_access_key);
	aws_free_secret((char *) c->cfg.session_token);
	free((char *) c->cfg.ca_file);
	for (i = 0; c->cfg.session_tags && i < c->cfg.num_session_tags; i++)
	{
		free((char *) c->cfg.session_tags[i].key);
		free((char *) c->cfg.session_tags[i].value);
	}
	free((void *) c->cfg.session_tags);
	free(c->s3_endpoint);
	free(c->sts_endpoint);
	free(c);
}

/* ---- one HTTP exchange ------------------------------------------------------------------ */
void
aws_response_free(aws_response *r)
{
	aws_buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	aws_response *r = userdata;

	return aws_buf_append(&r->body, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

static void
copy_header_value(const char *line, size_t len, size_t namelen, char *out, size_t outlen)
{
	const char *v = line + namelen;
	size_t		n;

	while (v < line + len && (*v == ' ' || *v == '\t'))
		v++;
	n = (size_t) (line + len - v);
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
	aws_response *r = userdata;
	size_t		len = size * nmemb;

	if (len > 5 && strncasecmp(line, "ETag:", 5) == 0)
		copy_header_value(line, len, 5, r->etag, sizeof(r->etag));
	else if (len > 17 && strncasecmp(line, "x-amz-request-id:", 17) == 0)
		copy_header_value(line, len, 17, r->request_id, sizeof(r->request_id));
	else if (len > 17 && strncasecmp(line, "x-amzn-requestid:", 17) == 0)
		copy_header_value(line, len, 17, r->request_id, sizeof(r->request_id));
	else if (len > 5 && strncasecmp(line, "Date:", 5) == 0)
		copy_header_value(line, len, 5, r->date, sizeof(r->date));
	else if (len > 15 && strncasecmp(line, "Content-Length:", 15) == 0)
	{
		char		v[32];

		copy_header_value(line, len, 15, v, sizeof(v));
		r->content_length = strtoll(v, NULL, 10);
	}
	return len;
}

/* Perform with the handle's options reset; returns the CURLcode. */
static CURLcode
perform(aws_client *c, const char *method, const char *url, struct curl_slist *headers,
		const void *body, size_t body_len, long timeout_ms, aws_response *resp)
{
	CURL	   *h = c->curl;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->cfg.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms ? timeout_ms : c->cfg.connect_timeout_ms);
	if (timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->cfg.low_speed_limit);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->cfg.low_speed_time_s);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") == 0)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else
	{
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_len ? body : "");
	}
	aws_buf_free(&resp->body);
	aws_buf_append(&resp->body, "", 0);
	resp->etag[0] = resp->request_id[0] = resp->date[0] = '\0';
	resp->content_length = -1;
	{
		CURLcode	rc = curl_easy_perform(h);

		resp->status = 0;
		if (rc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		return rc;
	}
}

int
aws_plain_request(aws_client *c, const char *method, const char *url,
				  const char *const *headers, long timeout_ms, aws_response *resp, aws_error *err)
{
	struct curl_slist *list = NULL;
	CURLcode	rc;
	int			i;

	for (i = 0; headers && headers[i]; i++)
		list = curl_slist_append(list, headers[i]);
	list = curl_slist_append(list, "Expect:");
	rc = perform(c, method, url, list, "", 0, timeout_ms, resp);
	curl_slist_free_all(list);
	if (rc != CURLE_OK)
	{
		aws_set_error(err, "Metadata", 0, "ConnectionError", true, "%s", curl_easy_strerror(rc));
		err->curl_code = (int) rc;
		return -1;
	}
	return 0;
}

/* ---- signed requests with retries ----------------------------------------------------- */
static bool
retryable_code(const char *code)
{
	static const char *const codes[] = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
		"Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeTooSkewed",
	"IDPCommunicationError", NULL};
	int			i;

	for (i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static bool
retryable_curl(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/* Full jitter: a uniform wait in [0, min(max, base * 2^attempt)). */
static long
backoff_ms(aws_client *c, int attempt)
{
	long		cap = c->cfg.base_delay_ms;
	int			i;

	for (i = 0; i < attempt && cap < c->cfg.max_delay_ms; i++)
		cap *= 2;
	if (cap > c->cfg.max_delay_ms)
		cap = c->cfg.max_delay_ms;
	if (cap <= 0)
		return 0;
	return (long) (rand_r(&c->rng) % (unsigned long) cap);
}

static long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* RFC 7231 date of an answer → the offset to correct our clock by. */
static void
correct_clock(aws_client *c, const char *date)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (date[0] && strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL)
		c->clock_offset_s = (long) (timegm(&tm) - time(NULL));
}

static void
error_from_answer(aws_error *err, const char *operation, const aws_response *resp)
{
	char	   *code = aws_xml_find(resp->body.data, resp->body.len, "Code");
	char	   *message = aws_xml_find(resp->body.data, resp->body.len, "Message");
	char	   *rid = aws_xml_find(resp->body.data, resp->body.len, "RequestId");
	const char *fallback = resp->status == 404 ? "NotFound" : resp->status == 403 ? "Forbidden" : "HttpError";

	aws_set_error(err, operation, resp->status, code ? code : fallback,
				  resp->status >= 500 || resp->status == 429 || (code && retryable_code(code)),
				  "%s", message ? message : "the service answered without an error message");
	snprintf(err->request_id, sizeof(err->request_id), "%s", rid ? rid : resp->request_id);
	free(code);
	free(message);
	free(rid);
}

static int
sign_and_perform(aws_client *c, const aws_http_request *req, const aws_credentials *creds,
				 aws_response *resp, CURLcode *rc)
{
	char		amz_date[17];
	char		payload_hash[65];
	sigv4_header h[8];
	int			nh = 0;
	sigv4_request sr;
	sigv4_result out;
	struct curl_slist *list = NULL;
	aws_buf		line = {0};
	aws_buf		url = {0};
	int			i;

	aws_format_amz_date(time(NULL) + c->clock_offset_s, amz_date);
	aws_sha256_hex(req->body ? req->body : "", req->body_len, payload_hash);
	h[nh++] = (sigv4_header) {"host", req->host};
	h[nh++] = (sigv4_header) {"x-amz-date", amz_date};
	if (strcmp(req->service, "s3") == 0)
		h[nh++] = (sigv4_header) {"x-amz-content-sha256", payload_hash};
	if (req->content_type)
		h[nh++] = (sigv4_header) {"content-type", req->content_type};
	if (req->content_md5)
		h[nh++] = (sigv4_header) {"content-md5", req->content_md5};
	if (req->sign && creds->session_token)
		h[nh++] = (sigv4_header) {"x-amz-security-token", creds->session_token};

	memset(&out, 0, sizeof(out));
	if (req->sign)
	{
		sr.method = req->method;
		sr.canonical_uri = req->path;
		sr.query = req->query;
		sr.headers = h;
		sr.num_headers = nh;
		sr.payload_hash = payload_hash;
		sr.region = c->cfg.region;
		sr.service = req->service;
		sr.amz_date = amz_date;
		sr.access_key_id = creds->access_key_id;
		sr.secret_access_key = creds->secret_access_key;
		if (aws_sigv4_sign(&sr, &out) != 0)
			return -1;
	}
	for (i = 0; i < nh; i++)
	{
		line.len = 0;
		aws_buf_appendf(&line, "%s: %s", h[i].name, h[i].value);
		list = curl_slist_append(list, line.data);
	}
	if (req->sign)
	{
		line.len = 0;
		aws_buf_appendf(&line, "Authorization: %s", out.authorization);
		list = curl_slist_append(list, line.data);
	}
	if (!req->content_type)
		list = curl_slist_append(list, "Content-Type:");
	list = curl_slist_append(list, "Expect:");
	list = curl_slist_append(list, "Accept:");
	aws_buf_appendf(&url, "%s%s%s%s", req->url_base, req->path, req->query ? "?" : "", req->query ? req->query : "");
	*rc = perform(c, req->method, url.data, list, req->body, req->body_len, 0, resp);
	/* The header lines held the session token: wipe them before freeing. */
	for (struct curl_slist *l = list; l; l = l->next)
		memset(l->data, 0, strlen(l->data));
	curl_slist_free_all(list);
	if (line.data)
		memset(line.data, 0, line.cap);
	aws_buf_free(&line);
	aws_buf_free(&url);
	aws_sigv4_result_free(&out);
	return 0;
}

int
aws_request(aws_client *c, const aws_http_request *req, aws_response *resp, aws_error *err)
{
	struct timespec start;
	int			attempt;
	bool		refreshed = false;
	const char *operation = err->operation[0] ? err->operation : req->method;
	char		op[48];

	snprintf(op, sizeof(op), "%s", operation);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (attempt = 0; attempt < c->cfg.max_attempts; attempt++)
	{
		const aws_credentials *creds = req->creds;
		CURLcode	rc = CURLE_OK;
		long		wait;

		err->attempts = attempt + 1;
		if (req->sign && creds == NULL && aws_current_credentials(c, &creds, err) != 0)
		{
			if (!err->retryable)
				return -1;
			goto retry;
		}
		if (sign_and_perform(c, req, creds, resp, &rc) != 0)
		{
			aws_set_error(err, op, 0, "SigningError", false, "could not sign the request");
			return -1;
		}
		if (rc != CURLE_OK)
		{
			aws_set_error(err, op, 0, rc == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "ConnectionError",
						  retryable_curl(rc), "%s", curl_easy_strerror(rc));
			err->curl_code = (int) rc;
			if (!err->retryable)
				return -1;
			goto retry;
		}
		if (resp->status >= 200 && resp->status < 300)
			return 0;
		error_from_answer(err, op, resp);
		err->attempts = attempt + 1;
		if (strcmp(err->code, "RequestTimeTooSkewed") == 0)
			correct_clock(c, resp->date);
		else if (strcmp(err->code, "ExpiredToken") == 0 && !refreshed && req->creds == NULL)
		{
			/* Our cached session expired early: fetch new credentials once, right away. */
			aws_invalidate_credentials(c);
			refreshed = true;
			continue;
		}
		if (!err->retryable)
			return -1;
retry:
		if (attempt + 1 >= c->cfg.max_attempts)
			break;
		wait = backoff_ms(c, attempt);
		if (c->cfg.max_elapsed_ms > 0 && elapsed_ms(&start) + wait > c->cfg.max_elapsed_ms)
			break;
		sleep_ms(wait);
	}
	err->retryable = true;
	return -1;
}
