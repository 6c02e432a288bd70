/*
 * credentials.c — where signing keys come from.
 *
 * Base credentials, first that yields: the static keys of the configuration; the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the shared
 * files (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, AWS_CONFIG_FILE or
 * ~/.aws/config, profile AWS_PROFILE or "default"); web identity (AWS_WEB_IDENTITY_TOKEN_FILE
 * + AWS_ROLE_ARN → AssumeRoleWithWebIdentity); ECS (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * or _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]); EC2 IMDSv2 (unless
 * AWS_EC2_METADATA_DISABLED=true; endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT).
 *
 * With a role ARN, STS AssumeRole (RoleArn, RoleSessionName, ExternalId, DurationSeconds,
 * Tags) turns the base credentials into the role's, cached and refreshed ahead of expiry.
 */
#define _DEFAULT_SOURCE			/* timegm */
#define _XOPEN_SOURCE 700		/* strptime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/aws_internal.h"

/* The secret key and the session token live in guarded memory (secret.c). */
void
aws_credentials_clear(aws_credentials *c)
{
	free(c->access_key_id);
	aws_secret_free(c->secret_access_key);
	aws_secret_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int
aws_credentials_copy(aws_credentials *dst, const aws_credentials *src)
{
	aws_credentials_clear(dst);
	dst->access_key_id = aws_strdup(src->access_key_id);
	dst->secret_access_key = aws_secret_strdup(src->secret_access_key);
	dst->session_token = src->session_token ? aws_secret_strdup(src->session_token) : NULL;
	dst->expiration = src->expiration;
	memcpy(dst->source, src->source, sizeof(dst->source));
	return (dst->access_key_id && dst->secret_access_key) ? 0 : -1;
}

static void
set_credentials(aws_credentials *c, const char *akid, const char *secret, const char *token,
				time_t expiration, const char *source)
{
	aws_credentials_clear(c);
	c->access_key_id = aws_strdup(akid);
	c->secret_access_key = aws_secret_strdup(secret);
	c->session_token = (token && *token) ? aws_secret_strdup(token) : NULL;
	c->expiration = expiration;
	snprintf(c->source, sizeof(c->source), "%s", source);
}

static time_t
parse_iso8601(const char *s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

static bool
expiring(const aws_client *c, const aws_credentials *cr)
{
	if (cr->access_key_id == NULL)
		return true;
	if (cr->expiration == 0)
		return false;
	return time(NULL) + c->clock_offset_s + c->cfg.refresh_ahead_seconds >= cr->expiration;
}

void
aws_invalidate_credentials(aws_client *c)
{
	aws_credentials_clear(&c->role);
	if (c->base.expiration != 0)
		aws_credentials_clear(&c->base);
}

/* ---- shared files ----------------------------------------------------------------- */

/* The value of KEY in section SECTION of an INI file (malloc'd), or NULL. */
static char *
ini_value(const char *path, const char *section, const char *key)
{
	FILE	   *f = fopen(path, "r");
	char		line[4096];
	bool		in_section = false;
	char	   *out = NULL;

	if (f == NULL)
		return NULL;
	while (out == NULL && fgets(line, sizeof(line), f))
	{
		char	   *p = line;
		char	   *end;
		char	   *eq;

		while (aws_is_space((unsigned char) *p))
			p++;
		end = p + strlen(p);
		while (end > p && aws_is_space((unsigned char) end[-1]))
			*--end = '\0';
		if (*p == '#' || *p == ';' || *p == '\0')
			continue;
		if (*p == '[')
		{
			char	   *close = strchr(p, ']');

			if (close)
			{
				*close = '\0';
				p++;
				while (aws_is_space((unsigned char) *p))
					p++;
				in_section = strcmp(p, section) == 0;
			}
			continue;
		}
		if (!in_section || (eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		end = eq;
		while (end > p && aws_is_space((unsigned char) end[-1]))
			*--end = '\0';
		if (strcmp(p, key) == 0)
		{
			char	   *v = eq + 1;

			while (aws_is_space((unsigned char) *v))
				v++;
			out = aws_strdup(v);
		}
	}
	memset(line, 0, sizeof(line));
	fclose(f);
	return out;
}

static char *
home_path(const aws_client *c, const char *env, const char *rel)
{
	const char *explicit = aws_env(c, env);
	const char *home = aws_env(c, "HOME");
	aws_buf		b = {0};

	if (explicit)
		return aws_strdup(explicit);
	if (home == NULL)
		return NULL;
	aws_buf_appendf(&b, "%s/%s", home, rel);
	return b.data;
}

static int
from_shared_files(aws_client *c)
{
	const char *profile = aws_env(c, "AWS_PROFILE") ? aws_env(c, "AWS_PROFILE") : "default";
	char	   *cred_path = home_path(c, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	char	   *conf_path = home_path(c, "AWS_CONFIG_FILE", ".aws/config");
	char		conf_section[300];
	char	   *akid = NULL,
			   *secret = NULL,
			   *token = NULL;
	int			rc = -1;

	snprintf(conf_section, sizeof(conf_section), strcmp(profile, "default") == 0 ? "%s" : "profile %s", profile);
	if (cred_path)
	{
		akid = ini_value(cred_path, profile, "aws_access_key_id");
		secret = ini_value(cred_path, profile, "aws_secret_access_key");
		token = ini_value(cred_path, profile, "aws_session_token");
	}
	if ((akid == NULL || secret == NULL) && conf_path)
	{
		free(akid);
		aws_free_secret(secret);
		aws_free_secret(token);
		akid = ini_value(conf_path, conf_section, "aws_access_key_id");
		secret = ini_value(conf_path, conf_section, "aws_secret_access_key");
		token = ini_value(conf_path, conf_section, "aws_session_token");
	}
	if (akid && secret)
	{
		set_credentials(&c->base, akid, secret, token, 0, "shared-file");
		rc = 0;
	}
	free(akid);
	aws_free_secret(secret);
	aws_free_secret(token);
	free(cred_path);
	free(conf_path);
	return rc;
}

/* ---- JSON of the metadata services (flat: "Key" : "value") ---------------------------- */
static char *
json_string(const char *json, const char *key)
{
	char		pattern[64];
	const char *p;
	const char *end;

	snprintf(pattern, sizeof(pattern), "\"%s\"", key);
	p = json ? strstr(json, pattern) : NULL;
	if (p == NULL)
		return NULL;
	p += strlen(pattern);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
		p++;
	if (*p != '"')
		return NULL;
	p++;
	end = strchr(p, '"');
	return end ? strndup(p, (size_t) (end - p)) : NULL;
}

static int
from_metadata_json(aws_client *c, const char *json, const char *source, aws_error *err)
{
	char	   *akid = json_string(json, "AccessKeyId");
	char	   *secret = json_string(json, "SecretAccessKey");
	char	   *token = json_string(json, "Token");
	char	   *exp = json_string(json, "Expiration");
	int			rc = -1;

	if (akid && secret)
	{
		set_credentials(&c->base, akid, secret, token, parse_iso8601(exp), source);
		rc = 0;
	}
	else
		aws_set_error(err, "GetCredentials", 0, "MalformedResponse", true, "%s credentials answer lacks keys", source);
	free(akid);
	aws_free_secret(secret);
	aws_free_secret(token);
	free(exp);
	return rc;
}

static char *
read_small_file(const char *path)
{
	FILE	   *f = fopen(path, "r");
	aws_buf		b = {0};
	char		chunk[4096];
	size_t		n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 1024 * 1024)
		aws_buf_append(&b, chunk, n);
	fclose(f);
	while (b.len > 0 && aws_is_space((unsigned char) b.data[b.len - 1]))
		b.data[--b.len] = '\0';
	return b.data;
}

static int
from_ecs(aws_client *c, aws_error *err)
{
	const char *rel = aws_env(c, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = aws_env(c, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *token = aws_env(c, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *token_file = aws_env(c, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	char	   *file_token = NULL;
	aws_buf		url = {0};
	aws_buf		auth = {0};
	const char *headers[2] = {NULL, NULL};
	aws_response resp = {0};
	int			rc;

	if (rel)
		aws_buf_appendf(&url, "http://169.254.170.2%s", rel);
	else
		aws_buf_appendf(&url, "%s", full);
	if (token_file && (file_token = read_small_file(token_file)) != NULL)
		token = file_token;
	if (token)
	{
		aws_buf_appendf(&auth, "Authorization: %s", token);
		headers[0] = auth.data;
	}
	rc = aws_plain_request(c, "GET", url.data, headers, c->cfg.metadata_timeout_ms * 5, &resp, err);
	if (rc == 0 && resp.status != 200)
	{
		aws_set_error(err, "GetCredentials", resp.status, "ContainerCredentialsError", resp.status >= 500,
					  "the container credentials endpoint answered HTTP %ld", resp.status);
		rc = -1;
	}
	if (rc == 0)
		rc = from_metadata_json(c, resp.body.data, "ecs", err);
	if (auth.data)
		memset(auth.data, 0, auth.len);
	aws_buf_free(&auth);
	aws_free_secret(file_token);
	aws_response_free(&resp);
	aws_buf_free(&url);
	return rc;
}

static int
from_imds(aws_client *c, aws_error *err)
{
	const char *base = aws_env(c, "AWS_EC2_METADATA_SERVICE_ENDPOINT") ? aws_env(c, "AWS_EC2_METADATA_SERVICE_ENDPOINT") : "http://169.254.169.254";
	const char *ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
	aws_response resp = {0};
	aws_buf		url = {0};
	aws_buf		tok = {0};
	const char *with_token[2] = {NULL, NULL};
	char	   *role = NULL;
	size_t		blen = strlen(base);
	int			rc;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	aws_buf_appendf(&url, "%.*s/latest/api/token", (int) blen, base);
	rc = aws_plain_request(c, "PUT", url.data, ttl, c->cfg.metadata_timeout_ms, &resp, err);
	if (rc == 0 && resp.status != 200)
	{
		aws_set_error(err, "GetCredentials", resp.status, "ImdsError", false, "IMDSv2 token request answered HTTP %ld", resp.status);
		rc = -1;
	}
	if (rc == 0)
	{
		aws_buf_appendf(&tok, "X-aws-ec2-metadata-token: %s", resp.body.data);
		with_token[0] = tok.data;
		url.len = 0;
		aws_buf_appendf(&url, "%.*s/latest/meta-data/iam/security-credentials/", (int) blen, base);
		rc = aws_plain_request(c, "GET", url.data, with_token, c->cfg.metadata_timeout_ms, &resp, err);
		if (rc == 0 && (resp.status != 200 || resp.body.len == 0))
		{
			aws_set_error(err, "GetCredentials", resp.status, "ImdsError", false, "the instance has no IAM role");
			rc = -1;
		}
		if (rc == 0)
			role = strndup(resp.body.data, strcspn(resp.body.data, "\r\n"));
	}
	if (rc == 0)
	{
		char	   *erole = aws_uri_encode(role, strlen(role), false);

		url.len = 0;
		aws_buf_appendf(&url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int) blen, base, erole);
		free(erole);
		rc = aws_plain_request(c, "GET", url.data, with_token, c->cfg.metadata_timeout_ms, &resp, err);
		if (rc == 0 && resp.status != 200)
		{
			aws_set_error(err, "GetCredentials", resp.status, "ImdsError", true, "IMDS credentials answered HTTP %ld", resp.status);
			rc = -1;
		}
		if (rc == 0)
			rc = from_metadata_json(c, resp.body.data, "imds", err);
	}
	if (tok.data)
		memset(tok.data, 0, tok.len);
	aws_buf_free(&tok);
	free(role);
	aws_response_free(&resp);
	aws_buf_free(&url);
	return rc;
}

/* ---- STS ------------------------------------------------------------------------------ */
static void
form_param(aws_buf *b, const char *name, const char *value)
{
	char	   *e = aws_uri_encode(value, strlen(value), false);

	aws_buf_appendf(b, "&%s=%s", name, e);
	free(e);
}

static int
sts_call(aws_client *c, const char *operation, aws_buf *form, bool sign, aws_credentials *out, aws_error *err)
{
	const char *hostpart = strstr(c->sts_endpoint, "://") + 3;
	size_t		hostlen = strcspn(hostpart, "/");
	char		host[300];
	char		url_base[320];
	aws_http_request r;
	aws_response resp = {0};
	int			rc;

	snprintf(host, sizeof(host), "%.*s", (int) hostlen, hostpart);
	snprintf(url_base, sizeof(url_base), "%.*s", (int) (hostpart - c->sts_endpoint + hostlen), c->sts_endpoint);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url_base = url_base;
	r.host = host;
	r.path = "/";
	r.service = "sts";
	r.body = form->data;
	r.body_len = form->len;
	r.content_type = "application/x-www-form-urlencoded; charset=utf-8";
	r.sign = sign;
	r.creds = sign ? &c->base : NULL;
	memset(err, 0, sizeof(*err));
	snprintf(err->operation, sizeof(err->operation), "%s", operation);
	rc = aws_request(c, &r, &resp, err);
	if (rc == 0)
	{
		char	   *akid = aws_xml_find(resp.body.data, resp.body.len, "AccessKeyId");
		char	   *secret = aws_xml_find(resp.body.data, resp.body.len, "SecretAccessKey");
		char	   *token = aws_xml_find(resp.body.data, resp.body.len, "SessionToken");
		char	   *exp = aws_xml_find(resp.body.data, resp.body.len, "Expiration");

		if (akid && secret && token)
			set_credentials(out, akid, secret, token, parse_iso8601(exp), "sts");
		else
		{
			aws_set_error(err, operation, resp.status, "MalformedResponse", true, "no credentials in the %s answer", operation);
			rc = -1;
		}
		free(akid);
		aws_free_secret(secret);
		aws_free_secret(token);
		free(exp);
	}
	/* The answer held secrets. */
	if (resp.body.data)
		memset(resp.body.data, 0, resp.body.len);
	aws_response_free(&resp);
	return rc;
}

static int
from_web_identity(aws_client *c, aws_error *err)
{
	char	   *token = read_small_file(aws_env(c, "AWS_WEB_IDENTITY_TOKEN_FILE"));
	const char *session = aws_env(c, "AWS_ROLE_SESSION_NAME") ? aws_env(c, "AWS_ROLE_SESSION_NAME") : c->cfg.role_session_name;
	aws_buf		form = {0};
	aws_credentials got = {0};
	int			rc;

	if (token == NULL)
	{
		aws_set_error(err, "AssumeRoleWithWebIdentity", 0, "InvalidConfig", false, "cannot read AWS_WEB_IDENTITY_TOKEN_FILE");
		return -1;
	}
	aws_buf_appendf(&form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15");
	form_param(&form, "RoleArn", aws_env(c, "AWS_ROLE_ARN"));
	form_param(&form, "RoleSessionName", session);
	form_param(&form, "WebIdentityToken", token);
	rc = sts_call(c, "AssumeRoleWithWebIdentity", &form, false, &got, err);
	if (rc == 0)
	{
		aws_credentials_copy(&c->base, &got);
		snprintf(c->base.source, sizeof(c->base.source), "web-identity");
	}
	aws_credentials_clear(&got);
	memset(form.data, 0, form.len);
	aws_buf_free(&form);
	aws_free_secret(token);
	return rc;
}

int
aws_resolve_base_credentials(aws_client *c, aws_error *err)
{
	const char *akid,
			   *secret;

	if (!expiring(c, &c->base))
		return 0;
	if (c->cfg.access_key_id && c->cfg.secret_access_key)
	{
		set_credentials(&c->base, c->cfg.access_key_id, c->cfg.secret_access_key, c->cfg.session_token, 0, "static");
		return 0;
	}
	akid = aws_env(c, "AWS_ACCESS_KEY_ID");
	secret = aws_env(c, "AWS_SECRET_ACCESS_KEY");
	if (akid && secret)
	{
		set_credentials(&c->base, akid, secret, aws_env(c, "AWS_SESSION_TOKEN"), 0, "environment");
		return 0;
	}
	if (from_shared_files(c) == 0)
		return 0;
	if (aws_env(c, "AWS_WEB_IDENTITY_TOKEN_FILE") && aws_env(c, "AWS_ROLE_ARN"))
		return from_web_identity(c, err);
	if (aws_env(c, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || aws_env(c, "AWS_CONTAINER_CREDENTIALS_FULL_URI"))
		return from_ecs(c, err);
	if (!(aws_env(c, "AWS_EC2_METADATA_DISABLED") && strcasecmp(aws_env(c, "AWS_EC2_METADATA_DISABLED"), "true") == 0))
	{
		if (from_imds(c, err) == 0)
			return 0;
		aws_set_error(err, "GetCredentials", 0, "NoCredentials", false,
					  "no AWS credentials: none configured, none in the environment or the shared files, and the instance metadata service gave none (%s)",
					  err->message);
		return -1;
	}
	aws_set_error(err, "GetCredentials", 0, "NoCredentials", false,
				  "no AWS credentials: none configured, none in the environment, the shared files, web identity or the container");
	return -1;
}

int
aws_assume_role(aws_client *c, aws_error *err)
{
	aws_buf		form = {0};
	char		duration[16];
	int			rc;
	int			i;

	if (aws_resolve_base_credentials(c, err) != 0)
		return -1;
	snprintf(duration, sizeof(duration), "%d", c->cfg.duration_seconds);
	aws_buf_appendf(&form, "Action=AssumeRole&Version=2011-06-15");
	form_param(&form, "RoleArn", c->cfg.role_arn);
	form_param(&form, "RoleSessionName", c->cfg.role_session_name);
	if (c->cfg.external_id)
		form_param(&form, "ExternalId", c->cfg.external_id);
	form_param(&form, "DurationSeconds", duration);
	for (i = 0; i < c->cfg.num_session_tags; i++)
	{
		char		name[48];

		snprintf(name, sizeof(name), "Tags.member.%d.Key", i + 1);
		form_param(&form, name, c->cfg.session_tags[i].key);
		snprintf(name, sizeof(name), "Tags.member.%d.Value", i + 1);
		form_param(&form, name, c->cfg.session_tags[i].value);
	}
	rc = sts_call(c, "AssumeRole", &form, true, &c->role, err);
	aws_buf_free(&form);
	return rc;
}

int
aws_current_credentials(aws_client *c, const aws_credentials **out, aws_error *err)
{
	if (c->cfg.role_arn)
	{
		if (expiring(c, &c->role) && aws_assume_role(c, err) != 0)
			return -1;
		*out = &c->role;
		return 0;
	}
	if (aws_resolve_base_credentials(c, err) != 0)
		return -1;
	*out = &c->base;
	return 0;
}

int
aws_client_check_credentials(aws_client *c, aws_error *err)
{
	const aws_credentials *creds;

	memset(err, 0, sizeof(*err));
	return aws_current_credentials(c, &creds, err);
}
