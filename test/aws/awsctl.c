/*
 * awsctl — a small command-line driver of src/aws for the integration tests
 * (test/aws/client.test.mjs). Prints one JSON object per run on stdout.
 *
 *   awsctl put    BUCKET KEY FILE      one PutObject (Content-MD5, ETag checked)
 *   awsctl upload BUCKET KEY FILE      PutObject or multipart above the threshold
 *   awsctl stream BUCKET KEY FILE      the streaming API, fed AWSCTL_CHUNK bytes at a time
 *   awsctl abort  BUCKET KEY UPLOADID  AbortMultipartUpload
 *   awsctl get    BUCKET KEY OUTFILE
 *   awsctl head   BUCKET KEY
 *   awsctl list   BUCKET PREFIX
 *   awsctl creds                       resolve (and assume the role, if configured)
 *   awsctl location LOCATION           parse s3://... or https://... only
 *
 * Configuration from the environment (secrets only through the AWS_* variables the
 * credential chain reads; awsctl never prints them):
 *   AWSCTL_REGION, AWSCTL_ENDPOINT (S3), AWSCTL_STS_ENDPOINT, AWSCTL_PATH_STYLE=1,
 *   AWSCTL_ROLE_ARN, AWSCTL_EXTERNAL_ID, AWSCTL_SESSION_NAME, AWSCTL_DURATION,
 *   AWSCTL_MAX_ATTEMPTS, AWSCTL_BASE_DELAY_MS, AWSCTL_MAX_DELAY_MS, AWSCTL_MAX_ELAPSED_MS,
 *   AWSCTL_THRESHOLD, AWSCTL_PART_SIZE, AWSCTL_CA_FILE, AWSCTL_CONNECT_TIMEOUT_MS,
 *   AWSCTL_LOW_SPEED_TIME_S, AWSCTL_TEST_CLOCK_SKEW_S (pretend the local clock is off by this
 *   much: RequestTimeTooSkewed must be corrected), AWSCTL_REPEAT (run the command N times, e.g. to outlive a session).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int
cmd_stream(aws_client *c, char **argv, aws_error *err)
{
	size_t		chunk = (size_t) env_long("AWSCTL_CHUNK", 65536);
	char	   *buf = malloc(chunk);
	FILE	   *f = fopen(argv[2], "rb");
	aws_upload_stream *s = NULL;
	size_t		n;
	size_t		total = 0;
	long		stop_after = env_long("AWSCTL_ABORT_AFTER", -1);	/* abort once this much was written */

	if (buf == NULL || f == NULL)
	{
		free(buf);
		if (f)
			fclose(f);
		printf("{\"ok\":false,\"error\":{\"code\":\"ReadFile\"}}\n");
		return -2;
	}
	s = aws_upload_begin(c, argv[0], argv[1], "application/octet-stream", print_upload_id, NULL, err);
	while (s && (n = fread(buf, 1, chunk, f)) > 0)
	{
		if (aws_upload_write(s, buf, n, err) != 0)
		{
			aws_upload_abort(s);
			s = NULL;
			break;
		}
		total += n;
		if (stop_after >= 0 && total >= (size_t) stop_after)
		{
			aws_upload_abort(s);
			fclose(f);
			free(buf);
			printf("{\"ok\":true,\"aborted\":true,\"size\":%zu}\n", total);
			return 0;
		}
	}
	fclose(f);
	free(buf);
	if (s == NULL || aws_upload_finish(s, err) != 0)
		return -1;
	printf("{\"ok\":true,\"size\":%zu}\n", total);
	return 0;
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

static int
run(aws_client *c, const char *cmd, int argc, char **argv, aws_error *err)
{
	if (strcmp(cmd, "put") == 0 && argc == 3)
		return cmd_put(c, argv, false, err);
	if (strcmp(cmd, "upload") == 0 && argc == 3)
		return cmd_put(c, argv, true, err);
	if (strcmp(cmd, "stream") == 0 && argc == 3)
		return cmd_stream(c, argv, err);
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
	if (strcmp(cmd, "creds") == 0 && argc == 0)
	{
		if (aws_client_check_credentials(c, err) != 0)
			return -1;
		printf("{\"ok\":true}\n");
		return 0;
	}
	fprintf(stderr, "usage: awsctl put|upload|stream|abort|get|head|list|creds|location ARGS\n");
	return -3;
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
	config_from_env(&cfg);
	c = aws_client_new(&cfg, &err);
	if (c == NULL)
		return print_error(&err);
	c->clock_offset_s = env_long("AWSCTL_TEST_CLOCK_SKEW_S", 0);
	for (long i = 0; i < repeat && rc == 0; i++)
	{
		if (i > 0)
			sleep((unsigned) env_long("AWSCTL_REPEAT_SLEEP_S", 0));
		rc = run(c, argv[1], argc - 2, argv + 2, &err);
	}
	aws_client_free(c);
	if (rc == -1)
		return print_error(&err);
	return rc == 0 ? 0 : 2;
}
