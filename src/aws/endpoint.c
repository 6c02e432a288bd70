/*
 * endpoint.c — the endpoint allow-list check (pure: no network, no locale).
 *
 * An endpoint is accepted when it is https to one of AWS's own S3, STS or Security Lake
 * host names, or when its scheme://host[:port] is in the superuser's allow-list. The parse
 * is deliberately strict: anything that could make the host we check differ from the host
 * libcurl connects to (userinfo, percent-encoding, IPv6 brackets, a trailing dot, a
 * backslash, spaces or control characters) is refused outright.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_internal.h"

typedef struct url_parts
{
	char		scheme[8];		/* lower-cased */
	char		host[256];		/* lower-cased */
	long		port;			/* -1: none given */
	const char *rest;			/* path, query and fragment as written */
} url_parts;

static int
refuse(char *why, size_t whylen, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static int
refuse(char *why, size_t whylen, const char *fmt,...)
{
	va_list		ap;

	if (why && whylen > 0)
	{
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool
host_char(int c)
{
	return aws_is_alnum(c) || c == '-' || c == '.';
}

/* scheme "://" host [":" port]; 0 or -1 with the reason. */
static int
parse_scheme(const char **p, url_parts *u, char *why, size_t whylen)
{
	size_t		n = 0;

	while (aws_is_alnum((unsigned char) (*p)[n]) && n < sizeof(u->scheme) - 1)
	{
		u->scheme[n] = (char) aws_to_lower((unsigned char) (*p)[n]);
		n++;
	}
	u->scheme[n] = '\0';
	if (strncmp(*p + n, "://", 3) != 0)
		return refuse(why, whylen, "the endpoint is not a URL of the form scheme://host[:port].");
	if (strcmp(u->scheme, "https") != 0 && strcmp(u->scheme, "http") != 0)
		return refuse(why, whylen, "the endpoint's scheme must be http or https.");
	*p += n + 3;
	return 0;
}

static int
parse_authority(const char *a, size_t len, url_parts *u, char *why, size_t whylen)
{
	size_t		i;
	size_t		hlen = len;
	const char *colon = memchr(a, ':', len);

	if (memchr(a, '@', len))
		return refuse(why, whylen, "the endpoint must not carry userinfo (user@host).");
	if (memchr(a, '[', len) || memchr(a, ']', len))
		return refuse(why, whylen, "IPv6 literal hosts are not accepted in endpoints.");
	if (memchr(a, '%', len))
		return refuse(why, whylen, "percent-encoded host names are not accepted.");
	u->port = -1;
	if (colon)
	{
		char	   *end;

		hlen = (size_t) (colon - a);
		if (colon + 1 == a + len || len - hlen - 1 > 5)
			return refuse(why, whylen, "the endpoint's port is not a number from 1 to 65535.");
		for (i = hlen + 1; i < len; i++)
			if (!aws_is_digit((unsigned char) a[i]))
				return refuse(why, whylen, "the endpoint's port is not a number from 1 to 65535.");
		u->port = strtol(colon + 1, &end, 10);
		if (u->port < 1 || u->port > 65535)
			return refuse(why, whylen, "the endpoint's port is not a number from 1 to 65535.");
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		return refuse(why, whylen, "the endpoint has no host, or one too long.");
	for (i = 0; i < hlen; i++)
	{
		if (!host_char((unsigned char) a[i]))
			return refuse(why, whylen, "the endpoint's host has a character other than letters, digits, '-' and '.'.");
		u->host[i] = (char) aws_to_lower((unsigned char) a[i]);
	}
	u->host[hlen] = '\0';
	if (u->host[0] == '.' || u->host[hlen - 1] == '.' || strstr(u->host, ".."))
		return refuse(why, whylen, "the endpoint's host must not begin or end with a dot or hold empty labels.");
	return 0;
}

static int
parse_url(const char *url, url_parts *u, char *why, size_t whylen)
{
	const char *p = url;
	size_t		alen;

	memset(u, 0, sizeof(*u));
	for (const char *q = url; *q; q++)
		if ((unsigned char) *q <= 0x20 || (unsigned char) *q >= 0x7f || *q == '\\')
			return refuse(why, whylen, "the endpoint holds a space, a control or non-ASCII character, or a backslash.");
	if (parse_scheme(&p, u, why, whylen) != 0)
		return -1;
	alen = strcspn(p, "/?#");
	if (parse_authority(p, alen, u, why, whylen) != 0)
		return -1;
	u->rest = p + alen;
	return 0;
}

/* "<region>" is [a-z]{2}(-[a-z]+)+-[0-9]+ (us-east-1, us-gov-west-1, cn-north-1, ...). */
static bool
is_region(const char *s, size_t n)
{
	size_t		i = 0;
	int			dashes = 0;

	if (n < 4 || n > 32 || !aws_is_lower((unsigned char) s[0]) || !aws_is_lower((unsigned char) s[1]))
		return false;
	for (i = 2; i < n; i++)
	{
		if (s[i] == '-')
		{
			if (s[i - 1] == '-')
				return false;
			dashes++;
		}
		else if (!aws_is_lower((unsigned char) s[i]) && !aws_is_digit((unsigned char) s[i]))
			return false;
	}
	/* ends in -<digits> */
	for (i = n; i > 0 && aws_is_digit((unsigned char) s[i - 1]); i--)
		;
	return dashes >= 2 && i < n && i > 0 && s[i - 1] == '-';
}

/* HOST is PREFIX + region + SUFFIX? */
static bool
regional(const char *host, const char *prefix, const char *suffix)
{
	size_t		hl = strlen(host);
	size_t		pl = strlen(prefix);
	size_t		sl = strlen(suffix);

	return hl > pl + sl && strncmp(host, prefix, pl) == 0 && strcmp(host + hl - sl, suffix) == 0 &&
		is_region(host + pl, hl - pl - sl);
}

static bool
aws_host(const char *host)
{
	static const char *const prefixes[] = {"s3.", "s3.dualstack.", "s3-fips.", "s3-fips.dualstack.", "sts.", "securitylake.", NULL};
	static const char *const suffixes[] = {".amazonaws.com", ".amazonaws.com.cn", NULL};
	int			i,
				j;

	if (strcmp(host, "s3.amazonaws.com") == 0 || strcmp(host, "sts.amazonaws.com") == 0)
		return true;
	for (i = 0; prefixes[i]; i++)
		for (j = 0; suffixes[j]; j++)
			if (regional(host, prefixes[i], suffixes[j]))
				return true;
	return false;
}

static long
effective_port(const url_parts *u)
{
	if (u->port > 0)
		return u->port;
	return strcmp(u->scheme, "https") == 0 ? 443 : 80;
}

/* Is U's scheme://host[:port] one of the comma-separated entries of ALLOWED? */
static bool
in_allow_list(const url_parts *u, const char *allowed)
{
	const char *p = allowed;

	while (p && *p)
	{
		size_t		n = strcspn(p, ",");
		char		entry[512];
		size_t		a = 0;
		url_parts	e;

		while (a < n && p[a] == ' ')
			a++;
		while (n > a && p[n - 1] == ' ')
			n--;
		if (n > a && n - a < sizeof(entry))
		{
			memcpy(entry, p + a, n - a);
			entry[n - a] = '\0';
			if (parse_url(entry, &e, NULL, 0) == 0 && (e.rest[0] == '\0' || strcmp(e.rest, "/") == 0) &&
				strcmp(e.scheme, u->scheme) == 0 && strcmp(e.host, u->host) == 0 &&
				(e.port < 0 || e.port == effective_port(u)))
				return true;
		}
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return false;
}

int
aws_endpoint_check(const char *url, const char *allowed, char *why, size_t whylen)
{
	url_parts	u;

	if (why && whylen > 0)
		why[0] = '\0';
	if (url == NULL || *url == '\0')
		return refuse(why, whylen, "the endpoint is empty.");
	if (parse_url(url, &u, why, whylen) != 0)
		return -1;
	if (allowed && in_allow_list(&u, allowed))
		return 0;
	if (!aws_host(u.host))
		return refuse(why, whylen, "the endpoint's host %s is neither an AWS S3, STS or Security Lake endpoint nor in the allow-list.", u.host);
	if (strcmp(u.scheme, "https") != 0)
		return refuse(why, whylen, "AWS endpoints are reached over https only.");
	if (u.port > 0 && u.port != 443)
		return refuse(why, whylen, "AWS endpoints use port 443, not %ld.", u.port);
	if (u.rest[0] != '\0' && strcmp(u.rest, "/") != 0)
		return refuse(why, whylen, "an AWS endpoint has no path, query or fragment.");
	return 0;
}
