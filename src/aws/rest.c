/*
 * rest.c — one SigV4-signed REST-JSON call (the Security Lake control plane). The caller
 * builds the JSON and parses the answer (the glue has jsonb); the library signs, sends,
 * retries 5xx / 429 / throttling, caps the answer and reports x-amzn-errortype.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_internal.h"

/* The configured endpoint of a REST-JSON service. */
static const char *
service_endpoint(const aws_client *c, const char *service)
{
	if (strcmp(service, "securitylake") == 0)
		return c->securitylake_endpoint;
	return NULL;
}

static int
split_path(const char *path_and_query, char **path, char **query)
{
	size_t		n = strcspn(path_and_query, "?");

	*path = strndup(path_and_query, n);
	*query = path_and_query[n] == '?' ? aws_strdup(path_and_query + n + 1) : NULL;
	return *path ? 0 : -1;
}

static void
hand_back(aws_response *resp, long *status, char **response_body, char *error_type, size_t error_type_len)
{
	if (status)
		*status = resp->status;
	if (error_type && error_type_len > 0)
		snprintf(error_type, error_type_len, "%s", resp->error_type);
	if (response_body)
	{
		*response_body = resp->body.data ? resp->body.data : aws_strdup("");
		resp->body.data = NULL;
	}
}

int
aws_rest_json(aws_client *c, const char *service, const char *method, const char *path_and_query,
			  const char *json_body, long *status, char **response_body,
			  char *error_type, size_t error_type_len, aws_error *err)
{
	const char *ep = service_endpoint(c, service);
	aws_http_request r;
	aws_response resp = {0};
	char		host[300];
	char		url_base[320];
	char	   *path = NULL;
	char	   *query = NULL;
	const char *hostpart;
	size_t		hostlen;
	int			rc;

	memset(err, 0, sizeof(*err));
	snprintf(err->operation, sizeof(err->operation), "%s %s", method, service);
	if (status)
		*status = 0;
	if (response_body)
		*response_body = NULL;
	if (error_type && error_type_len > 0)
		error_type[0] = '\0';
	if (ep == NULL || path_and_query == NULL || path_and_query[0] != '/')
	{
		aws_set_error(err, err->operation, 0, "InvalidConfig", false,
					  "unknown service or a path that does not start with '/'");
		return -1;
	}
	if (split_path(path_and_query, &path, &query) != 0)
	{
		aws_set_error(err, err->operation, 0, "OutOfMemory", false, "out of memory");
		return -1;
	}
	hostpart = strstr(ep, "://") + 3;
	hostlen = strcspn(hostpart, "/");
	snprintf(host, sizeof(host), "%.*s", (int) hostlen, hostpart);
	snprintf(url_base, sizeof(url_base), "%.*s", (int) (hostpart - ep + hostlen), ep);
	memset(&r, 0, sizeof(r));
	r.method = method;
	r.url_base = url_base;
	r.host = host;
	r.path = path;
	r.query = query;
	r.service = service;
	r.sign = true;
	r.body = json_body;
	r.body_len = json_body ? strlen(json_body) : 0;
	r.content_type = json_body ? "application/json" : NULL;
	rc = aws_request(c, &r, &resp, err);
	if (resp.status != 0)
		hand_back(&resp, status, response_body, error_type, error_type_len);
	aws_response_free(&resp);
	free(path);
	free(query);
	return rc;
}
