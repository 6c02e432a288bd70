/*
 * test_aws_parse.c — the parts of src/aws that need no network: location parsing, the
 * XML answers of S3 and STS (errors, AssumeRole, ListObjectsV2 pages, a
 * CompleteMultipartUpload that failed after 200 OK), URI encoding, Content-MD5 and
 * x-amz-date formatting. TAP output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool
str_is(const char *got, const char *want)
{
	if (got == NULL || want == NULL)
		return got == want;
	if (strcmp(got, want) != 0)
	{
		printf("# got \"%s\", want \"%s\"\n", got, want);
		return false;
	}
	return true;
}

static void
location_case(const char *loc, const char *want_bucket, const char *want_prefix)
{
	char	   *bucket = NULL;
	char	   *prefix = NULL;
	aws_error	err;
	char		desc[600];
	int			rc = aws_parse_location(loc, &bucket, &prefix, &err);

	snprintf(desc, sizeof(desc), "location %s", loc);
	if (want_bucket == NULL)
		ok(rc == -1 && bucket == NULL && strcmp(err.code, "InvalidLocation") == 0, desc);
	else
		ok(rc == 0 && str_is(bucket, want_bucket) && str_is(prefix, want_prefix), desc);
	free(bucket);
	free(prefix);
}

static void
test_locations(void)
{
	location_case("s3://aws-security-data-lake-us-east-1-abc/ext/my_source/", "aws-security-data-lake-us-east-1-abc", "ext/my_source/");
	location_case("s3://aws-security-data-lake-us-east-1-abc/ext/my_source/1.0/", "aws-security-data-lake-us-east-1-abc", "ext/my_source/1.0/");
	location_case("s3://bucket", "bucket", "");
	location_case("s3://bucket/", "bucket", "");
	location_case("https://lake.s3.us-east-1.amazonaws.com/ext/src/", "lake", "ext/src/");
	location_case("https://lake.s3-us-west-2.amazonaws.com/ext/", "lake", "ext/");
	location_case("https://lake.s3.amazonaws.com", "lake", "");
	location_case("https://my.s3data.bucket.s3.eu-west-1.amazonaws.com/p/", "my.s3data.bucket", "p/");
	location_case("https://s3.us-east-1.amazonaws.com/lake/ext/src/", "lake", "ext/src/");
	location_case("s3:///prefix", NULL, NULL);
	location_case("https://example.com/lake/", NULL, NULL);
	location_case("ftp://lake/ext/", NULL, NULL);
	location_case("https://s3.us-east-1.amazonaws.com/", NULL, NULL);
}

static void
test_error_xml(void)
{
	const char *s3 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
		"<Message>The request signature we calculated does not match</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
	const char *sts = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
		"<Code>AccessDenied</Code><Message>not authorized to perform: sts:AssumeRole</Message></Error>"
		"<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>";
	char	   *v;

	v = aws_xml_find(s3, strlen(s3), "Code");
	ok(str_is(v, "SignatureDoesNotMatch"), "S3 error XML: Code");
	free(v);
	v = aws_xml_find(s3, strlen(s3), "RequestId");
	ok(str_is(v, "4442587FB7D0A2F9"), "S3 error XML: RequestId");
	free(v);
	v = aws_xml_find(sts, strlen(sts), "Code");
	ok(str_is(v, "AccessDenied"), "STS ErrorResponse (namespaced): Code");
	free(v);
	v = aws_xml_find(sts, strlen(sts), "Message");
	ok(str_is(v, "not authorized to perform: sts:AssumeRole"), "STS ErrorResponse: Message");
	free(v);
	v = aws_xml_find("<Error><Code>x", 14, "Code");
	ok(v == NULL, "truncated XML yields nothing");
	free(v);
	v = aws_xml_find("not xml at all", 14, "Code");
	ok(v == NULL, "non-XML yields nothing");
	free(v);
	ok(aws_xml_find(NULL, 0, "Code") == NULL, "no body yields nothing");
}

static void
test_xxe(void)
{
	const char *evil = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<Error><Code>&e;</Code></Error>";
	char	   *v = aws_xml_find(evil, strlen(evil), "Code");

	ok(v == NULL || strstr(v, "root:") == NULL, "external entities are not expanded");
	free(v);
}

static void
test_assume_role_xml(void)
{
	const char *xml = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
		"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>"
		"<Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>sec/ret+key</SecretAccessKey>"
		"<SessionToken>IQoJb3JpZ2luX2VjEPT//////////wEaCXVz&amp;x</SessionToken>"
		"<Expiration>2026-11-29T02:00:00Z</Expiration></Credentials></AssumeRoleResult>"
		"<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>";
	char	   *v;

	v = aws_xml_find(xml, strlen(xml), "AccessKeyId");
	ok(str_is(v, "ASIAEXAMPLE"), "AssumeRole: AccessKeyId");
	free(v);
	v = aws_xml_find(xml, strlen(xml), "SecretAccessKey");
	ok(str_is(v, "sec/ret+key"), "AssumeRole: SecretAccessKey");
	aws_free_secret(v);
	v = aws_xml_find(xml, strlen(xml), "SessionToken");
	ok(str_is(v, "IQoJb3JpZ2luX2VjEPT//////////wEaCXVz&x"), "AssumeRole: SessionToken, entity decoded");
	aws_free_secret(v);
	v = aws_xml_find(xml, strlen(xml), "Expiration");
	ok(str_is(v, "2026-11-29T02:00:00Z"), "AssumeRole: Expiration");
	free(v);
}

typedef struct listed
{
	int			n;
	char		keys[4][64];
	int64_t		sizes[4];
} listed;

static void
collect(void *ctx, const char *key, int64_t size)
{
	listed	   *l = ctx;

	if (l->n < 4)
	{
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
		l->sizes[l->n] = size;
	}
	l->n++;
}

static void
test_list_xml(void)
{
	const char *page = "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
		"<Prefix>ext/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>ext/a b&amp;c.parquet</Key><Size>1234</Size><ETag>\"x\"</ETag></Contents>"
		"<Contents><Key>ext/é.parquet</Key><Size>5368709120</Size></Contents></ListBucketResult>";
	const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";
	listed		l = {0};
	bool		truncated = false;
	char	   *next = aws_xml_list_keys(page, strlen(page), collect, &l, &truncated);

	ok(l.n == 2 && str_is(l.keys[0], "ext/a b&c.parquet") && str_is(l.keys[1], "ext/é.parquet"), "ListObjectsV2: keys decoded");
	ok(l.sizes[0] == 1234 && l.sizes[1] == 5368709120LL, "ListObjectsV2: sizes beyond 32 bits");
	ok(truncated && str_is(next, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="), "ListObjectsV2: continuation token");
	free(next);
	memset(&l, 0, sizeof(l));
	next = aws_xml_list_keys(last, strlen(last), collect, &l, &truncated);
	ok(l.n == 0 && !truncated && next == NULL, "ListObjectsV2: last empty page");
	free(next);
}

static void
test_complete_after_200(void)
{
	/* What S3 may send with 200 OK to CompleteMultipartUpload: an error, not a result. */
	const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error><Code>InternalError</Code>"
		"<Message>We encountered an internal error. Please try again.</Message></Error>";
	const char *good = "<CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket><Key>k</Key>"
		"<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
	char	   *v = aws_xml_find(body, strlen(body), "Code");

	ok(str_is(v, "InternalError"), "Complete after 200: the error code is found in the body");
	free(v);
	v = aws_xml_find(good, strlen(good), "Code");
	ok(v == NULL, "Complete result: no Code element");
	free(v);
}

static void
encode_case(const char *in, bool keep_slash, const char *want)
{
	char	   *got = aws_uri_encode(in, strlen(in), keep_slash);
	char		desc[300];

	snprintf(desc, sizeof(desc), "uri encode \"%s\" (%s)", in, keep_slash ? "path" : "query");
	ok(str_is(got, want), desc);
	free(got);
}

static void
test_encoding(void)
{
	char		md5[25];
	char		date[17];

	encode_case("a b=c+d/é~_-.", true, "a%20b%3Dc%2Bd/%C3%A9~_-.");
	encode_case("a b=c+d/é~_-.", false, "a%20b%3Dc%2Bd%2F%C3%A9~_-.");
	encode_case("ext/region=us-east-1/accountId=external/x.parquet", true, "ext/region%3Dus-east-1/accountId%3Dexternal/x.parquet");
	encode_case("*()!'", true, "%2A%28%29%21%27");
	encode_case("already%20encoded", true, "already%2520encoded");
	aws_md5_base64("", 0, md5);
	ok(str_is(md5, "1B2M2Y8AsgTpgAmY7PhCfg=="), "Content-MD5 of the empty body");
	aws_md5_base64("hello", 5, md5);
	ok(str_is(md5, "XUFAKrxLKna5cZ2REBfFkg=="), "Content-MD5 of \"hello\"");
	aws_format_amz_date((time_t) 1440938160, date);
	ok(str_is(date, "20150830T123600Z"), "x-amz-date format");
}

int
main(void)
{
	test_locations();
	test_error_xml();
	test_xxe();
	test_assume_role_xml();
	test_list_xml();
	test_complete_after_200();
	test_encoding();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
