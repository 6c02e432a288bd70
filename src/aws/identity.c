/*
 * identity.c — STS GetCallerIdentity: whose base credentials the client signs with.
 *
 * Security Lake's CreateCustomLogSource names the writer of a custom source by its AWS
 * account (providerIdentity.principal). The glue asks STS for the account of the server's
 * own identity — the base credentials, never an assumed role: that identity is the one that
 * will assume the source's provider role. GetCallerIdentity needs no IAM permission.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_internal.h"

/* Copy text into out (len bytes); -1 when it is missing or does not fit. */
static int
copy_out(const char *text, char *out, size_t len)
{
	if (text == NULL || strlen(text) >= len)
		return -1;
	memcpy(out, text, strlen(text) + 1);
	return 0;
}

int
aws_get_caller_identity(aws_client *c, char *account, size_t account_len,
						char *arn, size_t arn_len, aws_error *err)
{
	static const char form[] = "Action=GetCallerIdentity&Version=2011-06-15";
	const char *hostpart = strstr(c->sts_endpoint, "://") + 3;
	size_t		hostlen = strcspn(hostpart, "/");
	char		host[300];
	char		url_base[320];
	aws_http_request r;
	aws_response resp = {0};
	char	   *got_account = NULL;
	char	   *got_arn = NULL;
	int			rc;

	memset(err, 0, sizeof(*err));
	snprintf(err->operation, sizeof(err->operation), "GetCallerIdentity");
	if (aws_resolve_base_credentials(c, err) != 0)
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int) hostlen, hostpart);
	snprintf(url_base, sizeof(url_base), "%.*s", (int) (hostpart - c->sts_endpoint + hostlen), c->sts_endpoint);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url_base = url_base;
	r.host = host;
	r.path = "/";
	r.service = "sts";
	r.body = form;
	r.body_len = strlen(form);
	r.content_type = "application/x-www-form-urlencoded; charset=utf-8";
	r.sign = true;
	r.creds = &c->base;
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0)
	{
		got_account = aws_xml_find(resp.body.data, resp.body.len, "Account");
		got_arn = aws_xml_find(resp.body.data, resp.body.len, "Arn");
		if (copy_out(got_account, account, account_len) != 0 ||
			(arn != NULL && copy_out(got_arn, arn, arn_len) != 0))
		{
			aws_set_error(err, "GetCallerIdentity", resp.status, "MalformedResponse", false,
						  "no Account and Arn in the GetCallerIdentity answer");
			rc = -1;
		}
	}
	free(got_account);
	free(got_arn);
	aws_response_free(&resp);
	return rc;
}
