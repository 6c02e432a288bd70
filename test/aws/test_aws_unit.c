/*
 * test_aws_unit.c — the pure parts of src/aws added for issues 11 and 13: the endpoint
 * allow-list check (every host trick), SigV4's unreserved set under a locale whose isalnum
 * says otherwise, secret memory (page-aligned, MADV_DONTDUMP, wiped), the checks the
 * multipart calls make before sending, and how a CompleteMultipartUpload answer is read.
 * TAP output.
 */
#define _DEFAULT_SOURCE			/* mkdtemp, setenv */
#include <ctype.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/aws_internal.h"

static int	test_no = 0;
static int	failures = 0;

static void
ok(bool cond, const char *desc)
{
	test_no++;
	printf("%sok %d - %s\n", cond ? "" : "not ", test_no, desc);
	if (!cond)
		failures++;
}

/* ---- aws_endpoint_check --------------------------------------------------------------- */
static void
accept_case(const char *url, const char *allowed)
{
	char		why[256];
	char		desc[600];
	int			rc = aws_endpoint_check(url, allowed, why, sizeof(why));

	snprintf(desc, sizeof(desc), "accepted: %s%s%s", url, allowed ? " with allowed " : "", allowed ? allowed : "");
	ok(rc == 0, desc);
	if (rc != 0)
		printf("# refused: %s\n", why);
}

static void
refuse_case(const char *url, const char *allowed, const char *why_has)
{
	char		why[256];
	char		desc[600];
	int			rc = aws_endpoint_check(url, allowed, why, sizeof(why));

	snprintf(desc, sizeof(desc), "refused: %s%s%s", url, allowed ? " with allowed " : "", allowed ? allowed : "");
	ok(rc == -1 && strstr(why, why_has) != NULL && why[strlen(why) - 1] == '.', desc);
	if (rc != -1 || strstr(why, why_has) == NULL)
		printf("# rc %d, why \"%s\" (want \"%s\")\n", rc, why, why_has);
}

static void
test_endpoint_aws(void)
{
	accept_case("https://s3.us-east-1.amazonaws.com", NULL);
	accept_case("https://s3.us-east-1.amazonaws.com/", NULL);
	accept_case("HTTPS://S3.EU-WEST-1.AMAZONAWS.COM", NULL);
	accept_case("https://s3.dualstack.eu-central-1.amazonaws.com", NULL);
	accept_case("https://s3-fips.us-gov-west-1.amazonaws.com", NULL);
	accept_case("https://s3-fips.dualstack.us-east-2.amazonaws.com", NULL);
	accept_case("https://s3.amazonaws.com", NULL);
	accept_case("https://sts.ap-southeast-2.amazonaws.com", NULL);
	accept_case("https://sts.amazonaws.com", NULL);
	accept_case("https://securitylake.us-west-2.amazonaws.com", NULL);
	accept_case("https://s3.cn-north-1.amazonaws.com.cn", NULL);
	accept_case("https://sts.cn-northwest-1.amazonaws.com.cn:443", NULL);
	refuse_case("http://s3.us-east-1.amazonaws.com", NULL, "https only");
	refuse_case("https://s3.us-east-1.amazonaws.com:8443", NULL, "port 443");
	refuse_case("https://s3.us-east-1.amazonaws.com/bucket", NULL, "no path");
	refuse_case("https://s3.us-east-1.amazonaws.com?x=1", NULL, "no path");
	refuse_case("https://s3.us-east-1.amazonaws.com@evil.example/", NULL, "userinfo");
	refuse_case("https://user:pw@s3.us-east-1.amazonaws.com/", NULL, "userinfo");
	refuse_case("https://evil.example/s3.amazonaws.com", NULL, "neither");
	refuse_case("https://s3.amazonaws.com.evil.example", NULL, "neither");
	refuse_case("https://evil-s3.us-east-1.amazonaws.com", NULL, "neither");
	refuse_case("https://x.s3.us-east-1.amazonaws.com", NULL, "neither");
	refuse_case("https://s3.us-east-1.amazonaws.com.", NULL, "dot");
	refuse_case("https://s3..amazonaws.com", NULL, "dot");
	refuse_case("https://s3.us-east.amazonaws.com", NULL, "neither");
	refuse_case("https://s3.%75s-east-1.amazonaws.com", NULL, "percent");
	refuse_case("https://[::1]:443/", NULL, "IPv6");
	refuse_case("https://[2600:1f18::1]/", NULL, "IPv6");
	refuse_case("https://s3.us-east-1.amazonaws.com\\@evil/", NULL, "backslash");
	refuse_case("https://s3.us-east-1.amazonaws.com\t", NULL, "control");
	refuse_case("https://s3.us-east-1.amazonaws.com%00.evil", NULL, "percent");
	refuse_case("https://s3.us-east-1.amazonaws.com:0", NULL, "port");
	refuse_case("https://s3.us-east-1.amazonaws.com:99999", NULL, "port");
	refuse_case("https://s3.us-east-1.amazonaws.com:", NULL, "port");
	refuse_case("https://s3.us-east-1.amazonaws.com:44x", NULL, "port");
	refuse_case("ftp://s3.us-east-1.amazonaws.com", NULL, "scheme");
	refuse_case("s3.us-east-1.amazonaws.com", NULL, "scheme://host");
	refuse_case("https://", NULL, "no host");
	refuse_case("", NULL, "empty");
	refuse_case("https://s3.us-east-1.amazonaws.com\xc3\xa9", NULL, "non-ASCII");
	refuse_case("https://s3.us-east-1.amazonaws.com_evil", NULL, "character");
}

static void
test_endpoint_allowed(void)
{
	const char *allowed = "http://127.0.0.1:9000, https://minio.internal ,http://LOCALHOST";

	accept_case("http://127.0.0.1:9000", allowed);
	accept_case("http://127.0.0.1:9000/", allowed);
	accept_case("https://minio.internal:9443/", allowed);
	accept_case("https://MINIO.internal", allowed);
	accept_case("http://localhost:1234", allowed);
	accept_case("http://localhost", allowed);
	accept_case("https://minio.internal/some/prefix", allowed);
	refuse_case("http://127.0.0.1:9001", allowed, "allow-list");
	refuse_case("https://127.0.0.1:9000", allowed, "allow-list");
	refuse_case("http://minio.internal", allowed, "allow-list");
	refuse_case("http://127.0.0.1:9000@evil/", allowed, "userinfo");
	refuse_case("http://evil/127.0.0.1:9000", allowed, "allow-list");
	refuse_case("http://127.0.0.1.:9000", allowed, "dot");
	refuse_case("http://minio.internal.evil", "https://minio.internal", "allow-list");
	accept_case("https://minio.internal", "https://minio.internal:443");
	refuse_case("https://minio.internal:8443", "https://minio.internal:443", "allow-list");
	refuse_case("http://[::1]:9000", "http://[::1]:9000", "IPv6");
	refuse_case("http://evil", "http://evil@good", "allow-list");
	refuse_case("http://good", "http://evil@good", "allow-list");
	refuse_case("http://x", "", "allow-list");
}

/* ---- the unreserved set, whatever the locale ------------------------------------------- */
static bool
is_unreserved_ascii(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~';
}

/* Every byte: kept exactly when it is in A–Z a–z 0–9 - . _ ~, else %XX (upper-case hex). */
static bool
encoding_is_exact(void)
{
	for (int c = 1; c < 256; c++)
	{
		char		in[2] = {(char) c, '\0'};
		char	   *out = aws_uri_encode(in, 1, false);
		char		want[4];
		bool		good;

		if (is_unreserved_ascii(c))
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "%%%02X", c);
		good = out && strcmp(out, want) == 0;
		free(out);
		if (!good)
		{
			printf("# byte 0x%02X encoded wrongly\n", c);
			return false;
		}
	}
	return true;
}

/* A Latin-1 locale made here with localedef (none is installed on a bare machine). */
static const char *
latin1_locale(char *dir)
{
	char		cmd[512];

	if (setlocale(LC_ALL, "en_US.ISO-8859-1") || setlocale(LC_ALL, "de_DE.ISO-8859-1"))
		return setlocale(LC_ALL, NULL);
	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(cmd, sizeof(cmd), "localedef -i en_US -f ISO-8859-1 %s/en_US.ISO-8859-1 >/dev/null 2>&1", dir);
	if (system(cmd) != 0)
		return NULL;
	setenv("LOCPATH", dir, 1);
	return setlocale(LC_ALL, "en_US.ISO-8859-1");
}

static void
test_locale(void)
{
	char		dir[] = "/tmp/aws-unit-locale-XXXXXX";
	const char *loc;
	char		cmd[600];

	ok(encoding_is_exact(), "C locale: unreserved set exactly A-Z a-z 0-9 - . _ ~, bytes >= 0x80 percent-encoded");
	if (setlocale(LC_ALL, "C.UTF-8") != NULL)
		ok(encoding_is_exact(), "C.UTF-8: the same");
	else
		printf("ok %d - # SKIP no C.UTF-8 locale\n", ++test_no);
	loc = latin1_locale(dir);
	if (loc)
	{
		printf("# locale %s: isalnum(0xE9) = %d\n", loc, isalnum(0xE9) != 0);
		ok(isalnum(0xE9) != 0, "Latin-1: the locale's isalnum says e-acute is alphanumeric");
		ok(encoding_is_exact(), "Latin-1: the encoding still percent-encodes it (%E9)");
	}
	else
		printf("ok %d - # SKIP no Latin-1 locale could be made\n", ++test_no);
	setlocale(LC_ALL, "C");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (strcmp(dir, "/tmp/aws-unit-locale-XXXXXX") != 0 && system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

/* ---- secret memory --------------------------------------------------------------------- */
static void
test_secrets(void)
{
	char	   *s = aws_secret_strdup("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	long		page = sysconf(_SC_PAGESIZE);
	aws_config	cfg;
	aws_error	err;
	aws_client *c;
	const aws_credentials *creds;

	ok(s != NULL && strcmp(s, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == 0, "secret copy holds the value");
	ok(aws_secret_is_guarded(s), "secret block is page-aligned and marked MADV_DONTDUMP");
	ok(((uintptr_t) s & (uintptr_t) (page - 1)) < 64, "secret bytes start right after the block's header");
	aws_secret_free(s);

	aws_config_init(&cfg);
	cfg.region = "us-east-1";
	cfg.access_key_id = "AKIDEXAMPLE";
	cfg.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	cfg.session_token = "token-example";
	c = aws_client_new(&cfg, &err);
	ok(c != NULL && aws_secret_is_guarded(c->cfg.secret_access_key) && aws_secret_is_guarded(c->cfg.session_token),
	   "the client's copies of the static secret key and token are guarded");
	ok(c && aws_client_check_credentials(c, &err) == 0 && aws_current_credentials(c, &creds, &err) == 0 &&
	   aws_secret_is_guarded(creds->secret_access_key) && aws_secret_is_guarded(creds->session_token),
	   "resolved credentials are guarded");
	aws_client_free(c);
}

/* ---- multipart checks made before sending ----------------------------------------------- */
static void
test_multipart_checks(void)
{
	aws_config	cfg;
	aws_error	err;
	aws_client *c;
	aws_part	parts[3];

	aws_config_init(&cfg);
	cfg.region = "us-east-1";
	cfg.access_key_id = "AKIDEXAMPLE";
	cfg.secret_access_key = "secret";
	cfg.s3_endpoint = "http://127.0.0.1:9";	/* nothing listens: every check must come first */
	cfg.max_attempts = 1;
	c = aws_client_new(&cfg, &err);
	memset(parts, 0, sizeof(parts));
	for (int i = 0; i < 3; i++)
	{
		parts[i].part_number = i + 1;
		parts[i].size = AWS_MIN_PART_SIZE;
		snprintf(parts[i].etag, sizeof(parts[i].etag), "\"e%d\"", i);
		snprintf(parts[i].checksum_sha256, sizeof(parts[i].checksum_sha256), "c%d", i);
	}
	parts[1].size = AWS_MIN_PART_SIZE - 1;
	ok(aws_multipart_complete(c, "b", "k", "id", parts, 3, &err) == -1 && strcmp(err.code, "InvalidPart") == 0 &&
	   err.http_status == 0, "complete refuses a part under 5 MiB that is not the last, before sending");
	parts[1].size = AWS_MIN_PART_SIZE;
	parts[2].part_number = 2;
	ok(aws_multipart_complete(c, "b", "k", "id", parts, 3, &err) == -1 && strstr(err.message, "ascend"),
	   "complete refuses part numbers that do not ascend");
	ok(aws_multipart_complete(c, "b", "k", "id", parts, 0, &err) == -1 && strcmp(err.code, "InvalidPart") == 0,
	   "complete refuses zero parts");
	ok(aws_multipart_upload_part(c, "b", "k", "id", 10001, "x", 1, &parts[0], &err) == -1 && strcmp(err.code, "InvalidPart") == 0,
	   "upload_part refuses part number 10001");
	ok(aws_multipart_upload_part(c, "b", "k", "id", 0, "x", 1, &parts[0], &err) == -1 && strcmp(err.code, "InvalidPart") == 0,
	   "upload_part refuses part number 0");
	aws_client_free(c);
}

/* ---- configuration ----------------------------------------------------------------------- */
static void
test_config(void)
{
	aws_config	cfg;
	aws_error	err;
	aws_client *c;

	aws_config_init(&cfg);
	ok(cfg.max_response_bytes == 4 * 1024 * 1024 && cfg.max_error_response_bytes == 64 * 1024 &&
	   cfg.request_timeout_ms == 60000 && cfg.min_transfer_rate == 65536,
	   "defaults: 4 MiB answers, 64 KiB error answers, 60 s per attempt plus 1 s per 64 KiB of body");
	cfg.region = "us-east-1";
	c = aws_client_new(&cfg, &err);
	ok(c && aws_request_timeout_ms(c, 16 * 1024 * 1024) == 60000 + 256000,
	   "a 16 MiB part gets 316 s (60 s + 256 s at 64 KiB/s)");
	ok(c && aws_client_bucket_region(c) == NULL, "no bucket region before any redirect");
	aws_client_free(c);
	cfg.s3_endpoint = "http://127.0.0.1:9";	/* nothing listens: each attempt is refused */
	cfg.force_path_style = true;
	cfg.access_key_id = "AKIDEXAMPLE";
	cfg.secret_access_key = "secret";
	cfg.base_delay_ms = 1;
	c = aws_client_new(&cfg, &err);
	ok(c && aws_client_set_max_attempts(c, 1) == 5, "set_max_attempts returns the default, 5");
	ok(c && aws_put_object(c, "b", "k", "x", 1, NULL, &err) == -1 && err.attempts == 1 && strcmp(err.code, "ConnectionError") == 0,
	   "with one attempt set, a refused connection is tried once");
	ok(c && aws_client_set_max_attempts(c, 0) == 1 && aws_client_set_max_attempts(c, 3) == 1, "at least one attempt");
	ok(c && aws_put_object(c, "b", "k", "x", 1, NULL, &err) == -1 && err.attempts == 3, "and then three, as set");
	aws_client_free(c);
	cfg.s3_endpoint = NULL;
	cfg.force_path_style = false;
	cfg.access_key_id = cfg.secret_access_key = NULL;
	cfg.expected_bucket_owner = "12345678901x";
	ok(aws_client_new(&cfg, &err) == NULL && strcmp(err.code, "InvalidConfig") == 0, "a malformed expected bucket owner is refused");
}

int
main(void)
{
	test_endpoint_aws();
	test_endpoint_allowed();
	test_locale();
	test_secrets();
	test_multipart_checks();
	test_config();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
