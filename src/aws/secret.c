/*
 * secret.c — memory for secrets: secret access keys, session tokens, signing keys.
 *
 * Each secret gets its own page-aligned anonymous mapping, marked MADV_DONTDUMP so that a
 * core dump of the process (a crashed PostgreSQL backend, say) does not carry it, and wiped
 * with OPENSSL_cleanse before it is unmapped (a plain memset before free may be optimised
 * away, and freed heap pages are reused by anything). A small header before the bytes holds
 * the mapping's length and a tag telling guarded blocks from anything else.
 */
#define _DEFAULT_SOURCE			/* MADV_DONTDUMP, MAP_ANONYMOUS */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "aws/aws_internal.h"

#define SECRET_TAG UINT64_C(0x5345435245544b59)	/* "SECRETKY" */

typedef struct secret_header
{
	uint64_t	tag;
	size_t		map_len;
	bool		dontdump;		/* madvise succeeded */
	char		pad[7];
} secret_header;

void *
aws_secret_alloc(size_t len)
{
	long		page = sysconf(_SC_PAGESIZE);
	size_t		psize = page > 0 ? (size_t) page : 4096;
	size_t		need = sizeof(secret_header) + len;
	size_t		map_len = (need + psize - 1) / psize * psize;
	secret_header *h;

	if (len > SIZE_MAX / 2)
		return NULL;
	h = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	h->tag = SECRET_TAG;
	h->map_len = map_len;
#ifdef MADV_DONTDUMP
	h->dontdump = madvise(h, map_len, MADV_DONTDUMP) == 0;
#else
	h->dontdump = false;
#endif
	return h + 1;
}

void
aws_secret_free(void *p)
{
	secret_header *h;
	size_t		map_len;

	if (p == NULL)
		return;
	h = (secret_header *) p - 1;
	map_len = h->map_len;
	OPENSSL_cleanse(h, map_len);
	munmap(h, map_len);
}

char *
aws_secret_strdup(const char *s)
{
	size_t		n;
	char	   *p;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	p = aws_secret_alloc(n + 1);
	if (p)
		memcpy(p, s, n + 1);
	return p;
}

bool
aws_secret_is_guarded(const void *p)
{
	const secret_header *h;

	if (p == NULL)
		return false;
	h = (const secret_header *) p - 1;
	return ((uintptr_t) h % 4096) == 0 && h->tag == SECRET_TAG && h->dontdump;
}
