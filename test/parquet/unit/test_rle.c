/*
 * test_rle.c — the RLE / bit-packing hybrid and plain bit packing: exact bytes for
 * known inputs, and round trips through an independent decoder for every width 0..32
 * and runs around the 8-value boundary.
 */
#include "parquet/pq_internal.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t
read_uleb(const uint8_t *p, size_t *pos)
{
	uint64_t	v = 0;
	int			shift = 0;

	while (p[*pos] & 0x80)
	{
		v |= (uint64_t) (p[(*pos)++] & 0x7f) << shift;
		shift += 7;
	}
	v |= (uint64_t) p[(*pos)++] << shift;
	return v;
}

/* Decode N values of WIDTH from the hybrid stream; returns 0 on success. */
static int
decode_hybrid(const uint8_t *p, size_t len, int width, uint32_t *out, size_t n)
{
	size_t		pos = 0,
				got = 0;

	while (got < n)
	{
		uint64_t	h;

		if (pos >= len)
			return -1;
		h = read_uleb(p, &pos);
		if (h & 1)
		{
			size_t		count = (size_t) (h >> 1) * 8;
			uint64_t	bitpos = 0;

			for (size_t i = 0; i < count; i++)
			{
				uint64_t	v = 0;

				for (int b = 0; b < width; b++, bitpos++)
					if (p[pos + bitpos / 8] & (1u << (bitpos % 8)))
						v |= 1ull << b;
				if (got < n)
					out[got++] = (uint32_t) v;
			}
			pos += (count * (size_t) width + 7) / 8;
		}
		else
		{
			size_t		count = (size_t) (h >> 1);
			uint32_t	v = 0;

			for (int b = 0; b < (width + 7) / 8; b++)
				v |= (uint32_t) p[pos++] << (8 * b);
			for (size_t i = 0; i < count && got < n; i++)
				out[got++] = v;
		}
	}
	return pos == len ? 0 : -2;
}

static int
round_trip(const uint32_t *values, size_t n, int width, size_t *encoded_len)
{
	pq_bytes	out;
	pq_rle		e;
	uint32_t   *back = malloc(sizeof(uint32_t) * (n + 1));
	int			good;

	pqb_init(&out, &pq_libc_allocator);
	pq_rle_init(&e, &out, width, &pq_libc_allocator);
	for (size_t i = 0; i < n; i++)
		pq_rle_put(&e, values[i], 1);
	good = pq_rle_finish(&e) == PQ_OK &&
		decode_hybrid(out.data, out.len, width, back, n) == 0 &&
		memcmp(back, values, sizeof(uint32_t) * n) == 0;
	if (encoded_len)
		*encoded_len = out.len;
	pqb_free(&out);
	free(back);
	return good;
}

static void
known_bytes(void)
{
	pq_bytes	out;
	pq_rle		e;
	uint32_t	v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	const uint8_t bitpacked[] = {0x03, 0x88, 0xc6, 0xfa};	/* the spec's example */
	const uint8_t repeated[] = {0x14, 0x05};	/* 10 x 5, width 3 */
	const uint8_t wide[] = {0x10, 0x78, 0x56, 0x34, 0x12};	/* 8 x 0x12345678, width 32 */

	pqb_init(&out, &pq_libc_allocator);
	pq_rle_init(&e, &out, 3, &pq_libc_allocator);
	for (int i = 0; i < 8; i++)
		pq_rle_put(&e, v[i], 1);
	pq_rle_finish(&e);
	ok(out.len == sizeof(bitpacked) && memcmp(out.data, bitpacked, out.len) == 0,
	   "0..7 at width 3 bit-packs to the spec's bytes 03 88 c6 fa");
	out.len = 0;
	pq_rle_init(&e, &out, 3, &pq_libc_allocator);
	pq_rle_put(&e, 5, 4);
	pq_rle_put(&e, 5, 6);
	pq_rle_finish(&e);
	ok(out.len == 2 && memcmp(out.data, repeated, 2) == 0, "ten 5s at width 3 are one RLE run 14 05");
	out.len = 0;
	pq_rle_init(&e, &out, 32, &pq_libc_allocator);
	pq_rle_put(&e, 0x12345678u, 8);
	pq_rle_finish(&e);
	ok(out.len == 5 && memcmp(out.data, wide, 5) == 0, "an RLE run at width 32 stores 4 value bytes");
	out.len = 0;
	pq_rle_init(&e, &out, 0, &pq_libc_allocator);
	pq_rle_put(&e, 0, 1000);
	pq_rle_finish(&e);
	ok(out.len == 2 && out.data[0] == 0xd0 && out.data[1] == 0x0f, "1000 zeros at width 0: header only (d0 0f)");
	out.len = 0;
	pq_rle_init(&e, &out, 1, &pq_libc_allocator);
	pq_rle_put(&e, 1, 3);
	pq_rle_finish(&e);
	ok(out.len == 2 && out.data[0] == 0x03 && out.data[1] == 0x07,
	   "three 1s at width 1: one padded bit-packed group 03 07");
	pqb_free(&out);
}

static void
bitpack_bytes(void)
{
	pq_bytes	out;
	uint32_t	v[3] = {1, 0, 1};
	uint32_t	w9[2] = {0x1ff, 0x001};

	pqb_init(&out, &pq_libc_allocator);
	pq_bitpack(&out, v, 3, 1);
	ok(out.len == 1 && out.data[0] == 0x05, "bitpack 1,0,1 at width 1 is 0x05");
	out.len = 0;
	pq_bitpack(&out, w9, 2, 9);
	ok(out.len == 3 && out.data[0] == 0xff && out.data[1] == 0x03 && out.data[2] == 0x00,
	   "bitpack 0x1ff,0x001 at width 9 crosses byte boundaries LSB first");
	pqb_free(&out);
	ok(pq_bit_width(0) == 0 && pq_bit_width(1) == 1 && pq_bit_width(7) == 3 &&
	   pq_bit_width(8) == 4 && pq_bit_width(UINT32_MAX) == 32, "bit widths of 0, 1, 7, 8, 2^32-1");
}

static void
every_width(void)
{
	enum
	{
		N = 3000
	};
	uint32_t   *v = malloc(sizeof(uint32_t) * N);

	for (int width = 0; width <= 32; width++)
	{
		uint64_t	mask = width == 32 ? 0xffffffffull : ((1ull << width) - 1);
		size_t		i = 0;
		int			good = 1;

		/* mixed: random literals and runs of lengths around the 8 threshold */
		while (i < N)
		{
			size_t		run = (size_t) (next_random() % 20) + 1;
			uint32_t	val = (uint32_t) (next_random() & mask);

			if (next_random() % 3 == 0)
				run = 1;
			for (size_t k = 0; k < run && i < N; k++)
				v[i++] = (next_random() % 4 == 0 && run == 1) ? (uint32_t) (next_random() & mask) : val;
		}
		good &= round_trip(v, N, width, NULL);
		for (size_t n = 0; n <= 17 && good; n++)
			good &= round_trip(v, n, width, NULL);
		ok(good, "width %d: random runs and short inputs (0..17 values) round-trip", width);
	}
	free(v);
}

static void
run_boundaries(void)
{
	uint32_t	v[64];
	int			good = 1;

	/* a literal prefix of p values, then a run of r, then a literal tail */
	for (int p = 0; p <= 9; p++)
		for (int r = 1; r <= 17; r++)
		{
			int			n = 0;

			for (int i = 0; i < p; i++)
				v[n++] = (uint32_t) (i % 2 + 2);
			for (int i = 0; i < r; i++)
				v[n++] = 1;
			v[n++] = 3;
			good &= round_trip(v, (size_t) n, 2, NULL);
		}
	ok(good, "literal prefixes 0..9 then runs of 1..17 then a literal round-trip at width 2");
	{
		size_t		len = 0;

		for (int i = 0; i < 64; i++)
			v[i] = 7;
		ok(round_trip(v, 64, 3, &len) && len == 3, "64 equal values are one RLE run (2-byte header, 1 value byte)");
	}
}

int
main(void)
{
	known_bytes();
	bitpack_bytes();
	every_width();
	run_boundaries();
	return tap_done();
}
