/*
 * encode.c — a row group's column chunks: dictionary page, data pages v1 (levels as
 * RLE/bit-packed hybrid, values PLAIN or RLE_DICTIONARY), zstd, statistics; and the
 * file footer (FileMetaData through the Thrift compact writer).
 */
#include "parquet/writer_private.h"

#include <math.h>
#include <string.h>

enum
{
	PAGE_DATA = 0,
	PAGE_DICTIONARY = 2,
	PAGE_DATA_V2 = 3
};
enum
{
	ENC_PLAIN = 0,
	ENC_RLE = 3,
	ENC_RLE_DICTIONARY = 8
};

/* Byte-array statistics longer than this are left out (they would bloat the footer). */
#define PQ_MAX_STAT_LEN 1024

typedef struct page_pos
{
	size_t		ri;				/* level run */
	uint32_t	ro;				/* offset in it */
	size_t		vi;				/* value index */
	size_t		pb;				/* byte offset in the PLAIN buffer */
} page_pos;

/* ---- pages ---- */

static int
page_header(pq_writer *w, int type, size_t ulen, size_t clen, int32_t num_values, int encoding)
{
	pq_thrift	t;

	w->header.len = 0;
	pq_thrift_init(&t, &w->header);
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, type);
	pq_thrift_i32(&t, 2, (int32_t) ulen);
	pq_thrift_i32(&t, 3, (int32_t) clen);
	pq_thrift_field(&t, type == PAGE_DATA ? 5 : 7, PQ_T_STRUCT);
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, num_values);
	pq_thrift_i32(&t, 2, encoding);
	if (type == PAGE_DATA)
	{
		pq_thrift_i32(&t, 3, ENC_RLE);
		pq_thrift_i32(&t, 4, ENC_RLE);
	}
	pq_thrift_struct_end(&t);
	pq_thrift_struct_end(&t);
	return t.err;
}

/* Compress LEN bytes at SRC into w->comp (or leave them be); *out / *out_len: result. */
static int
compress(pq_writer *w, const uint8_t *src, size_t len, const uint8_t **out, size_t *out_len)
{
	*out = src;
	*out_len = len;
	if (w->opt.compression == PQ_ZSTD)
	{
		size_t		bound = ZSTD_compressBound(len);
		size_t		r;
		int			rc;

		w->comp.len = 0;
		if ((rc = pqb_reserve(&w->comp, bound)) != PQ_OK)
			return pq_fail(w, rc, "out of memory for a compressed page");
		r = ZSTD_compressCCtx(w->zctx, w->comp.data, bound, src, len, w->opt.zstd_level);
		if (ZSTD_isError(r))
			return pq_fail(w, PQ_ERR_ZSTD, "zstd failed: %s", ZSTD_getErrorName(r));
		*out = w->comp.data;
		*out_len = r;
	}
	if (*out_len > INT32_MAX || len > INT32_MAX)
		return pq_fail(w, PQ_ERR_LIMIT, "a page is larger than 2 GiB");
	return PQ_OK;
}

/* Compress w->page and write header + body to the sink. */
static int
write_page(pq_writer *w, int type, int32_t num_values, int encoding, pq_chunk_meta *m)
{
	const uint8_t *body;
	size_t		ulen = w->page.len,
				clen;
	int			rc;

	if ((rc = compress(w, w->page.data, ulen, &body, &clen)) != PQ_OK)
		return rc;
	if ((rc = page_header(w, type, ulen, clen, num_values, encoding)) != PQ_OK)
		return pq_fail(w, rc, "out of memory for a page header");
	m->uncompressed += (int64_t) (w->header.len + ulen);
	m->compressed += (int64_t) (w->header.len + clen);
	if ((rc = pq_sink_write(w, w->header.data, w->header.len)) != PQ_OK)
		return rc;
	return pq_sink_write(w, body, clen);
}

typedef struct v2_counts
{
	int32_t		num_values;
	int32_t		num_nulls;
	int32_t		num_rows;
	size_t		rep_len;
	size_t		def_len;
} v2_counts;

/* DATA_PAGE_V2: w->page is [rep levels][def levels][values]; only values are compressed. */
static int
write_page_v2(pq_writer *w, const v2_counts *v, int encoding, pq_chunk_meta *m)
{
	size_t		levels = v->rep_len + v->def_len;
	const uint8_t *body;
	size_t		clen;
	pq_thrift	t;
	int			rc;

	if ((rc = compress(w, w->page.data + levels, w->page.len - levels, &body, &clen)) != PQ_OK)
		return rc;
	w->header.len = 0;
	pq_thrift_init(&t, &w->header);
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, PAGE_DATA_V2);
	pq_thrift_i32(&t, 2, (int32_t) w->page.len);
	pq_thrift_i32(&t, 3, (int32_t) (levels + clen));
	pq_thrift_field(&t, 8, PQ_T_STRUCT);
	pq_thrift_struct_begin(&t);
	pq_thrift_i32(&t, 1, v->num_values);
	pq_thrift_i32(&t, 2, v->num_nulls);
	pq_thrift_i32(&t, 3, v->num_rows);
	pq_thrift_i32(&t, 4, encoding);
	pq_thrift_i32(&t, 5, (int32_t) v->def_len);
	pq_thrift_i32(&t, 6, (int32_t) v->rep_len);
	pq_thrift_bool(&t, 7, w->opt.compression != PQ_UNCOMPRESSED);
	pq_thrift_struct_end(&t);
	pq_thrift_struct_end(&t);
	if (t.err != PQ_OK)
		return pq_fail(w, t.err, "out of memory for a page header");
	m->uncompressed += (int64_t) (w->header.len + w->page.len);
	m->compressed += (int64_t) (w->header.len + levels + clen);
	if ((rc = pq_sink_write(w, w->header.data, w->header.len)) != PQ_OK ||
		(rc = pq_sink_write(w, w->page.data, levels)) != PQ_OK)
		return rc;
	return pq_sink_write(w, body, clen);
}

/* Append one level stream (4-byte length + hybrid) for runs [a, b) to w->page. */
static int
put_levels(pq_writer *w, const pq_level_run *runs, size_t nruns, page_pos a, page_pos b,
		   bool rep, int max_level, bool prefix)
{
	size_t		at = w->page.len;
	pq_rle		e;
	int			rc;
	uint32_t	len;

	if (prefix && (rc = pqb_u32le(&w->page, 0)) != PQ_OK)
		return rc;
	pq_rle_init(&e, &w->page, pq_bit_width((uint64_t) max_level), &w->alloc);
	for (size_t i = a.ri; i <= b.ri && i < nruns; i++)
	{
		uint32_t	from = i == a.ri ? a.ro : 0;
		uint32_t	to = i == b.ri ? b.ro : runs[i].count;

		if (to > from)
			pq_rle_put(&e, rep ? runs[i].rep : runs[i].def, to - from);
	}
	if ((rc = pq_rle_finish(&e)) != PQ_OK)
		return rc;
	if (prefix)
	{
		len = (uint32_t) (w->page.len - at - 4);
		memcpy(w->page.data + at, &len, 4);	/* little-endian host, see record.c */
	}
	return PQ_OK;
}

static size_t
level_cost(uint64_t n, int width)
{
	if (width == 0)
		return 0;
	return n >= 8 ? 6 : (size_t) ((n * (uint64_t) width + 7) / 8 + 2);
}

static uint32_t
plain_len_at(const pq_column *c, size_t pb)
{
	const uint8_t *p = c->plain.data + pb;

	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/*
 * Where the page starting at A ends: as many slots as fit in the target size, cut only
 * before a slot that starts a record (rep == 0), at least one record per page.
 */
static page_pos
page_end(const pq_writer *w, const pq_column *c, const pq_node_state *s, page_pos a,
		 int index_width, size_t target)
{
	const pq_node *n = c->node;
	int			rw = pq_bit_width((uint64_t) n->max_rep),
				dw = pq_bit_width((uint64_t) n->max_def);
	size_t		est = 0;
	uint64_t	slots = 0;
	bool		dict = index_width > 0;
	size_t		bits = dict ? (size_t) index_width : (c->value_size ? (size_t) c->value_size * 8 : 0);

	if (n->physical == PQ_BOOLEAN && !dict)
		bits = 1;
	(void) w;
	while (a.ri < s->nruns)
	{
		const pq_level_run *r = &s->runs[a.ri];
		uint64_t	avail,
					take;
		size_t		vbytes = 0,
					pbytes = 0;

		if (a.ro == r->count)
		{
			a.ri++;
			a.ro = 0;
			continue;
		}
		if (r->rep == 0 && slots > 0 && est >= target)
			break;
		avail = r->count - a.ro;
		take = avail;
		if (r->def == n->max_def)
		{
			size_t		room = est < target ? target - est : 0;

			if (bits == 0)
			{
				/* PLAIN byte arrays: walk the values */
				take = 0;
				while (take < avail && (r->rep > 0 || pbytes < room || (take == 0 && slots == 0)))
				{
					pbytes += 4 + (size_t) plain_len_at(c, a.pb + pbytes);
					take++;
				}
				vbytes = pbytes;
			}
			else
			{
				uint64_t	fit = room * 8 / bits;

				if (r->rep == 0 && fit < avail)
					take = fit ? fit : 1;
				vbytes = (size_t) ((take * bits + 7) / 8) + (dict ? 1 + take / 64 : 0);
				pbytes = c->value_size ? (size_t) take * (size_t) c->value_size : 0;
				if (n->physical == PQ_BOOLEAN)
					pbytes = (size_t) take;
			}
			a.vi += (size_t) take;
			a.pb += pbytes;
		}
		est += vbytes + level_cost(take, rw) + level_cost(take, dw);
		a.ro += (uint32_t) take;
		slots += take;
	}
	return a;
}

static int
put_values(pq_writer *w, const pq_column *c, page_pos a, page_pos b, int index_width)
{
	int			rc;

	if (index_width > 0)
	{
		pq_rle		e;

		if ((rc = pqb_u8(&w->page, (uint8_t) index_width)) != PQ_OK)
			return rc;
		pq_rle_init(&e, &w->page, index_width, &w->alloc);
		for (size_t i = a.vi; i < b.vi; i++)
			pq_rle_put(&e, c->idx[i], 1);
		return pq_rle_finish(&e);
	}
	if (c->node->physical == PQ_BOOLEAN)
	{
		size_t		n = b.vi - a.vi;
		uint8_t    *p;

		if ((rc = pqb_reserve(&w->page, (n + 7) / 8)) != PQ_OK)
			return rc;
		p = w->page.data + w->page.len;
		memset(p, 0, (n + 7) / 8);
		for (size_t i = 0; i < n; i++)
			if (c->plain.data[a.vi + i])
				p[i / 8] |= (uint8_t) (1u << (i % 8));
		w->page.len += (n + 7) / 8;
		return PQ_OK;
	}
	if (b.pb == a.pb)
		return PQ_OK;			/* no values (and maybe no buffer at all) */
	return pqb_append(&w->page, c->plain.data + a.pb, b.pb - a.pb);
}

static int
write_data_pages(pq_writer *w, const pq_column *c, const pq_node_state *s, int index_width,
				 pq_chunk_meta *m)
{
	page_pos	a = {0, 0, 0, 0};
	size_t		limit = w->opt.page_size_limit;

	/*
	 * The size estimate is close (exact for PLAIN values, an upper bound for levels and
	 * indices, give or take a few header bytes per run), so a small margin keeps pages
	 * under the limit while filling them: fuller pages compress better.
	 */
	size_t		target = limit >= 16384 ? limit - limit / 64 - 512 : limit - limit / 8 - (limit > 256 ? 64 : 0);

	while (a.ri < s->nruns && !(a.ri == s->nruns - 1 && a.ro == s->runs[a.ri].count))
	{
		page_pos	b = page_end(w, c, s, a, index_width, target);
		uint64_t	slots = 0;
		int			rc;

		bool		v1 = w->opt.data_page_version == 1;
		v2_counts	v = {0, 0, 0, 0, 0};
		int			encoding = index_width > 0 ? ENC_RLE_DICTIONARY : ENC_PLAIN;

		for (size_t i = a.ri; i <= b.ri && i < s->nruns; i++)
		{
			uint64_t	n = (i == b.ri ? b.ro : s->runs[i].count) - (i == a.ri ? a.ro : 0);

			slots += n;
			if (s->runs[i].def < c->node->max_def)
				v.num_nulls += (int32_t) n;
			/* a run at rep 0 is n records; a run at rep > 0 continues one */
			if (s->runs[i].rep == 0)
				v.num_rows += (int32_t) n;
		}
		if (slots > INT32_MAX)
			return pq_fail(w, PQ_ERR_LIMIT, "too many values in one page");
		v.num_values = (int32_t) slots;
		w->page.len = 0;
		if (c->node->max_rep > 0 && (rc = put_levels(w, s->runs, s->nruns, a, b, true, c->node->max_rep, v1)) != PQ_OK)
			return pq_fail(w, rc, "out of memory encoding a page of \"%s\"", c->node->name);
		v.rep_len = w->page.len;
		if (c->node->max_def > 0 && (rc = put_levels(w, s->runs, s->nruns, a, b, false, c->node->max_def, v1)) != PQ_OK)
			return pq_fail(w, rc, "out of memory encoding a page of \"%s\"", c->node->name);
		v.def_len = w->page.len - v.rep_len;
		if ((rc = put_values(w, c, a, b, index_width)) != PQ_OK)
			return pq_fail(w, rc, "out of memory encoding a page of \"%s\"", c->node->name);
		rc = v1 ? write_page(w, PAGE_DATA, (int32_t) slots, encoding, m) : write_page_v2(w, &v, encoding, m);
		if (rc != PQ_OK)
			return rc;
		a = b;
		if (a.ri < s->nruns && a.ro == s->runs[a.ri].count)
		{
			a.ri++;
			a.ro = 0;
		}
	}
	return PQ_OK;
}

/* ---- statistics ---- */

typedef struct stats
{
	bool		has;
	const uint8_t *min;
	const uint8_t *max;
	size_t		min_len;
	size_t		max_len;
} stats;

/* <0, 0, >0 in the column's sort order (signed ints, IEEE floats, unsigned bytes). */
static int
compare_values(pq_physical phys, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	switch (phys)
	{
		case PQ_BOOLEAN:
			return (int) a[0] - (int) b[0];
		case PQ_INT32:
			{
				int32_t		x,
							y;

				memcpy(&x, a, 4);
				memcpy(&y, b, 4);
				return (x > y) - (x < y);
			}
		case PQ_INT64:
			{
				int64_t		x,
							y;

				memcpy(&x, a, 8);
				memcpy(&y, b, 8);
				return (x > y) - (x < y);
			}
		case PQ_FLOAT:
			{
				float		x,
							y;

				memcpy(&x, a, 4);
				memcpy(&y, b, 4);
				return (x > y) - (x < y);
			}
		case PQ_DOUBLE:
			{
				double		x,
							y;

				memcpy(&x, a, 8);
				memcpy(&y, b, 8);
				return (x > y) - (x < y);
			}
		case PQ_BYTE_ARRAY:
			return pq_compare_bytes(a, alen, b, blen);
	}
	return 0;
}

static bool
is_nan(pq_physical phys, const uint8_t *v)
{
	if (phys == PQ_FLOAT)
	{
		float		x;

		memcpy(&x, v, 4);
		return isnan(x);
	}
	if (phys == PQ_DOUBLE)
	{
		double		x;

		memcpy(&x, v, 8);
		return isnan(x);
	}
	return false;
}

static void
stats_update(stats *st, pq_physical phys, const uint8_t *v, size_t len)
{
	if (is_nan(phys, v))
		return;					/* NaN takes no part in min/max */
	if (!st->has)
	{
		st->has = true;
		st->min = st->max = v;
		st->min_len = st->max_len = len;
		return;
	}
	if (compare_values(phys, v, len, st->min, st->min_len) < 0)
	{
		st->min = v;
		st->min_len = len;
	}
	if (compare_values(phys, v, len, st->max, st->max_len) > 0)
	{
		st->max = v;
		st->max_len = len;
	}
}

static int
column_stats(pq_writer *w, const pq_column *c, int index_width, stats *st)
{
	pq_physical phys = c->node->physical;

	st->has = false;
	if (index_width > 0)
	{
		int			rc = pq_grow(&w->alloc, (void **) &w->used, &w->used_cap, c->ndict, 1);

		if (rc != PQ_OK)
			return rc;
		memset(w->used, 0, c->ndict);
		for (size_t i = 0; i < c->nidx; i++)
			w->used[c->idx[i]] = 1;
		for (size_t i = 0; i < c->ndict; i++)
		{
			const uint8_t *p = c->dict.data + c->dict_off[i];
			size_t		len = (size_t) c->value_size;

			if (!w->used[i])
				continue;
			if (len == 0)
			{
				len = (size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16 | (size_t) p[3] << 24;
				p += 4;
			}
			stats_update(st, phys, p, len);
		}
		return PQ_OK;
	}
	for (size_t i = 0, pb = 0; i < c->nvalues; i++)
	{
		if (c->value_size)
		{
			stats_update(st, phys, c->plain.data + pb, (size_t) c->value_size);
			pb += (size_t) c->value_size;
		}
		else
		{
			size_t		len = plain_len_at(c, pb);

			stats_update(st, phys, c->plain.data + pb + 4, len);
			pb += 4 + len;
		}
	}
	return PQ_OK;
}

static uint8_t *
copy_bytes(pq_writer *w, const uint8_t *p, size_t len)
{
	uint8_t    *d = pq_alloc(&w->alloc, len);

	if (d && len)
		memcpy(d, p, len);
	return d;
}

/* Keep the statistics in the chunk's metadata; zeros signed as the spec asks. */
static int
keep_stats(pq_writer *w, const pq_column *c, const stats *st, pq_chunk_meta *m)
{
	uint8_t		minb[8],
				maxb[8];
	const uint8_t *min = st->min,
			   *max = st->max;

	if (!st->has || st->min_len > PQ_MAX_STAT_LEN || st->max_len > PQ_MAX_STAT_LEN)
		return PQ_OK;
	if (c->node->physical == PQ_FLOAT || c->node->physical == PQ_DOUBLE)
	{
		memcpy(minb, min, st->min_len);
		memcpy(maxb, max, st->max_len);
		if (c->node->physical == PQ_FLOAT)
		{
			float		x;

			memcpy(&x, minb, 4);
			if (x == 0.0f)
				x = -0.0f;
			memcpy(minb, &x, 4);
			memcpy(&x, maxb, 4);
			if (x == 0.0f)
				x = 0.0f;
			memcpy(maxb, &x, 4);
		}
		else
		{
			double		x;

			memcpy(&x, minb, 8);
			if (x == 0.0)
				x = -0.0;
			memcpy(minb, &x, 8);
			memcpy(&x, maxb, 8);
			if (x == 0.0)
				x = 0.0;
			memcpy(maxb, &x, 8);
		}
		min = minb;
		max = maxb;
	}
	m->min = copy_bytes(w, min, st->min_len);
	m->max = copy_bytes(w, max, st->max_len);
	if (m->min == NULL || m->max == NULL)
		return pq_fail(w, PQ_ERR_NOMEM, "out of memory for statistics");
	m->min_len = st->min_len;
	m->max_len = st->max_len;
	m->has_minmax = true;
	return PQ_OK;
}

/* ---- column chunks and row groups ---- */

static int
encode_column(pq_writer *w, const pq_column *c, pq_chunk_meta *m)
{
	const pq_node_state *s = &w->st[c->field];
	bool		use_dict = c->dict_on && c->ndict > 0;
	int			index_width = 0;
	stats		st;
	int			rc;

	uint64_t	present = 0;

	m->num_values = (int64_t) s->nslots;
	m->dictionary_page_offset = -1;
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].def < c->node->max_def)
			m->null_count += s->runs[i].count;
		else
			present += s->runs[i].count;
	/* a broken invariant must not become a corrupt file */
	if (present != c->nvalues || (c->dict_on && c->nidx != c->nvalues))
		return pq_fail(w, PQ_ERR_STATE, "internal error: column \"%s\" has %llu defined levels but %zu values",
					   c->node->name, (unsigned long long) present, c->nvalues);
	if (use_dict)
	{
		int			width = pq_bit_width(c->ndict - 1);

		index_width = width > 0 ? width : 1;
		m->dictionary_page_offset = (int64_t) w->offset;
		w->page.len = 0;
		if ((rc = pqb_append(&w->page, c->dict.data, c->dict.len)) != PQ_OK)
			return pq_fail(w, rc, "out of memory for a dictionary page");
		if ((rc = write_page(w, PAGE_DICTIONARY, (int32_t) c->ndict, ENC_PLAIN, m)) != PQ_OK)
			return rc;
	}
	m->data_page_offset = (int64_t) w->offset;
	if ((rc = write_data_pages(w, c, s, index_width, m)) != PQ_OK)
		return rc;
	if ((rc = column_stats(w, c, index_width, &st)) != PQ_OK)
		return pq_fail(w, rc, "out of memory for statistics");
	return keep_stats(w, c, &st, m);
}

int
pq_encode_row_group(pq_writer *w)
{
	pq_row_group_meta *rg;
	int			rc;

	if ((rc = pq_grow(&w->alloc, (void **) &w->rgs, &w->rgs_cap, w->nrgs + 1, sizeof(pq_row_group_meta))) != PQ_OK)
		return pq_fail(w, rc, "out of memory for row group metadata");
	rg = &w->rgs[w->nrgs];
	memset(rg, 0, sizeof(*rg));
	rg->cols = pq_alloc(&w->alloc, sizeof(pq_chunk_meta) * (size_t) w->ncols);
	if (rg->cols == NULL)
		return pq_fail(w, PQ_ERR_NOMEM, "out of memory for row group metadata");
	memset(rg->cols, 0, sizeof(pq_chunk_meta) * (size_t) w->ncols);
	w->nrgs++;
	rg->num_rows = w->rg_rows;
	rg->file_offset = (int64_t) w->offset;
	for (int32_t i = 0; i < w->ncols; i++)
	{
		if ((rc = encode_column(w, &w->cols[i], &rg->cols[i])) != PQ_OK)
			return rc;
		rg->uncompressed += rg->cols[i].uncompressed;
		rg->compressed += rg->cols[i].compressed;
	}
	return PQ_OK;
}

void
pq_column_reset(pq_writer *w, pq_column *c)
{
	c->nvalues = 0;
	c->plain.len = 0;
	c->nidx = 0;
	c->ndict = 0;
	c->dict.len = 0;
	if (c->table)
		memset(c->table, 0, c->table_size * sizeof(uint64_t));
	c->dict_on = w->opt.enable_dictionary && c->node->physical != PQ_BOOLEAN;
	c->dict_probed = false;
}

int
pq_column_fallback_to_plain(pq_writer *w, pq_column *c)
{
	int			rc;

	c->plain.len = 0;
	for (size_t i = 0; i < c->nidx; i++)
	{
		size_t		len;
		const uint8_t *p = c->dict.data + c->dict_off[c->idx[i]];

		len = c->value_size ? (size_t) c->value_size
			: 4 + ((size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16 | (size_t) p[3] << 24);
		if ((rc = pqb_append(&c->plain, p, len)) != PQ_OK)
			return pq_fail(w, rc, "out of memory falling back to PLAIN for \"%s\"", c->node->name);
	}
	/* the estimate now holds PLAIN values instead of indices and dictionary entries */
	w->buffered += c->plain.len;
	w->buffered -= w->buffered < c->nidx * 4 + c->dict.len ? w->buffered : c->nidx * 4 + c->dict.len;
	c->dict_on = false;
	c->nidx = 0;
	c->ndict = 0;
	c->dict.len = 0;
	if (c->table)
		memset(c->table, 0, c->table_size * sizeof(uint64_t));
	return PQ_OK;
}

/* ---- footer ---- */

static int
converted_type(const pq_node *n)
{
	if (!n->is_leaf)
		return n->kind == PQ_KIND_LIST ? 3 : n->kind == PQ_KIND_MAP ? 1 : -1;
	switch (n->logical)
	{
		case PQ_LOGICAL_STRING:
			return 0;
		case PQ_LOGICAL_JSON:
			return 19;
		case PQ_LOGICAL_INT8:
			return 15;
		case PQ_LOGICAL_INT16:
			return 16;
		case PQ_LOGICAL_INT32:
			return 17;
		case PQ_LOGICAL_INT64:
			return 18;
		case PQ_LOGICAL_TIMESTAMP_MILLIS:
			return 9;
		case PQ_LOGICAL_NONE:
			break;
	}
	return -1;
}

static void
empty_struct_field(pq_thrift *t, int16_t id)
{
	pq_thrift_field(t, id, PQ_T_STRUCT);
	pq_thrift_struct_begin(t);
	pq_thrift_struct_end(t);
}

static void
logical_type(pq_thrift *t, const pq_node *n)
{
	int			bits = 0;

	if (!n->is_leaf && n->kind != PQ_KIND_LIST && n->kind != PQ_KIND_MAP)
		return;
	if (n->is_leaf && n->logical == PQ_LOGICAL_NONE)
		return;
	pq_thrift_field(t, 10, PQ_T_STRUCT);
	pq_thrift_struct_begin(t);
	if (n->kind == PQ_KIND_LIST)
		empty_struct_field(t, 3);
	else if (n->kind == PQ_KIND_MAP)
		empty_struct_field(t, 2);
	else
		switch (n->logical)
		{
			case PQ_LOGICAL_STRING:
				empty_struct_field(t, 1);
				break;
			case PQ_LOGICAL_JSON:
				empty_struct_field(t, 12);
				break;
			case PQ_LOGICAL_TIMESTAMP_MILLIS:
				pq_thrift_field(t, 8, PQ_T_STRUCT);
				pq_thrift_struct_begin(t);
				pq_thrift_bool(t, 1, true);
				pq_thrift_field(t, 2, PQ_T_STRUCT);
				pq_thrift_struct_begin(t);
				empty_struct_field(t, 1);	/* MILLIS */
				pq_thrift_struct_end(t);
				pq_thrift_struct_end(t);
				break;
			case PQ_LOGICAL_INT8:
				bits = 8;
				break;
			case PQ_LOGICAL_INT16:
				bits = 16;
				break;
			case PQ_LOGICAL_INT32:
				bits = 32;
				break;
			case PQ_LOGICAL_INT64:
				bits = 64;
				break;
			case PQ_LOGICAL_NONE:
				break;
		}
	if (bits)
	{
		pq_thrift_field(t, 10, PQ_T_STRUCT);
		pq_thrift_struct_begin(t);
		pq_thrift_i8(t, 1, (int8_t) bits);
		pq_thrift_bool(t, 2, true);
		pq_thrift_struct_end(t);
	}
	pq_thrift_struct_end(t);
}

static void
schema_element(pq_thrift *t, const pq_node *n, bool root)
{
	int			ct = converted_type(n);

	pq_thrift_struct_begin(t);
	if (n->is_leaf)
		pq_thrift_i32(t, 1, (int32_t) n->physical);
	if (!root)
		pq_thrift_i32(t, 3, (int32_t) n->repetition);
	pq_thrift_string(t, 4, root ? "schema" : n->name);
	if (!n->is_leaf)
		pq_thrift_i32(t, 5, (int32_t) n->nchildren);
	if (ct >= 0)
		pq_thrift_i32(t, 6, ct);
	if (n->has_field_id)
		pq_thrift_i32(t, 9, n->field_id);
	logical_type(t, n);
	pq_thrift_struct_end(t);
}

static void
path_in_schema(pq_thrift *t, const pq_writer *w, pq_field leaf)
{
	pq_field	path[256];
	int			depth = 0;

	for (pq_field f = leaf; f != PQ_ROOT && depth < 256; f = w->nodes[f].parent)
		path[depth++] = f;
	pq_thrift_list_begin(t, 3, PQ_T_BINARY, (uint32_t) depth);
	while (depth > 0)
	{
		const pq_node *n = &w->nodes[path[--depth]];

		pq_thrift_elem_string(t, n->name, n->name_len);
	}
}

static void
statistics(pq_thrift *t, const pq_column *c, const pq_chunk_meta *m)
{
	/* the deprecated min/max are only right where the order is signed */
	bool		signed_order = c->node->physical == PQ_INT32 || c->node->physical == PQ_INT64;

	pq_thrift_field(t, 12, PQ_T_STRUCT);
	pq_thrift_struct_begin(t);
	if (m->has_minmax && signed_order)
	{
		pq_thrift_binary(t, 1, m->max, m->max_len);
		pq_thrift_binary(t, 2, m->min, m->min_len);
	}
	pq_thrift_i64(t, 3, m->null_count);
	if (m->has_minmax)
	{
		pq_thrift_binary(t, 5, m->max, m->max_len);
		pq_thrift_binary(t, 6, m->min, m->min_len);
	}
	pq_thrift_struct_end(t);
}

static void
column_chunk(pq_thrift *t, const pq_writer *w, const pq_column *c, const pq_chunk_meta *m)
{
	bool		dict = m->dictionary_page_offset >= 0;

	pq_thrift_struct_begin(t);
	pq_thrift_i64(t, 2, dict ? m->dictionary_page_offset : m->data_page_offset);
	pq_thrift_field(t, 3, PQ_T_STRUCT);
	pq_thrift_struct_begin(t);
	pq_thrift_i32(t, 1, (int32_t) c->node->physical);
	pq_thrift_list_begin(t, 2, PQ_T_I32, dict ? 3 : 2);
	pq_thrift_elem_i32(t, ENC_PLAIN);
	pq_thrift_elem_i32(t, ENC_RLE);
	if (dict)
		pq_thrift_elem_i32(t, ENC_RLE_DICTIONARY);
	path_in_schema(t, w, c->field);
	pq_thrift_i32(t, 4, w->opt.compression == PQ_ZSTD ? 6 : 0);
	pq_thrift_i64(t, 5, m->num_values);
	pq_thrift_i64(t, 6, m->uncompressed);
	pq_thrift_i64(t, 7, m->compressed);
	pq_thrift_i64(t, 9, m->data_page_offset);
	if (dict)
		pq_thrift_i64(t, 11, m->dictionary_page_offset);
	statistics(t, c, m);
	pq_thrift_struct_end(t);
	pq_thrift_struct_end(t);
}

static void
row_group(pq_thrift *t, const pq_writer *w, const pq_row_group_meta *rg, size_t ordinal)
{
	pq_thrift_struct_begin(t);
	pq_thrift_list_begin(t, 1, PQ_T_STRUCT, (uint32_t) w->ncols);
	for (int32_t i = 0; i < w->ncols; i++)
		column_chunk(t, w, &w->cols[i], &rg->cols[i]);
	pq_thrift_i64(t, 2, rg->uncompressed);
	pq_thrift_i64(t, 3, rg->num_rows);
	pq_thrift_i64(t, 5, rg->file_offset);
	pq_thrift_i64(t, 6, rg->compressed);
	if (ordinal <= INT16_MAX)
	{
		pq_thrift_field(t, 7, PQ_T_I16);
		if (!t->err)
			t->err = pqb_uleb(t->out, pq_zigzag64((int64_t) ordinal));
	}
	pq_thrift_struct_end(t);
}

static void
file_metadata(pq_thrift *t, const pq_writer *w)
{
	pq_thrift_struct_begin(t);
	pq_thrift_i32(t, 1, 1);
	pq_thrift_list_begin(t, 2, PQ_T_STRUCT, (uint32_t) w->nnodes);
	for (size_t i = 0; i < w->nnodes; i++)
		schema_element(t, &w->nodes[w->preorder[i]], w->preorder[i] == PQ_ROOT);
	pq_thrift_i64(t, 3, w->total_rows);
	pq_thrift_list_begin(t, 4, PQ_T_STRUCT, (uint32_t) w->nrgs);
	for (size_t i = 0; i < w->nrgs; i++)
		row_group(t, w, &w->rgs[i], i);
	if (w->nkv)
	{
		pq_thrift_list_begin(t, 5, PQ_T_STRUCT, (uint32_t) w->nkv);
		for (size_t i = 0; i < w->nkv; i++)
		{
			pq_thrift_struct_begin(t);
			pq_thrift_string(t, 1, w->kv[i].key);
			if (w->kv[i].value)
				pq_thrift_string(t, 2, w->kv[i].value);
			pq_thrift_struct_end(t);
		}
	}
	pq_thrift_string(t, 6, w->created_by);
	/* column_orders: min_value/max_value follow each type's defined order */
	pq_thrift_list_begin(t, 7, PQ_T_STRUCT, (uint32_t) w->ncols);
	for (int32_t i = 0; i < w->ncols; i++)
	{
		pq_thrift_struct_begin(t);
		empty_struct_field(t, 1);
		pq_thrift_struct_end(t);
	}
	pq_thrift_struct_end(t);
}

int
pq_write_footer(pq_writer *w)
{
	pq_thrift	t;
	int			rc;
	uint32_t	len;

	w->page.len = 0;
	pq_thrift_init(&t, &w->page);
	file_metadata(&t, w);
	if (t.err != PQ_OK)
		return pq_fail(w, t.err, "out of memory writing the footer");
	len = (uint32_t) w->page.len;
	if ((rc = pqb_append(&w->page, &len, 4)) != PQ_OK ||
		(rc = pqb_append(&w->page, "PAR1", 4)) != PQ_OK)
		return pq_fail(w, rc, "out of memory writing the footer");
	return pq_sink_write(w, w->page.data, w->page.len);
}
