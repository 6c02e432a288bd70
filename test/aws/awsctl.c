/*
 * awsctl — a small command-line driver of src/aws for the integration tests
 * (test/aws/client.test.mjs). Prints one JSON object per run on stdout.
 *
 *   awsctl put    BUCKET KEY FILE      one PutObject (Content-MD5 + x-amz-checksum-sha256)
 *   awsctl upload BUCKET KEY FILE      aws_upload: PutObject or multipart above the threshold
 *   awsctl multipart BUCKET KEY FILE   the caller-driven calls: create (prints "upload-id X" on
 *                                      stderr), parts of AWSCTL_PART_SIZE, complete
 *                                      (AWSCTL_ABORT_AFTER=N: abort once N bytes were sent;
 *                                      AWSCTL_OVERLAP=1: one part in flight on aws_part_sender
 *                                      while the next is read, "ready N EPOCHMS" on stderr)
 *   awsctl abort  BUCKET KEY UPLOADID  AbortMultipartUpload
 *   awsctl get    BUCKET KEY OUTFILE
 *   awsctl head   BUCKET KEY
 *   awsctl list   BUCKET PREFIX
 *   awsctl creds                       resolve (and assume the role, if configured)
 *   awsctl whoami                      STS GetCallerIdentity with the base credentials
 *   awsctl location LOCATION           parse s3://... or https://... only
 *   awsctl rest SERVICE METHOD PATH [JSONFILE]   aws_rest_json; prints status, error_type, body
 *   awsctl sl-create NAME VERSION CLASSES ROLEARN EXTID PRINCIPAL   CreateCustomLogSource
 *                                      (CLASSES comma-separated; VERSION "-" for none)
 *   awsctl sl-delete NAME [VERSION]     DeleteCustomLogSource
 *
 * Configuration from the environment (secrets only through the AWS_* variables the
 * credential chain reads; awsctl never prints them):
 *   AWSCTL_REGION, AWSCTL_ENDPOINT (S3), AWSCTL_STS_ENDPOINT, AWSCTL_PATH_STYLE=1,
 *   AWSCTL_ROLE_ARN, AWSCTL_EXTERNAL_ID, AWSCTL_SESSION_NAME, AWSCTL_DURATION,
 *   AWSCTL_MAX_ATTEMPTS, AWSCTL_BASE_DELAY_MS, AWSCTL_MAX_DELAY_MS, AWSCTL_MAX_ELAPSED_MS,
 *   AWSCTL_THRESHOLD, AWSCTL_PART_SIZE, AWSCTL_CA_FILE, AWSCTL_CONNECT_TIMEOUT_MS,
 *   AWSCTL_LOW_SPEED_TIME_S, AWSCTL_TEST_CLOCK_SKEW_S (pretend the local clock is off by this
 *   much: RequestTimeTooSkewed must be corrected), AWSCTL_REPEAT (run the command N times, e.g. to outlive a session),
 *   AWSCTL_OWNER (expected bucket owner), AWSCTL_CONNECT_TO, AWSCTL_SL_ENDPOINT,
 *   AWSCTL_MAX_RESPONSE, AWSCTL_MAX_ERROR_RESPONSE, AWSCTL_REQUEST_TIMEOUT_MS, AWSCTL_MIN_RATE, AWSCTL_CORRUPT_CHECKSUM=1
 *   (send a wrong x-amz-checksum-sha256), AWSCTL_INTERRUPT_AT_MS (interrupt_fn answers true
 *   from that many ms after start; the output's "late_ms" is how long the call took to
 *   return after that). Every run prints "maxrss_kb" (peak resident memory) on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/aws_internal.h"	/* only to simulate a wrong local clock */

static void
print_json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static int
print_error(const aws_error *err)
{
	printf("{\"ok\":false,\"error\":{\"code\":");
	print_json_string(err->code);
	printf(",\"http_status\":%ld,\"message\":", err->http_status);
	print_json_string(err->message);
	printf(",\"request_id\":");
	print_json_string(err->request_id);
	printf(",\"operation\":");
	print_json_string(err->operation);
	printf(",\"retryable\":%s,\"curl_code\":%d,\"attempts\":%d}}\n",
		   err->retryable ? "true" : "false", err->curl_code, err->attempts);
	return 1;
}

static long
env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static const char *
env_str(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void
config_from_env(aws_config *cfg)
{
	aws_config_init(cfg);
	cfg->region = env_str("AWSCTL_REGION") ? env_str("AWSCTL_REGION") : "us-east-1";
	cfg->s3_endpoint = env_str("AWSCTL_ENDPOINT");
	cfg->sts_endpoint = env_str("AWSCTL_STS_ENDPOINT");
	cfg->force_path_style = env_long("AWSCTL_PATH_STYLE", 0) != 0;
	cfg->role_arn = env_str("AWSCTL_ROLE_ARN");
	cfg->external_id = env_str("AWSCTL_EXTERNAL_ID");
	if (env_str("AWSCTL_SESSION_NAME"))
		cfg->role_session_name = env_str("AWSCTL_SESSION_NAME");
	cfg->duration_seconds = (int) env_long("AWSCTL_DURATION", cfg->duration_seconds);
	cfg->max_attempts = (int) env_long("AWSCTL_MAX_ATTEMPTS", cfg->max_attempts);
	cfg->base_delay_ms = (int) env_long("AWSCTL_BASE_DELAY_MS", cfg->base_delay_ms);
	cfg->max_delay_ms = (int) env_long("AWSCTL_MAX_DELAY_MS", cfg->max_delay_ms);
	cfg->max_elapsed_ms = (int) env_long("AWSCTL_MAX_ELAPSED_MS", cfg->max_elapsed_ms);
	cfg->multipart_threshold = (size_t) env_long("AWSCTL_THRESHOLD", (long) cfg->multipart_threshold);
	cfg->part_size = (size_t) env_long("AWSCTL_PART_SIZE", (long) cfg->part_size);
	cfg->ca_file = env_str("AWSCTL_CA_FILE");
	cfg->connect_timeout_ms = env_long("AWSCTL_CONNECT_TIMEOUT_MS", cfg->connect_timeout_ms);
	cfg->low_speed_time_s = env_long("AWSCTL_LOW_SPEED_TIME_S", cfg->low_speed_time_s);
	cfg->expected_bucket_owner = env_str("AWSCTL_OWNER");
	cfg->connect_to = env_str("AWSCTL_CONNECT_TO");
	cfg->securitylake_endpoint = env_str("AWSCTL_SL_ENDPOINT");
	cfg->max_response_bytes = (size_t) env_long("AWSCTL_MAX_RESPONSE", (long) cfg->max_response_bytes);
	cfg->max_error_response_bytes = (size_t) env_long("AWSCTL_MAX_ERROR_RESPONSE", (long) cfg->max_error_response_bytes);
	cfg->request_timeout_ms = env_long("AWSCTL_REQUEST_TIMEOUT_MS", cfg->request_timeout_ms);
	cfg->min_transfer_rate = env_long("AWSCTL_MIN_RATE", cfg->min_transfer_rate);
}

/* ---- the interrupt: true from AWSCTL_INTERRUPT_AT_MS after start ---------------------------- */
static long interrupt_at_ms = -1;
static struct timespec started;

static long
since_start_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - started.tv_sec) * 1000 + (now.tv_nsec - started.tv_nsec) / 1000000;
}

static bool
interrupt_due(void *ctx)
{
	(void) ctx;
	return interrupt_at_ms >= 0 && since_start_ms() >= interrupt_at_ms;
}

static int
read_file(const char *path, void **data, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	long		size;

	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		fclose(f);
		return -1;
	}
	*data = malloc(size > 0 ? (size_t) size : 1);
	*len = (size_t) size;
	if (*data == NULL || fread(*data, 1, *len, f) != *len)
	{
		fclose(f);
		free(*data);
		return -1;
	}
	fclose(f);
	return 0;
}

static void
print_upload_id(void *ctx, const char *upload_id)
{
	(void) ctx;
	/* On stderr so stdout stays one JSON object; the tests may read it. */
	fprintf(stderr, "upload-id %s\n", upload_id);
}

static int
cmd_put(aws_client *c, char **argv, bool multipart_allowed, aws_error *err)
{
	void	   *data;
	size_t		len;
	int			rc;

	if (read_file(argv[2], &data, &len) != 0)
	{
		printf("{\"ok\":false,\"error\":{\"code\":\"ReadFile\"}}\n");
		return -2;
	}
	if (multipart_allowed)
		rc = aws_upload(c, argv[0], argv[1], data, len, "application/octet-stream",
						print_upload_id, NULL, err);
	else
		rc = aws_put_object(c, argv[0], argv[1], data, len, "application/octet-stream", err);
	free(data);
	if (rc == 0)
		printf("{\"ok\":true,\"size\":%zu}\n", len);
	return rc;
}

/* Send the parts of f; *total counts the bytes sent. 1 when stopped by AWSCTL_ABORT_AFTER. */
static int
send_parts(aws_client *c, char **argv, const char *upload_id, FILE *f, aws_part **parts, int *nparts,
		   size_t *total, aws_error *err)
{
	size_t		part_size = (size_t) env_long("AWSCTL_PART_SIZE", 8 << 20);
	long		stop_after = env_long("AWSCTL_ABORT_AFTER", -1);
	char	   *buf = malloc(part_size);
	size_t		n;

	if (buf == NULL)
		return -2;
	while ((n = fread(buf, 1, part_size, f)) > 0 || *nparts == 0)
	{
		aws_part   *grown = realloc(*parts, (size_t) (*nparts + 1) * sizeof(aws_part));

		if (grown == NULL)
			break;
		*parts = grown;
		if (aws_multipart_upload_part(c, argv[0], argv[1], upload_id, *nparts + 1, buf, n, &grown[*nparts], err) != 0)
		{
			free(buf);
			return -1;
		}
		(*nparts)++;
		*total += n;
		if (stop_after >= 0 && *total >= (size_t) stop_after)
		{
			free(buf);
			return 1;
		}
		if (n < part_size)
			break;
	}
	free(buf);
	return 0;
}

/*
 * AWSCTL_OVERLAP=1: the same with aws_part_sender, one part in flight while the next is
 * read; prints "ready N EPOCHMS" on stderr once part N is read while part N-1 is in flight.
 */
static int
send_parts_overlapped(aws_client *c, char **argv, const char *upload_id, FILE *f, aws_part **parts,
					  int *nparts, size_t *total, aws_error *err)
{
	size_t		part_size = (size_t) env_long("AWSCTL_PART_SIZE", 8 << 20);
	char	   *bufs[2] = {malloc(part_size), malloc(part_size)};
	aws_part_sender *ps = aws_part_sender_new();
	int			cur = 0;
	int			started = 0;
	int			rc = 0;
	size_t		n;

	if (bufs[0] == NULL || bufs[1] == NULL || ps == NULL)
		rc = -2;
	while (rc == 0 && ((n = fread(bufs[cur], 1, part_size, f)) > 0 || started == 0))
	{
		aws_part   *grown = realloc(*parts, (size_t) (started + 1) * sizeof(aws_part));

		if (grown == NULL)
		{
			rc = -2;
			break;
		}
		*parts = grown;
		if (aws_part_sender_busy(ps))
		{
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			fprintf(stderr, "ready %d %lld\n", started + 1, (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000);
			fflush(stderr);
		}
		if (aws_part_sender_wait(ps, started > 0 ? &grown[started - 1] : NULL, err) != 0)
		{
			rc = -1;
			break;
		}
		*nparts = started;
		if (aws_part_sender_start(ps, c, argv[0], argv[1], upload_id, started + 1, bufs[cur], n, err) != 0)
		{
			rc = -1;
			break;
		}
		started++;
		*total += n;
		cur = 1 - cur;
		if (n < part_size)
			break;
	}
	if (aws_part_sender_wait(ps, started > 0 ? &(*parts)[started - 1] : NULL, rc == 0 ? err : NULL) != 0 && rc == 0)
		rc = -1;
	if (rc == 0)
		*nparts = started;
	aws_part_sender_free(ps);
	free(bufs[0]);
	free(bufs[1]);
	return rc;
}

static int
cmd_multipart(aws_client *c, char **argv, aws_error *err)
{
	FILE	   *f = fopen(argv[2], "rb");
	char	   *upload_id = NULL;
	aws_part   *parts = NULL;
	int			nparts = 0;
	size_t		total = 0;
	int			rc;

	if (f == NULL)
	{
		printf("{\"ok\":false,\"error\":{\"code\":\"ReadFile\"}}\n");
		return -2;
	}
	rc = aws_multipart_create(c, argv[0], argv[1], "application/octet-stream", &upload_id, err);
	if (rc == 0)
	{
		print_upload_id(NULL, upload_id);
		rc = getenv("AWSCTL_OVERLAP") ? send_parts_overlapped(c, argv, upload_id, f, &parts, &nparts, &total, err)
			: send_parts(c, argv, upload_id, f, &parts, &nparts, &total, err);
	}
	if (rc == 0)
		rc = aws_multipart_complete(c, argv[0], argv[1], upload_id, parts, nparts, err);
	if (rc == 1)
	{
		aws_error	aerr;

		rc = aws_abort_multipart_upload(c, argv[0], argv[1], upload_id, &aerr);
		if (rc == 0)
			printf("{\"ok\":true,\"aborted\":true,\"size\":%zu}\n", total);
		else
			*err = aerr;
	}
	else if (rc == 0)
		printf("{\"ok\":true,\"size\":%zu,\"parts\":%d}\n", total, nparts);
	fclose(f);
	free(parts);
	free(upload_id);
	return rc;
}

static int
cmd_get(aws_client *c, char **argv, aws_error *err)
{
	void	   *data;
	size_t		len;
	FILE	   *f;

	if (aws_get_object(c, argv[0], argv[1], &data, &len, err) != 0)
		return -1;
	f = fopen(argv[2], "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len)
	{
		if (f)
			fclose(f);
		free(data);
		printf("{\"ok\":false,\"error\":{\"code\":\"WriteFile\"}}\n");
		return -2;
	}
	fclose(f);
	free(data);
	printf("{\"ok\":true,\"size\":%zu}\n", len);
	return 0;
}

static int
cmd_head(aws_client *c, char **argv, aws_error *err)
{
	int64_t		size = -1;
	int			rc = aws_head_object(c, argv[0], argv[1], &size, err);

	if (rc < 0)
		return -1;
	printf("{\"ok\":true,\"exists\":%s,\"size\":%lld}\n", rc == 0 ? "true" : "false", (long long) size);
	return 0;
}

static int	list_count;

static void
print_listed_key(void *ctx, const char *key, int64_t size)
{
	FILE	   *out = ctx;
	const unsigned char *p;

	fprintf(out, "%s{\"key\":\"", list_count++ ? "," : "");
	for (p = (const unsigned char *) key; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fprintf(out, "\",\"size\":%lld}", (long long) size);
}

static int
cmd_list(aws_client *c, char **argv, aws_error *err)
{
	/* Keys are collected first; a failure half-way prints only the error. */
	char	   *buf = NULL;
	size_t		buflen = 0;
	FILE	   *mem = open_memstream(&buf, &buflen);
	int			rc;

	if (mem == NULL)
		return -2;
	rc = aws_list_objects(c, argv[0], argv[1], print_listed_key, mem, err);
	fclose(mem);
	if (rc == 0)
		printf("{\"ok\":true,\"count\":%d,\"keys\":[%s]}\n", list_count, buf ? buf : "");
	free(buf);
	return rc;
}

static int
cmd_location(char **argv)
{
	char	   *bucket = NULL;
	char	   *prefix = NULL;
	aws_error	err;

	memset(&err, 0, sizeof(err));
	if (aws_parse_location(argv[0], &bucket, &prefix, &err) != 0)
		return print_error(&err);
	printf("{\"ok\":true,\"bucket\":");
	print_json_string(bucket);
	printf(",\"prefix\":");
	print_json_string(prefix);
	printf("}\n");
	free(bucket);
	free(prefix);
	return 0;
}

/* STS GetCallerIdentity with the base credentials: {"ok":true,"account":...,"arn":...} */
static int
cmd_whoami(aws_client *c, aws_error *err)
{
	char		account[32];
	char		arn[2048];

	if (aws_get_caller_identity(c, account, sizeof(account), arn, sizeof(arn), err) != 0)
		return -1;
	printf("{\"ok\":true,\"account\":");
	print_json_string(account);
	printf(",\"arn\":");
	print_json_string(arn);
	printf("}\n");
	return 0;
}

/* ---- Security Lake through aws_rest_json ----------------------------------------------------- */
static char *
slurp(const char *path)
{
	void	   *data;
	size_t		len;
	char	   *s;

	if (read_file(path, &data, &len) != 0)
		return NULL;
	s = realloc(data, len + 1);
	if (s == NULL)
	{
		free(data);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

static int
print_rest(int rc, long status, const char *error_type, const char *body)
{
	printf("{\"ok\":%s,\"status\":%ld,\"error_type\":", rc == 0 ? "true" : "false", status);
	print_json_string(error_type);
	printf(",\"body\":");
	print_json_string(body ? body : "");
	printf("}\n");
	return 0;
}

static int
rest_call(aws_client *c, const char *service, const char *method, const char *path, const char *json,
		  aws_error *err)
{
	long		status = 0;
	char	   *body = NULL;
	char		etype[128];
	int			rc = aws_rest_json(c, service, method, path, json, &status, &body, etype, sizeof(etype), err);

	if (rc != 0 && status == 0)
	{
		free(body);
		return -1;				/* never answered: the error says why */
	}
	print_rest(rc, status, etype, body);
	free(body);
	if (rc != 0)
		fprintf(stderr, "error %s: %s\n", err->code, err->message);
	return rc == 0 ? 0 : -2;
}

static int
cmd_rest(aws_client *c, const char *service, const char *method, const char *path, const char *file,
		 aws_error *err)
{
	char	   *json = NULL;
	int			rc;

	if (file && (json = slurp(file)) == NULL)
		return -2;
	rc = rest_call(c, service, method, path, json, err);
	free(json);
	return rc;
}

/* JSON string literal of s (the caller's own test values: no control characters). */
static void
json_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int
cmd_sl_create(aws_client *c, char **argv, aws_error *err)
{
	char	   *json = NULL;
	size_t		jlen = 0;
	FILE	   *f = open_memstream(&json, &jlen);
	const char *p = argv[2];
	int			rc;

	if (f == NULL)
		return -2;
	fprintf(f, "{\"sourceName\":");
	json_quote(f, argv[0]);
	if (strcmp(argv[1], "-") != 0)
	{
		fprintf(f, ",\"sourceVersion\":");
		json_quote(f, argv[1]);
	}
	fprintf(f, ",\"eventClasses\":[");
	while (*p)
	{
		size_t		n = strcspn(p, ",");
		char		cls[128];

		snprintf(cls, sizeof(cls), "%.*s", (int) n, p);
		json_quote(f, cls);
		p += n;
		if (*p == ',' && *++p)
			fputc(',', f);
	}
	fprintf(f, "],\"configuration\":{\"crawlerConfiguration\":{\"roleArn\":");
	json_quote(f, argv[3]);
	fprintf(f, "},\"providerIdentity\":{\"externalId\":");
	json_quote(f, argv[4]);
	fprintf(f, ",\"principal\":");
	json_quote(f, argv[5]);
	fprintf(f, "}}}");
	fclose(f);
	rc = rest_call(c, "securitylake", "POST", "/v1/datalake/logsources/custom", json, err);
	free(json);
	return rc;
}

static int
cmd_sl_delete(aws_client *c, const char *name, const char *version, aws_error *err)
{
	char	   *ename = aws_uri_encode(name, strlen(name), false);
	char	   *ever = version ? aws_uri_encode(version, strlen(version), false) : NULL;
	char		path[600];
	int			rc;

	snprintf(path, sizeof(path), "/v1/datalake/logsources/custom/%s%s%s", ename,
			 ever ? "?sourceVersion=" : "", ever ? ever : "");
	rc = rest_call(c, "securitylake", "DELETE", path, NULL, err);
	free(ename);
	free(ever);
	return rc;
}

static int
run(aws_client *c, const char *cmd, int argc, char **argv, aws_error *err)
{
	if (strcmp(cmd, "put") == 0 && argc == 3)
		return cmd_put(c, argv, false, err);
	if (strcmp(cmd, "upload") == 0 && argc == 3)
		return cmd_put(c, argv, true, err);
	if (strcmp(cmd, "multipart") == 0 && argc == 3)
		return cmd_multipart(c, argv, err);
	if (strcmp(cmd, "rest") == 0 && (argc == 3 || argc == 4))
		return cmd_rest(c, argv[0], argv[1], argv[2], argc == 4 ? argv[3] : NULL, err);
	if (strcmp(cmd, "sl-create") == 0 && argc == 6)
		return cmd_sl_create(c, argv, err);
	if (strcmp(cmd, "sl-delete") == 0 && (argc == 1 || argc == 2))
		return cmd_sl_delete(c, argv[0], argc == 2 ? argv[1] : NULL, err);
	if (strcmp(cmd, "abort") == 0 && argc == 3)
	{
		if (aws_abort_multipart_upload(c, argv[0], argv[1], argv[2], err) != 0)
			return -1;
		printf("{\"ok\":true}\n");
		return 0;
	}
	if (strcmp(cmd, "get") == 0 && argc == 3)
		return cmd_get(c, argv, err);
	if (strcmp(cmd, "head") == 0 && argc == 2)
		return cmd_head(c, argv, err);
	if (strcmp(cmd, "list") == 0 && argc == 2)
		return cmd_list(c, argv, err);
	if (strcmp(cmd, "whoami") == 0 && argc == 0)
		return cmd_whoami(c, err);
	if (strcmp(cmd, "creds") == 0 && argc == 0)
	{
		if (aws_client_check_credentials(c, err) != 0)
			return -1;
		printf("{\"ok\":true}\n");
		return 0;
	}
	fprintf(stderr, "usage: awsctl put|upload|multipart|abort|get|head|list|creds|whoami|location|rest|sl-create|sl-delete ARGS\n");
	return -3;
}

/*
 * Peak resident memory of this program: VmHWM of /proc/self/status. (getrusage's ru_maxrss
 * would also count the parent's pages at fork, before exec: a node test runner's 50 MB.)
 */
static long
peak_rss_kb(void)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	long		kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* On stderr, so stdout stays one JSON object: memory, interrupt lateness, redirects. */
static void
report_run(aws_client *c, int rc)
{
	fprintf(stderr, "maxrss_kb %ld\n", peak_rss_kb());
	if (interrupt_at_ms >= 0)
		fprintf(stderr, "late_ms %ld\n", since_start_ms() - interrupt_at_ms);
	if (aws_client_bucket_region(c))
		fprintf(stderr, "bucket-region %s\n", aws_client_bucket_region(c));
	(void) rc;
}

int
main(int argc, char **argv)
{
	aws_config	cfg;
	aws_error	err;
	aws_client *c;
	int			rc = 0;
	long		repeat = env_long("AWSCTL_REPEAT", 1);

	if (argc < 2)
	{
		fprintf(stderr, "usage: awsctl COMMAND ARGS\n");
		return 2;
	}
	if (strcmp(argv[1], "location") == 0 && argc == 3)
		return cmd_location(argv + 2);
	memset(&err, 0, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &started);
	config_from_env(&cfg);
	interrupt_at_ms = env_long("AWSCTL_INTERRUPT_AT_MS", -1);
	if (interrupt_at_ms >= 0)
		cfg.interrupt_fn = interrupt_due;
	c = aws_client_new(&cfg, &err);
	if (c == NULL)
		return print_error(&err);
	c->clock_offset_s = env_long("AWSCTL_TEST_CLOCK_SKEW_S", 0);
	c->test_corrupt_checksum = env_long("AWSCTL_CORRUPT_CHECKSUM", 0) != 0;
	for (long i = 0; i < repeat && rc == 0; i++)
	{
		if (i > 0)
			sleep((unsigned) env_long("AWSCTL_REPEAT_SLEEP_S", 0));
		rc = run(c, argv[1], argc - 2, argv + 2, &err);
	}
	report_run(c, rc);
	aws_client_free(c);
	if (rc == -1)
		return print_error(&err);
	return rc == 0 ? 0 : 2;
}
