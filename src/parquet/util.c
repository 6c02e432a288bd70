/*
 * util.c — allocator, byte buffers, RLE / bit-packing hybrid, Thrift compact writer.
 */
#include "parquet/pq_internal.h"

#include <stdlib.h>
#include <string.h>

static void *
libc_malloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size);
}

static void *
libc_realloc(void *ctx, void *p, size_t size)
{
	(void) ctx;
	return realloc(p, size);
}

static void
libc_free(void *ctx, void *p)
{
	(void) ctx;
	free(p);
}

const pq_allocator pq_libc_allocator = {libc_malloc, libc_realloc, libc_free, NULL};

void *
pq_alloc(const pq_allocator *a, size_t size)
{
	return a->malloc_fn(a->ctx, size ? size : 1);
}

void *
pq_realloc(const pq_allocator *a, void *p, size_t size)
{
	if (p == NULL)
		return pq_alloc(a, size);
	return a->realloc_fn(a->ctx, p, size ? size : 1);
}

void
pq_free(const pq_allocator *a, void *p)
{
	if (p)
		a->free_fn(a->ctx, p);
}

int
pq_grow(const pq_allocator *a, void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t		ncap;
	void	   *p;

	if (need <= *cap)
		return PQ_OK;
	ncap = *cap ? *cap : 8;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		return PQ_ERR_LIMIT;
	p = pq_realloc(a, *arr, ncap * elem);
	if (p == NULL)
		return PQ_ERR_NOMEM;
	*arr = p;
	*cap = ncap;
	return PQ_OK;
}

/* ---- byte buffers ---- */

void
pqb_init(pq_bytes *b, const pq_allocator *alloc)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->alloc = alloc;
}

void
pqb_free(pq_bytes *b)
{
	pq_free(b->alloc, b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
pqb_reserve(pq_bytes *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len)
		return PQ_ERR_LIMIT;
	return pq_grow(b->alloc, (void **) &b->data, &b->cap, b->len + extra, 1);
}

int
pqb_append(pq_bytes *b, const void *data, size_t len)
{
	int			rc = pqb_reserve(b, len);

	if (rc != PQ_OK)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return PQ_OK;
}

int
pqb_u8(pq_bytes *b, uint8_t v)
{
	return pqb_append(b, &v, 1);
}

int
pqb_u32le(pq_bytes *b, uint32_t v)
{
	uint8_t		x[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};

	return pqb_append(b, x, 4);
}

int
pqb_uleb(pq_bytes *b, uint64_t v)
{
	uint8_t		x[10];
	int			n = 0;

	do
	{
		x[n] = (uint8_t) (v & 0x7f);
		v >>= 7;
		if (v)
			x[n] |= 0x80;
		n++;
	} while (v);
	return pqb_append(b, x, (size_t) n);
}

/* ---- RLE / bit-packing hybrid ---- */

int
pq_bit_width(uint64_t max_value)
{
	int			w = 0;

	while (max_value)
	{
		w++;
		max_value >>= 1;
	}
	return w;
}

int
pq_bitpack(pq_bytes *out, const uint32_t *values, size_t n, int width)
{
	size_t		nbytes = (n * (size_t) width + 7) / 8;
	uint8_t    *p;
	uint64_t	acc = 0;
	int			bits = 0;
	int			rc = pqb_reserve(out, nbytes);

	if (rc != PQ_OK)
		return rc;
	p = out->data + out->len;
	for (size_t i = 0; i < n; i++)
	{
		uint64_t	v = width == 32 ? values[i] : (values[i] & ((1u << width) - 1));

		acc |= v << bits;
		bits += width;
		while (bits >= 8)
		{
			*p++ = (uint8_t) acc;
			acc >>= 8;
			bits -= 8;
		}
	}
	if (bits > 0)
		*p++ = (uint8_t) acc;
	out->len += nbytes;
	return PQ_OK;
}

void
pq_rle_init(pq_rle *e, pq_bytes *out, int width, const pq_allocator *alloc)
{
	e->out = out;
	e->width = width;
	e->run_value = 0;
	e->run_count = 0;
	e->lit = NULL;
	e->nlit = e->litcap = 0;
	e->alloc = alloc;
	e->err = PQ_OK;
}

static void
rle_emit_literals(pq_rle *e)
{
	size_t		groups = (e->nlit + 7) / 8;

	if (e->nlit == 0 || e->err)
		return;
	/* pad the last group with zeros (only ever at the end of the data) */
	while (e->nlit % 8)
		e->lit[e->nlit++] = 0;
	if ((e->err = pqb_uleb(e->out, ((uint64_t) groups << 1) | 1)) == PQ_OK)
		e->err = pq_bitpack(e->out, e->lit, e->nlit, e->width);
	e->nlit = 0;
}

static void
rle_emit_repeat(pq_rle *e, uint32_t value, uint64_t count)
{
	int			vbytes = (e->width + 7) / 8;

	if (e->err)
		return;
	if ((e->err = pqb_uleb(e->out, count << 1)) != PQ_OK)
		return;
	for (int i = 0; i < vbytes && !e->err; i++)
		e->err = pqb_u8(e->out, (uint8_t) (value >> (8 * i)));
}

static void
rle_add_literals(pq_rle *e, uint32_t value, uint64_t count)
{
	if (e->err)
		return;
	if ((e->err = pq_grow(e->alloc, (void **) &e->lit, &e->litcap,
						  e->nlit + (size_t) count + 8, sizeof(uint32_t))) != PQ_OK)
		return;
	for (uint64_t i = 0; i < count; i++)
		e->lit[e->nlit++] = value;
}

/* Place a complete run of equal values: top up a partial literal group, then RLE. */
static void
rle_place_run(pq_rle *e, uint32_t value, uint64_t count)
{
	uint64_t	fill = (8 - e->nlit % 8) % 8;

	if (count < 8 + fill)
	{
		rle_add_literals(e, value, count);
		return;
	}
	rle_add_literals(e, value, fill);
	rle_emit_literals(e);
	rle_emit_repeat(e, value, count - fill);
}

void
pq_rle_put(pq_rle *e, uint32_t value, uint64_t count)
{
	if (count == 0)
		return;
	if (e->run_count && e->run_value == value)
	{
		e->run_count += count;
		return;
	}
	if (e->run_count)
		rle_place_run(e, e->run_value, e->run_count);
	e->run_value = value;
	e->run_count = count;
}

int
pq_rle_finish(pq_rle *e)
{
	if (e->run_count)
		rle_place_run(e, e->run_value, e->run_count);
	e->run_count = 0;
	rle_emit_literals(e);
	pq_free(e->alloc, e->lit);
	e->lit = NULL;
	e->nlit = e->litcap = 0;
	return e->err;
}

/* ---- Thrift compact protocol ---- */

uint64_t
pq_zigzag64(int64_t v)
{
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

void
pq_thrift_init(pq_thrift *t, pq_bytes *out)
{
	t->out = out;
	t->depth = 0;
	t->last[0] = 0;
	t->err = PQ_OK;
}

static void
thrift_byte(pq_thrift *t, uint8_t b)
{
	if (!t->err)
		t->err = pqb_u8(t->out, b);
}

static void
thrift_varint(pq_thrift *t, uint64_t v)
{
	if (!t->err)
		t->err = pqb_uleb(t->out, v);
}

void
pq_thrift_struct_begin(pq_thrift *t)
{
	if (t->depth + 1 >= PQ_THRIFT_MAX_DEPTH)
	{
		t->err = PQ_ERR_LIMIT;
		return;
	}
	t->last[++t->depth] = 0;
}

void
pq_thrift_struct_end(pq_thrift *t)
{
	thrift_byte(t, 0);
	if (t->depth > 0)
		t->depth--;
}

void
pq_thrift_field(pq_thrift *t, int16_t id, int type)
{
	int			delta = id - t->last[t->depth];

	if (delta > 0 && delta <= 15)
		thrift_byte(t, (uint8_t) ((delta << 4) | type));
	else
	{
		thrift_byte(t, (uint8_t) type);
		thrift_varint(t, pq_zigzag64(id));
	}
	t->last[t->depth] = id;
}

void
pq_thrift_i32(pq_thrift *t, int16_t id, int32_t v)
{
	pq_thrift_field(t, id, PQ_T_I32);
	thrift_varint(t, pq_zigzag64(v));
}

void
pq_thrift_i64(pq_thrift *t, int16_t id, int64_t v)
{
	pq_thrift_field(t, id, PQ_T_I64);
	thrift_varint(t, pq_zigzag64(v));
}

void
pq_thrift_i8(pq_thrift *t, int16_t id, int8_t v)
{
	pq_thrift_field(t, id, PQ_T_BYTE);
	thrift_byte(t, (uint8_t) v);
}

void
pq_thrift_bool(pq_thrift *t, int16_t id, bool v)
{
	pq_thrift_field(t, id, v ? PQ_T_BOOL_TRUE : PQ_T_BOOL_FALSE);
}

void
pq_thrift_binary(pq_thrift *t, int16_t id, const void *data, size_t len)
{
	pq_thrift_field(t, id, PQ_T_BINARY);
	thrift_varint(t, len);
	if (!t->err)
		t->err = pqb_append(t->out, data, len);
}

void
pq_thrift_string(pq_thrift *t, int16_t id, const char *s)
{
	pq_thrift_binary(t, id, s, strlen(s));
}

void
pq_thrift_list_begin(pq_thrift *t, int16_t id, int elem_type, uint32_t size)
{
	pq_thrift_field(t, id, PQ_T_LIST);
	if (size < 15)
		thrift_byte(t, (uint8_t) ((size << 4) | (uint32_t) elem_type));
	else
	{
		thrift_byte(t, (uint8_t) (0xf0 | elem_type));
		thrift_varint(t, size);
	}
}

void
pq_thrift_elem_i32(pq_thrift *t, int32_t v)
{
	thrift_varint(t, pq_zigzag64(v));
}

void
pq_thrift_elem_string(pq_thrift *t, const char *s, size_t len)
{
	thrift_varint(t, len);
	if (!t->err)
		t->err = pqb_append(t->out, s, len);
}

/* ---- statistics ordering ---- */

int
pq_compare_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;
	int			c = n ? memcmp(a, b, n) : 0;	/* memcmp compares as unsigned char */

	if (c != 0)
		return c < 0 ? -1 : 1;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}
