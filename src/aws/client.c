/*
 * client.c — HTTP through one kept-alive libcurl handle, SigV4-signed, with retries:
 * exponential backoff with full jitter on 5xx, 429, SlowDown, RequestTimeout,
 * InternalError, connection failures and timeouts; RequestTimeTooSkewed corrects the
 * clock offset from the answer's Date and re-signs; ExpiredToken refreshes the
 * credentials once. 4xx authentication and validation errors are never retried.
 *
 * Bounded: every attempt has an overall time limit (request_timeout_ms plus an allowance
 * for the body's size), every answer body a size cap (max_response_bytes; GetObject's
 * successful bodies excepted), and the caller's interrupt_fn is polled at least every
 * 100 ms — curl is driven through a multi handle polled in 100 ms slices (and its progress
 * callback checks too), backoff sleeps are sliced — so a shutdown never waits on the network.
 */
#define _DEFAULT_SOURCE			/* timegm, rand_r */
#define _XOPEN_SOURCE 700		/* strptime */
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
	cfg->request_timeout_ms = 60000;
	cfg->min_transfer_rate = 65536;
	cfg->max_response_bytes = 4 * 1024 * 1024;
	cfg->max_error_response_bytes = 64 * 1024;
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

static bool
valid_account(const char *s)
{
	int			i;

	for (i = 0; i < 12; i++)
		if (!aws_is_digit((unsigned char) s[i]))
			return false;
	return s[12] == '\0';
}

/* "a,b , c" → curl list of CURLOPT_CONNECT_TO entries. */
static struct curl_slist *
parse_connect_to(const char *list)
{
	struct curl_slist *out = NULL;
	const char *p = list;

	while (p && *p)
	{
		size_t		n = strcspn(p, ",");
		size_t		a = 0;
		char		entry[300];

		while (a < n && p[a] == ' ')
			a++;
		while (n > a && p[n - 1] == ' ')
			n--;
		if (n > a && n - a < sizeof(entry))
		{
			memcpy(entry, p + a, n - a);
			entry[n - a] = '\0';
			out = curl_slist_append(out, entry);
		}
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return out;
}

static void
copy_config(aws_client *c, const aws_config *cfg)
{
	aws_tag    *tags = NULL;
	int			i;

	c->cfg = *cfg;
	c->cfg.region = aws_strdup(cfg->region);
	c->cfg.role_arn = dup_or_null(cfg->role_arn);
	c->cfg.external_id = dup_or_null(cfg->external_id);
	c->cfg.role_session_name = aws_strdup(cfg->role_session_name ? cfg->role_session_name : "securitylake");
	c->cfg.access_key_id = dup_or_null(cfg->access_key_id);
	c->cfg.secret_access_key = aws_secret_strdup(cfg->secret_access_key);
	c->cfg.session_token = aws_secret_strdup(cfg->session_token);
	c->cfg.ca_file = dup_or_null(cfg->ca_file);
	c->cfg.expected_bucket_owner = dup_or_null(cfg->expected_bucket_owner);
	c->cfg.connect_to = NULL;
	c->cfg.s3_endpoint = NULL;
	c->cfg.sts_endpoint = NULL;
	c->cfg.securitylake_endpoint = NULL;
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
	if (c->cfg.part_size < AWS_MIN_PART_SIZE)
		c->cfg.part_size = AWS_MIN_PART_SIZE;
	if (c->cfg.max_attempts < 1)
		c->cfg.max_attempts = 1;
	if (c->cfg.request_timeout_ms <= 0)
		c->cfg.request_timeout_ms = 60000;
	if (c->cfg.max_response_bytes == 0)
		c->cfg.max_response_bytes = 4 * 1024 * 1024;
	if (c->cfg.max_error_response_bytes == 0 || c->cfg.max_error_response_bytes > c->cfg.max_response_bytes)
		c->cfg.max_error_response_bytes = c->cfg.max_response_bytes;
	c->connect_to = parse_connect_to(cfg->connect_to);
}

static int
set_endpoints(aws_client *c, const aws_config *cfg, aws_error *err)
{
	char		buf[300];
	endpoint	ep;

	snprintf(buf, sizeof(buf), "https://s3.%s.amazonaws.com", cfg->region);
	c->s3_default_endpoint = cfg->s3_endpoint == NULL;
	c->s3_endpoint = aws_strdup(cfg->s3_endpoint ? cfg->s3_endpoint : buf);
	snprintf(buf, sizeof(buf), "https://sts.%s.amazonaws.com", cfg->region);
	c->sts_endpoint = aws_strdup(cfg->sts_endpoint ? cfg->sts_endpoint : buf);
	snprintf(buf, sizeof(buf), "https://securitylake.%s.amazonaws.com", cfg->region);
	c->securitylake_endpoint = aws_strdup(cfg->securitylake_endpoint ? cfg->securitylake_endpoint : buf);
	if (parse_endpoint(c->s3_endpoint, &ep) != 0 || parse_endpoint(c->sts_endpoint, &ep) != 0 ||
		parse_endpoint(c->securitylake_endpoint, &ep) != 0)
	{
		aws_set_error(err, "Configure", 0, "InvalidConfig", false,
					  "endpoints must be http:// or https:// URLs with a host");
		return -1;
	}
	return 0;
}

aws_client *
aws_client_new(const aws_config *cfg, aws_error *err)
{
	aws_client *c;

	memset(err, 0, sizeof(*err));
	if (cfg->region == NULL || strlen(cfg->region) < 3 || strlen(cfg->region) > 32)
	{
		aws_set_error(err, "Configure", 0, "InvalidConfig", false, "a region is required");
		return NULL;
	}
	if (cfg->expected_bucket_owner && !valid_account(cfg->expected_bucket_owner))
	{
		aws_set_error(err, "Configure", 0, "InvalidConfig", false,
					  "the expected bucket owner must be a 12-digit AWS account id");
		return NULL;
	}
	c = calloc(1, sizeof(aws_client));
	if (c == NULL)
	{
		aws_set_error(err, "Configure", 0, "OutOfMemory", false, "out of memory");
		return NULL;
	}
	copy_config(c, cfg);
	if (set_endpoints(c, cfg, err) != 0)
	{
		aws_client_free(c);
		return NULL;
	}
	c->curl = curl_easy_init();
	c->multi = curl_multi_init();
	if (c->curl == NULL || c->multi == NULL)
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
	if (c->multi)
		curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->connect_to);
	aws_credentials_clear(&c->base);
	aws_credentials_clear(&c->role);
	free((char *) c->cfg.region);
	free((char *) c->cfg.role_arn);
	free((char *) c->cfg.external_id);
	free((char *) c->cfg.role_session_name);
	free((char *) c->cfg.access_key_id);
	aws_secret_free((char *) c->cfg.secret_access_key);
	aws_secret_free((char *) c->cfg.session_token);
	free((char *) c->cfg.ca_file);
	free((char *) c->cfg.expected_bucket_owner);
	for (i = 0; c->cfg.session_tags && i < c->cfg.num_session_tags; i++)
	{
		free((char *) c->cfg.session_tags[i].key);
		free((char *) c->cfg.session_tags[i].value);
	}
	free((void *) c->cfg.session_tags);
	free(c->s3_endpoint);
	free(c->sts_endpoint);
	free(c->securitylake_endpoint);
	free(c->redirect_bucket);
	free(c->redirect_region);
	free(c);
}

int
aws_client_set_max_attempts(aws_client *c, int max_attempts)
{
	int			was = c->cfg.max_attempts;

	c->cfg.max_attempts = max_attempts < 1 ? 1 : max_attempts;
	return was;
}

const char *
aws_client_bucket_region(const aws_client *c)
{
	return c ? c->redirect_region : NULL;
}

/* ---- interrupts and time ------------------------------------------------------------------ */
bool
aws_interrupted(aws_client *c)
{
	return c->cfg.interrupt_fn != NULL && c->cfg.interrupt_fn(c->cfg.interrupt_ctx);
}

static void
set_interrupted(aws_error *err, const char *operation)
{
	aws_set_error(err, operation, 0, "Interrupted", false, "the call was interrupted (shutting down)");
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int
aws_sleep_interruptible(aws_client *c, long ms, const char *operation, aws_error *err)
{
	while (ms > 0)
	{
		long		slice = ms < 100 ? ms : 100;

		if (aws_interrupted(c))
		{
			set_interrupted(err, operation);
			return -1;
		}
		sleep_ms(slice);
		ms -= slice;
	}
	if (aws_interrupted(c))
	{
		set_interrupted(err, operation);
		return -1;
	}
	return 0;
}

long
aws_request_timeout_ms(const aws_client *c, size_t body_len)
{
	long		t = c->cfg.request_timeout_ms;

	if (c->cfg.min_transfer_rate > 0)
		t += (long) ((double) body_len * 1000.0 / (double) c->cfg.min_transfer_rate);
	return t;
}

/* ---- one HTTP exchange ------------------------------------------------------------------ */
void
aws_response_free(aws_response *r)
{
	aws_buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

/*
 * Keep the body up to its cap; past it, end the transfer (curl: write error) and say so.
 * An error answer (not 2xx) has the smaller cap: AWS's error documents are a few KiB at
 * most, and a peer that sends megabytes with a 403 should not cost megabytes.
 */
static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	aws_response *r = userdata;
	size_t		n = size * nmemb;
	bool		success = r->header_status >= 200 && r->header_status < 300;
	bool		uncapped = r->unlimited_2xx && success;
	size_t		cap = r->max_body;

	if (!success && r->max_error_body > 0 && (cap == 0 || r->max_error_body < cap))
		cap = r->max_error_body;
	if (!uncapped && cap > 0 && r->body.len + n > cap)
	{
		size_t		room = cap > r->body.len ? cap - r->body.len : 0;

		if (room > 0)
			aws_buf_append(&r->body, ptr, room);
		r->truncated = true;
		return 0;
	}
	return aws_buf_append(&r->body, ptr, n) == 0 ? n : 0;
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

static bool
header_is(const char *line, size_t len, const char *name)
{
	size_t		n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
	aws_response *r = userdata;
	size_t		len = size * nmemb;

	if (len > 12 && strncmp(line, "HTTP/", 5) == 0)
	{
		const char *sp = memchr(line, ' ', len);

		r->header_status = sp ? strtol(sp + 1, NULL, 10) : 0;
	}
	else if (header_is(line, len, "ETag:"))
		copy_header_value(line, len, 5, r->etag, sizeof(r->etag));
	else if (header_is(line, len, "x-amz-request-id:"))
		copy_header_value(line, len, 17, r->request_id, sizeof(r->request_id));
	else if (header_is(line, len, "x-amzn-requestid:"))
		copy_header_value(line, len, 17, r->request_id, sizeof(r->request_id));
	else if (header_is(line, len, "x-amz-bucket-region:"))
		copy_header_value(line, len, 20, r->bucket_region, sizeof(r->bucket_region));
	else if (header_is(line, len, "x-amzn-errortype:"))
	{
		copy_header_value(line, len, 17, r->error_type, sizeof(r->error_type));
		r->error_type[strcspn(r->error_type, ":")] = '\0';
	}
	else if (header_is(line, len, "x-amz-checksum-sha256:"))
		copy_header_value(line, len, 22, r->checksum_sha256, sizeof(r->checksum_sha256));
	else if (header_is(line, len, "Date:"))
		copy_header_value(line, len, 5, r->date, sizeof(r->date));
	else if (header_is(line, len, "Content-Length:"))
	{
		char		v[32];

		copy_header_value(line, len, 15, v, sizeof(v));
		r->content_length = strtoll(v, NULL, 10);
	}
	return len;
}

/* curl's progress callback: a non-zero answer ends the transfer (never a longjmp). */
static int
on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	aws_client *c = userdata;

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	if (aws_interrupted(c))
	{
		c->interrupt_hit = true;
		return 1;
	}
	return 0;
}

/*
 * Run the easy handle through the client's multi handle, polling in slices of 100 ms so
 * the interrupt is seen within that even when the peer sends nothing (curl_easy_perform
 * would only call the progress callback about once a second while idle). The multi handle
 * owns the connection cache: keep-alive works across requests.
 */
static CURLcode
run_transfer(aws_client *c)
{
	CURLcode	rc = CURLE_OK;
	int			running = 1;
	CURLMsg    *msg;
	int			left;

	if (curl_multi_add_handle(c->multi, c->curl) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running)
	{
		if (curl_multi_perform(c->multi, &running) != CURLM_OK)
		{
			rc = CURLE_FAILED_INIT;
			break;
		}
		if (!running)
			break;
		if (aws_interrupted(c))
		{
			c->interrupt_hit = true;
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(c->multi, NULL, 0, 100, NULL) != CURLM_OK)
		{
			rc = CURLE_FAILED_INIT;
			break;
		}
	}
	if (!running)
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->curl)
				rc = msg->data.result;
	curl_multi_remove_handle(c->multi, c->curl);
	return rc;
}

static void
set_method(CURL *h, const char *method, const void *body, size_t body_len)
{
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
}

/* Perform with the handle's options reset; returns the CURLcode. */
static CURLcode
perform(aws_client *c, const char *method, const char *url, struct curl_slist *headers,
		const void *body, size_t body_len, long timeout_ms, aws_response *resp)
{
	CURL	   *h = c->curl;
	CURLcode	rc;
	size_t		max_body = resp->max_body;
	size_t		max_error_body = resp->max_error_body;
	bool		unlimited = resp->unlimited_2xx;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->cfg.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
	if (c->connect_to)
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms < timeout_ms ? c->cfg.connect_timeout_ms : timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->cfg.low_speed_limit);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->cfg.low_speed_time_s);
	set_method(h, method, body, body_len);
	aws_response_free(resp);
	resp->max_body = max_body;
	resp->max_error_body = max_error_body;
	resp->unlimited_2xx = unlimited;
	aws_buf_append(&resp->body, "", 0);
	resp->content_length = -1;
	c->interrupt_hit = false;
	rc = run_transfer(c);
	resp->status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	else if (resp->truncated && resp->header_status > 0)
	{
		/* We cut the body ourselves: the answer's status stands. */
		resp->status = resp->header_status;
		rc = CURLE_OK;
	}
	return rc;
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
	resp->max_body = c->cfg.max_response_bytes;
	resp->max_error_body = c->cfg.max_error_response_bytes;
	rc = perform(c, method, url, list, "", 0, timeout_ms, resp);
	curl_slist_free_all(list);
	if (rc != CURLE_OK)
	{
		if (c->interrupt_hit)
			set_interrupted(err, "Metadata");
		else
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
	"IDPCommunicationError", "InternalServerException", NULL};
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

/* RFC 7231 date of an answer → the offset to correct our clock by. */
static void
correct_clock(aws_client *c, const char *date)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (date[0] && strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL)
		c->clock_offset_s = (long) (timegm(&tm) - time(NULL));
}

/* The text of <NAME>…</NAME> found by plain search: for an answer cut at its cap, which
 * libxml2 will not parse. */
static char *
raw_element(const aws_buf *body, const char *name)
{
	char		open[64];
	char		close[64];
	const char *a;
	const char *b;

	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	a = body->data ? strstr(body->data, open) : NULL;
	if (a == NULL)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	return (b && b - a < 256) ? strndup(a, (size_t) (b - a)) : NULL;
}

/*
 * The "message" (or "Message") string of a JSON error body: the glue parses the JSON itself,
 * this is only for the error text. Escapes other than \" and \\ are kept as written.
 */
static char *
json_message(const char *json)
{
	static const char *const keys[] = {"\"message\"", "\"Message\"", NULL};
	int			i;

	for (i = 0; json && keys[i]; i++)
	{
		const char *p = strstr(json, keys[i]);
		aws_buf		out = {0};

		if (p == NULL)
			continue;
		p += strlen(keys[i]);
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
			p++;
		if (*p++ != '"')
			continue;
		aws_buf_append(&out, "", 0);
		for (; *p && *p != '"' && out.len < 400; p++)
		{
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			aws_buf_append(&out, p, 1);
		}
		return out.data;
	}
	return NULL;
}

/* An element of an XML error answer; an answer cut at its cap is searched as plain text
 * (libxml2 would parse megabytes only to fail at the cut). */
static char *
answer_element(const aws_response *resp, const char *name)
{
	if (resp->truncated)
		return raw_element(&resp->body, name);
	return aws_xml_find(resp->body.data, resp->body.len, name);
}

static void
error_from_answer(aws_error *err, const char *operation, const aws_response *resp)
{
	bool		json = resp->error_type[0] != '\0';
	char	   *code = json ? aws_strdup(resp->error_type) : answer_element(resp, "Code");
	char	   *message = json ? json_message(resp->body.data) : answer_element(resp, "Message");
	char	   *rid = json ? NULL : answer_element(resp, "RequestId");
	const char *fallback = resp->status == 404 ? "NotFound" : resp->status == 403 ? "Forbidden" : "HttpError";

	if (resp->truncated && code == NULL)
		fallback = "ResponseTooLarge";
	aws_set_error(err, operation, resp->status, code ? code : fallback,
				  resp->status >= 500 || resp->status == 429 || (code && retryable_code(code)),
				  "%s%s", message ? message : "the service answered without an error message",
				  resp->truncated ? " (the answer's body passed its size cap and was cut)" : "");
	snprintf(err->request_id, sizeof(err->request_id), "%s", rid ? rid : resp->request_id);
	free(code);
	free(message);
	free(rid);
}

/* Wipe and free a header list that held a session token. */
static void
free_secret_headers(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		memset(l->data, 0, strlen(l->data));
	curl_slist_free_all(list);
}

/* Every header to sign and send, in h (room for 16). */
static int
collect_headers(const aws_http_request *req, const aws_credentials *creds, const char *amz_date,
				const char *payload_hash, sigv4_header *h)
{
	int			nh = 0;
	int			i;

	h[nh++] = (sigv4_header) {"host", req->host};
	h[nh++] = (sigv4_header) {"x-amz-date", amz_date};
	if (strcmp(req->service, "s3") == 0)
		h[nh++] = (sigv4_header) {"x-amz-content-sha256", payload_hash};
	if (req->content_type)
		h[nh++] = (sigv4_header) {"content-type", req->content_type};
	if (req->content_md5)
		h[nh++] = (sigv4_header) {"content-md5", req->content_md5};
	for (i = 0; i < req->num_extra && nh < 15; i++)
		h[nh++] = req->extra[i];
	if (req->sign && creds->session_token && nh < 16)
		h[nh++] = (sigv4_header) {"x-amz-security-token", creds->session_token};
	return nh;
}

/*
 * The canonical URI. S3 signs the path as sent (each segment encoded once); every other
 * service signs it encoded once more (SigV4: "URI-encode each path segment twice"), so a
 * '%' in the path becomes "%25" in the canonical request.
 */
static char *
canonical_uri(const aws_http_request *req)
{
	if (strcmp(req->service, "s3") == 0)
		return aws_strdup(req->path);
	return aws_uri_encode(req->path, strlen(req->path), true);
}

static int
sign_request(aws_client *c, const aws_http_request *req, const aws_credentials *creds,
			 const sigv4_header *h, int nh, const char *amz_date, const char *payload_hash,
			 sigv4_result *out)
{
	sigv4_request sr;
	char	   *curi = canonical_uri(req);
	int			rc;

	if (curi == NULL)
		return -1;
	sr.method = req->method;
	sr.canonical_uri = curi;
	sr.query = req->query;
	sr.headers = h;
	sr.num_headers = nh;
	sr.payload_hash = payload_hash;
	sr.region = req->region ? req->region : c->cfg.region;
	sr.service = req->service;
	sr.amz_date = amz_date;
	sr.access_key_id = creds->access_key_id;
	sr.secret_access_key = creds->secret_access_key;
	rc = aws_sigv4_sign(&sr, out);
	free(curi);
	return rc;
}

static int
sign_and_perform(aws_client *c, const aws_http_request *req, const aws_credentials *creds,
				 aws_response *resp, CURLcode *rc)
{
	char		amz_date[17];
	char		payload_hash[65];
	sigv4_header h[16];
	int			nh;
	sigv4_result out;
	struct curl_slist *list = NULL;
	aws_buf		line = {0};
	aws_buf		url = {0};
	int			i;

	aws_format_amz_date(time(NULL) + c->clock_offset_s, amz_date);
	aws_sha256_hex(req->body ? req->body : "", req->body_len, payload_hash);
	nh = collect_headers(req, creds, amz_date, payload_hash, h);
	memset(&out, 0, sizeof(out));
	if (req->sign && sign_request(c, req, creds, h, nh, amz_date, payload_hash, &out) != 0)
		return -1;
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
	resp->max_body = c->cfg.max_response_bytes;
	resp->max_error_body = c->cfg.max_error_response_bytes;
	resp->unlimited_2xx = req->unlimited_2xx;
	*rc = perform(c, req->method, url.data, list, req->body, req->body_len,
				  aws_request_timeout_ms(c, req->body_len), resp);
	/* The header lines held the session token: wipe them before freeing. */
	free_secret_headers(list);
	if (line.data)
		memset(line.data, 0, line.cap);
	aws_buf_free(&line);
	aws_buf_free(&url);
	aws_sigv4_result_free(&out);
	return 0;
}

/* One attempt: 1 = answered 2xx, 0 = failed (err set; retry if err->retryable), -1 = stop. */
static int
attempt_once(aws_client *c, const aws_http_request *req, aws_response *resp, const char *op,
			 bool *refreshed, aws_error *err)
{
	const aws_credentials *creds = req->creds;
	CURLcode	rc = CURLE_OK;

	if (aws_interrupted(c))
	{
		set_interrupted(err, op);
		return -1;
	}
	if (req->sign && creds == NULL && aws_current_credentials(c, &creds, err) != 0)
		return err->retryable ? 0 : -1;
	if (sign_and_perform(c, req, creds, resp, &rc) != 0)
	{
		aws_set_error(err, op, 0, "SigningError", false, "could not sign the request");
		return -1;
	}
	if (rc != CURLE_OK)
	{
		if (c->interrupt_hit)
		{
			set_interrupted(err, op);
			return -1;
		}
		aws_set_error(err, op, 0, rc == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "ConnectionError",
					  retryable_curl(rc), "%s", curl_easy_strerror(rc));
		err->curl_code = (int) rc;
		return err->retryable ? 0 : -1;
	}
	if (resp->status >= 200 && resp->status < 300 && !resp->truncated)
		return 1;
	if (resp->status >= 200 && resp->status < 300)
	{
		aws_set_error(err, op, resp->status, "ResponseTooLarge", false,
					  "the answer's body passed max_response_bytes (%zu bytes)", c->cfg.max_response_bytes);
		return -1;
	}
	error_from_answer(err, op, resp);
	if (strcmp(err->code, "RequestTimeTooSkewed") == 0)
		correct_clock(c, resp->date);
	else if (strcmp(err->code, "ExpiredToken") == 0 && !*refreshed && req->creds == NULL)
	{
		/* Our cached session expired early: fetch new credentials once, right away. */
		aws_invalidate_credentials(c);
		*refreshed = true;
		err->retryable = true;
	}
	return err->retryable ? 0 : -1;
}

int
aws_request(aws_client *c, const aws_http_request *req, aws_response *resp, aws_error *err)
{
	struct timespec start;
	int			attempt;
	bool		refreshed = false;
	int			limit = c->cfg.max_attempts;
	const char *operation = err->operation[0] ? err->operation : req->method;
	char		op[48];

	snprintf(op, sizeof(op), "%s", operation);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (attempt = 0; attempt < limit; attempt++)
	{
		long		wait;
		bool		was_refreshed = refreshed;
		int			r = attempt_once(c, req, resp, op, &refreshed, err);

		err->attempts = attempt + 1;
		if (r == 1)
			return 0;
		if (r < 0)
			return -1;
		/*
		 * An expired session, just refreshed, gets its immediate retry even
		 * past max_attempts: a caller that allows one attempt asks for one
		 * try of the peer, not a failure for credentials that were stale.
		 */
		if (refreshed && !was_refreshed && limit < attempt + 2)
			limit = attempt + 2;
		if (attempt + 1 >= limit)
			break;
		wait = (strcmp(err->code, "ExpiredToken") == 0) ? 0 : backoff_ms(c, attempt);
		if (c->cfg.max_elapsed_ms > 0 && elapsed_ms(&start) + wait > c->cfg.max_elapsed_ms)
			break;
		if (aws_sleep_interruptible(c, wait, op, err) != 0)
		{
			err->attempts = attempt + 1;
			return -1;
		}
	}
	err->retryable = true;
	return -1;
}
