/*
 * sigv4.c — AWS Signature Version 4 (header form), written by hand: curl 7.88's built-in
 * signer omits x-amz-content-sha256, which S3 requires.
 *
 * Canonical request (AWS "Create a canonical request for Signature Version 4"):
 *   METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
 * The URI is taken as given: the caller encodes each path segment once and keeps '/'
 * (S3's rule: no normalisation, no double encoding). Query parameters are decoded and
 * re-encoded strictly, then sorted by name and value. Header names are lower-cased,
 * values trimmed with inner runs of spaces collapsed, duplicates joined with ','.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "aws/aws_internal.h"

/* ---- buffers -------------------------------------------------------------------------- */
int
aws_buf_append(aws_buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
aws_buf_appendf(aws_buf *b, const char *fmt,...)
{
	va_list		ap;
	char		small[512];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t) n < sizeof(small))
		return aws_buf_append(b, small, (size_t) n);
	{
		char	   *big = malloc((size_t) n + 1);
		int			rc;

		if (big == NULL)
			return -1;
		va_start(ap, fmt);
		vsnprintf(big, (size_t) n + 1, fmt, ap);
		va_end(ap);
		rc = aws_buf_append(b, big, (size_t) n);
		free(big);
		return rc;
	}
}

void
aws_buf_free(aws_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
aws_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

char *
aws_strdup(const char *s)
{
	size_t		n;
	char	   *p;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	p = malloc(n + 1);
	if (p)
		memcpy(p, s, n + 1);
	return p;
}

/* ---- hashes --------------------------------------------------------------------------- */
static void
to_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void
aws_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	to_hex(md, sizeof(md), out);
}

void
aws_sha256_base64(const void *data, size_t len, char out[45])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	EVP_EncodeBlock((unsigned char *) out, md, SHA256_DIGEST_LENGTH);
}

void
aws_md5_base64(const void *data, size_t len, char out[25])
{
	unsigned char md[16];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *) out, md, 16);
}

static void
hmac_sha256(const void *key, size_t keylen, const char *msg, size_t msglen, unsigned char out[32])
{
	unsigned int outlen = 32;

	HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg, msglen, out, &outlen);
}

void
aws_format_amz_date(time_t t, char out[17])
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- encoding ------------------------------------------------------------------------- */
/* RFC 3986's unreserved set, exactly: A-Z a-z 0-9 - . _ ~ (ASCII, whatever the locale). */
static bool
unreserved(unsigned char c)
{
	return aws_is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *
aws_uri_encode(const char *s, size_t len, bool keep_slash)
{
	aws_buf		b = {0};
	size_t		i;

	aws_buf_append(&b, "", 0);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (unreserved(c) || (keep_slash && c == '/'))
			aws_buf_append(&b, &s[i], 1);
		else
			aws_buf_appendf(&b, "%%%02X", c);
	}
	return b.data;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..len) into a new string ('+' stays '+': SigV4 is not form encoding). */
static char *
uri_decode(const char *s, size_t len)
{
	char	   *out = malloc(len + 1);
	size_t		i,
				o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++)
	{
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0)
		{
			out[o++] = (char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* ---- canonical query ------------------------------------------------------------------ */
typedef struct qparam
{
	char	   *name;
	char	   *value;
} qparam;

static int
compare_params(const void *a, const void *b)
{
	const qparam *x = a;
	const qparam *y = b;
	int			c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static char *
canonical_query(const char *query)
{
	qparam	   *params = NULL;
	size_t		n = 0,
				cap = 0;
	const char *p = query;
	aws_buf		b = {0};
	size_t		i;

	aws_buf_append(&b, "", 0);
	while (p && *p)
	{
		const char *amp = strchr(p, '&');
		size_t		plen = amp ? (size_t) (amp - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		char	   *name,
				   *value;

		if (plen > 0)
		{
			name = uri_decode(p, eq ? (size_t) (eq - p) : plen);
			value = eq ? uri_decode(eq + 1, plen - (size_t) (eq - p) - 1) : aws_strdup("");
			if (n == cap)
			{
				cap = cap ? cap * 2 : 8;
				params = realloc(params, cap * sizeof(qparam));
			}
			params[n].name = aws_uri_encode(name, strlen(name), false);
			params[n].value = aws_uri_encode(value, strlen(value), false);
			n++;
			free(name);
			free(value);
		}
		p = amp ? amp + 1 : NULL;
	}
	qsort(params, n, sizeof(qparam), compare_params);
	for (i = 0; i < n; i++)
	{
		aws_buf_appendf(&b, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
	return b.data;
}

/* ---- canonical headers ---------------------------------------------------------------- */
typedef struct cheader
{
	char	   *name;
	aws_buf		value;
} cheader;

static int
compare_headers(const void *a, const void *b)
{
	return strcmp(((const cheader *) a)->name, ((const cheader *) b)->name);
}

/* Trim, and collapse runs of spaces/tabs to one space (outside quotes, as AWS says). */
static void
append_trimmed(aws_buf *b, const char *v)
{
	bool		space = false;
	bool		started = false;

	for (; *v; v++)
	{
		if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		{
			space = started;
			continue;
		}
		if (space)
			aws_buf_append(b, " ", 1);
		space = false;
		started = true;
		aws_buf_append(b, v, 1);
	}
	if (b->data == NULL)
		aws_buf_append(b, "", 0);
}

/*
 * The signing key chain: kSecret = "AWS4" + secret, kDate, kRegion, kService, kSigning,
 * then the signature of the string to sign. Every intermediate key is a secret (kSigning
 * signs anything for a day): they live in one guarded block, wiped when done.
 */
typedef struct signing_keys
{
	unsigned char k[4][32];
	char		secret[];		/* "AWS4" + secret access key */
} signing_keys;

static int
derive_signature(const sigv4_request *req, const char *date, const aws_buf *sts, unsigned char sig[32])
{
	size_t		slen = strlen(req->secret_access_key);
	signing_keys *sk = aws_secret_alloc(sizeof(signing_keys) + slen + 5);

	if (sk == NULL)
		return -1;
	memcpy(sk->secret, "AWS4", 4);
	memcpy(sk->secret + 4, req->secret_access_key, slen + 1);
	hmac_sha256(sk->secret, slen + 4, date, strlen(date), sk->k[0]);
	hmac_sha256(sk->k[0], 32, req->region, strlen(req->region), sk->k[1]);
	hmac_sha256(sk->k[1], 32, req->service, strlen(req->service), sk->k[2]);
	hmac_sha256(sk->k[2], 32, "aws4_request", 12, sk->k[3]);
	hmac_sha256(sk->k[3], 32, sts->data, sts->len, sig);
	aws_secret_free(sk);
	return 0;
}

int
aws_sigv4_sign(const sigv4_request *req, sigv4_result *out)
{
	cheader    *hs = calloc((size_t) req->num_headers + 1, sizeof(cheader));
	int			n = 0;
	int			i;
	aws_buf		canon = {0};
	aws_buf		signed_headers = {0};
	aws_buf		sts = {0};
	aws_buf		auth = {0};
	char	   *query;
	char		hash[65];
	char		date[9];
	unsigned char sig[32];

	memset(out, 0, sizeof(*out));
	if (hs == NULL)
		return -1;
	for (i = 0; i < req->num_headers; i++)
	{
		char	   *lower = aws_strdup(req->headers[i].name);
		char	   *c;
		int			j;

		for (c = lower; *c; c++)
			*c = (char) aws_to_lower((unsigned char) *c);
		for (j = 0; j < n && strcmp(hs[j].name, lower) != 0; j++)
			;
		if (j == n)
		{
			hs[n].name = lower;
			append_trimmed(&hs[n].value, req->headers[i].value);
			n++;
		}
		else
		{
			aws_buf_append(&hs[j].value, ",", 1);
			append_trimmed(&hs[j].value, req->headers[i].value);
			free(lower);
		}
	}
	qsort(hs, (size_t) n, sizeof(cheader), compare_headers);

	query = canonical_query(req->query);
	aws_buf_appendf(&canon, "%s\n%s\n%s\n", req->method, req->canonical_uri, query);
	free(query);
	aws_buf_append(&signed_headers, "", 0);
	for (i = 0; i < n; i++)
	{
		aws_buf_appendf(&canon, "%s:%s\n", hs[i].name, hs[i].value.data);
		aws_buf_appendf(&signed_headers, "%s%s", i ? ";" : "", hs[i].name);
		free(hs[i].name);
		aws_buf_free(&hs[i].value);
	}
	free(hs);
	aws_buf_appendf(&canon, "\n%s\n%s", signed_headers.data, req->payload_hash);

	memcpy(date, req->amz_date, 8);
	date[8] = '\0';
	aws_sha256_hex(canon.data, canon.len, hash);
	aws_buf_appendf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
					req->amz_date, date, req->region, req->service, hash);

	if (derive_signature(req, date, &sts, sig) != 0)
	{
		aws_buf_free(&sts);
		aws_buf_free(&canon);
		aws_buf_free(&signed_headers);
		return -1;
	}
	to_hex(sig, 32, out->signature);

	aws_buf_appendf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
					req->access_key_id, date, req->region, req->service, signed_headers.data, out->signature);
	out->canonical_request = canon.data;
	out->string_to_sign = sts.data;
	out->signed_headers = signed_headers.data;
	out->authorization = auth.data;
	return (out->canonical_request && out->string_to_sign && out->authorization) ? 0 : -1;
}

void
aws_sigv4_result_free(sigv4_result *r)
{
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->signed_headers);
	free(r->authorization);
	memset(r, 0, sizeof(*r));
}
