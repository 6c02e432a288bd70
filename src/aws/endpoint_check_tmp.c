/*
 * endpoint_check_tmp.c — TEMPORARY stand-in for aws_endpoint_check until the AWS client's
 * own (with its unit tests) lands; removed then. https AWS host names, or scheme://host[:port]
 * entries of an allow-list (no port: any port).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

int			aws_endpoint_check(const char *url, const char *allowed, char *why, size_t whylen);

static int
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t		n = strlen(suffix);

	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

int
aws_endpoint_check(const char *url, const char *allowed, char *why, size_t whylen)
{
	const char *p = strstr(url, "://");
	const char *host;
	size_t		hostlen;
	size_t		schemelen;
	const char *a;

	if (p == NULL)
	{
		snprintf(why, whylen, "it is not a URL");
		return -1;
	}
	schemelen = (size_t) (p - url);
	host = p + 3;
	hostlen = strcspn(host, ":/?#@");
	if (host[hostlen] == '@' || hostlen == 0)
	{
		snprintf(why, whylen, "it has no plain host name");
		return -1;
	}
	if (schemelen == 5 && strncasecmp(url, "https", 5) == 0 && host[hostlen] != ':' &&
		(ends_with(host, hostlen, ".amazonaws.com") || ends_with(host, hostlen, ".amazonaws.com.cn")))
		return 0;
	for (a = allowed; a && *a;)
	{
		size_t		n = strcspn(a, ",");
		const char *e = a;
		size_t		elen = n;

		while (elen > 0 && (*e == ' '))
			e++, elen--;
		while (elen > 0 && e[elen - 1] == ' ')
			elen--;
		if (elen > 0 && strncasecmp(e, url, elen) == 0 &&
			(url[elen] == '\0' || url[elen] == '/' || (url[elen] == ':' && memchr(e + schemelen + 3, ':', elen - schemelen - 3) == NULL)))
			return 0;
		a += n;
		if (*a == ',')
			a++;
	}
	snprintf(why, whylen, "it is neither one of AWS's own https endpoints nor listed in securitylake.allowed_endpoints");
	return -1;
}
