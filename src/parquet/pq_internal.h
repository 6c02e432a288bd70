/*
 * pq_internal.h — private helpers of the Parquet writer: allocator, growable byte
 * buffers, the RLE / bit-packing hybrid encoder and the Thrift compact-protocol writer.
 * Exposed here (not in parquet.h) so the unit tests can check them byte for byte.
 */
#ifndef SECURITYLAKE_PQ_INTERNAL_H
#define SECURITYLAKE_PQ_INTERNAL_H

#include "parquet/parquet.h"

/* ---- allocation ---- */
extern const pq_allocator pq_libc_allocator;
void	   *pq_alloc(const pq_allocator *a, size_t size);
void	   *pq_realloc(const pq_allocator *a, void *p, size_t size);
void		pq_free(const pq_allocator *a, void *p);
/* Grow *arr (of elem-byte items, capacity *cap) to hold at least need items. */
int			pq_grow(const pq_allocator *a, void **arr, size_t *cap, size_t need, size_t elem);

/* ---- byte buffers ---- */
typedef struct pq_bytes
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	const pq_allocator *alloc;
} pq_bytes;

void		pqb_init(pq_bytes *b, const pq_allocator *alloc);
void		pqb_free(pq_bytes *b);
int			pqb_reserve(pq_bytes *b, size_t extra);
int			pqb_append(pq_bytes *b, const void *data, size_t len);
int			pqb_u8(pq_bytes *b, uint8_t v);
int			pqb_u32le(pq_bytes *b, uint32_t v);
int			pqb_uleb(pq_bytes *b, uint64_t v);

/* ---- RLE / bit-packing hybrid ---- */
/*
 * Values are given as runs (value, count); equal neighbours are merged. Runs of 8 or
 * more equal values become RLE runs, the rest bit-packed groups of 8 (the last group
 * zero-padded). Output has no length prefix: callers add the 4-byte length (levels in
 * data page v1) or the bit-width byte (dictionary indices).
 */
typedef struct pq_rle
{
	pq_bytes   *out;
	int			width;			/* 0..32 */
	uint32_t	run_value;
	uint64_t	run_count;
	uint32_t   *lit;			/* literals waiting to be bit-packed */
	size_t		nlit;
	size_t		litcap;
	const pq_allocator *alloc;
	int			err;
} pq_rle;

void		pq_rle_init(pq_rle *e, pq_bytes *out, int width, const pq_allocator *alloc);
void		pq_rle_put(pq_rle *e, uint32_t value, uint64_t count);
int			pq_rle_finish(pq_rle *e);	/* flushes; frees scratch; returns status */
int			pq_bit_width(uint64_t max_value);
/* Bit-pack n values LSB first into out (appends ceil(n*width/8) bytes). */
int			pq_bitpack(pq_bytes *out, const uint32_t *values, size_t n, int width);

/* ---- Thrift compact protocol ---- */
enum
{
	PQ_T_BOOL_TRUE = 1, PQ_T_BOOL_FALSE = 2, PQ_T_BYTE = 3, PQ_T_I16 = 4, PQ_T_I32 = 5,
	PQ_T_I64 = 6, PQ_T_DOUBLE = 7, PQ_T_BINARY = 8, PQ_T_LIST = 9, PQ_T_SET = 10,
	PQ_T_MAP = 11, PQ_T_STRUCT = 12
};

#define PQ_THRIFT_MAX_DEPTH 32

typedef struct pq_thrift
{
	pq_bytes   *out;
	int16_t		last[PQ_THRIFT_MAX_DEPTH];
	int			depth;
	int			err;
} pq_thrift;

void		pq_thrift_init(pq_thrift *t, pq_bytes *out);
void		pq_thrift_struct_begin(pq_thrift *t);
void		pq_thrift_struct_end(pq_thrift *t);	/* writes the stop byte */
void		pq_thrift_field(pq_thrift *t, int16_t id, int type);	/* field header */
void		pq_thrift_i32(pq_thrift *t, int16_t id, int32_t v);
void		pq_thrift_i64(pq_thrift *t, int16_t id, int64_t v);
void		pq_thrift_i8(pq_thrift *t, int16_t id, int8_t v);
void		pq_thrift_bool(pq_thrift *t, int16_t id, bool v);
void		pq_thrift_binary(pq_thrift *t, int16_t id, const void *data, size_t len);
void		pq_thrift_string(pq_thrift *t, int16_t id, const char *s);
void		pq_thrift_list_begin(pq_thrift *t, int16_t id, int elem_type, uint32_t size);
/* Elements of lists (no field header). */
void		pq_thrift_elem_i32(pq_thrift *t, int32_t v);
void		pq_thrift_elem_string(pq_thrift *t, const char *s, size_t len);
uint64_t	pq_zigzag64(int64_t v);

/* ---- statistics ordering ---- */
/* Unsigned byte-wise comparison (Parquet's order for BYTE_ARRAY / STRING). */
int			pq_compare_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
