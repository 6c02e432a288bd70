/*
 * test_stats.c — statistics ordering: unsigned byte-wise for strings, signed for
 * integers, NaN ignored and signed zeros for doubles, null counts, all-null columns,
 * the same answers with a dictionary and after the PLAIN fallback; and the footer's
 * deprecated min/max only for signed-order columns.
 */
#include "parquet/writer_private.h"
#include "tap.h"

#include <math.h>
#include <string.h>

static pq_buffer out;

static int
cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	return pq_compare_bytes((const uint8_t *) a, alen, (const uint8_t *) b, blen);
}

static void
byte_order(void)
{
	ok(cmp("a", 1, "ab", 2) < 0 && cmp("ab", 2, "b", 1) < 0 && cmp("", 0, "a", 1) < 0,
	   "\"\" < \"a\" < \"ab\" < \"b\"");
	ok(cmp("\x7f", 1, "\x80", 1) < 0 && cmp("z", 1, "\xc3\xa9", 2) < 0,
	   "bytes compare unsigned: 0x7f < 0x80, 'z' < 'é'");
	ok(cmp("Z", 1, "a", 1) < 0 && cmp("abc", 3, "abc", 3) == 0, "'Z' < 'a'; equal strings compare equal");
}

typedef struct fixture
{
	pq_schema  *s;
	pq_field	i32,
				i64,
				dbl,
				str,
				none,
				flag;
} fixture;

static void
make_schema(fixture *f)
{
	f->s = pq_schema_new(NULL);
	pq_schema_add_leaf(f->s, PQ_ROOT, "i32", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &f->i32);
	pq_schema_add_leaf(f->s, PQ_ROOT, "i64", PQ_OPTIONAL, PQ_INT64, PQ_LOGICAL_NONE, &f->i64);
	pq_schema_add_leaf(f->s, PQ_ROOT, "dbl", PQ_OPTIONAL, PQ_DOUBLE, PQ_LOGICAL_NONE, &f->dbl);
	pq_schema_add_leaf(f->s, PQ_ROOT, "str", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &f->str);
	pq_schema_add_leaf(f->s, PQ_ROOT, "none", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &f->none);
	pq_schema_add_leaf(f->s, PQ_ROOT, "flag", PQ_OPTIONAL, PQ_BOOLEAN, PQ_LOGICAL_NONE, &f->flag);
}

static pq_writer *
write_rows(fixture *f, size_t dictionary_limit)
{
	static const char *strs[] = {"zeta", "Alpha", "\xc3\xa9t\xc3\xa9", "", "alpha"};
	static const int32_t ints[] = {3, -5, 100, 0, -1};
	const double dbls[] = {NAN, 0.0, 2.5, -0.0, NAN};
	pq_options	o;
	pq_writer  *w = NULL;
	int			rc = 0;

	pq_options_init(&o);
	o.dictionary_limit = dictionary_limit;
	pq_buffer_init(&out, NULL);
	if (pq_writer_open(&w, f->s, &o, pq_buffer_sink(&out), NULL, NULL, 0) != PQ_OK)
		return NULL;
	for (int r = 0; r < 6; r++)
	{
		rc |= pq_begin_record(w);
		if (r < 5)
		{
			rc |= pq_value_int32(w, f->i32, ints[r]);
			rc |= pq_value_int64(w, f->i64, (int64_t) ints[r] * 4000000000LL);
			rc |= pq_value_double(w, f->dbl, dbls[r]);
			rc |= pq_value_bytes(w, f->str, strs[r], strlen(strs[r]));
			rc |= pq_value_bool(w, f->flag, r == 2);
		}
		rc |= pq_end_record(w);
	}
	rc |= pq_writer_close(w);
	return rc == PQ_OK ? w : NULL;
}

static int32_t
as_i32(const uint8_t *p)
{
	int32_t		v;

	memcpy(&v, p, 4);
	return v;
}

static int64_t
as_i64(const uint8_t *p)
{
	int64_t		v;

	memcpy(&v, p, 8);
	return v;
}

static double
as_double(const uint8_t *p)
{
	double		v;

	memcpy(&v, p, 8);
	return v;
}

static void
check(fixture *f, pq_writer *w, const char *how)
{
	const pq_chunk_meta *c = w->rgs[0].cols;
	const pq_chunk_meta *i32 = &c[w->col_of_field[f->i32]],
			   *i64 = &c[w->col_of_field[f->i64]],
			   *dbl = &c[w->col_of_field[f->dbl]],
			   *str = &c[w->col_of_field[f->str]],
			   *none = &c[w->col_of_field[f->none]],
			   *flag = &c[w->col_of_field[f->flag]];

	ok(i32->has_minmax && as_i32(i32->min) == -5 && as_i32(i32->max) == 100 && i32->null_count == 1,
	   "%s: INT32 min -5 max 100 (signed), 1 null", how);
	ok(i64->has_minmax && as_i64(i64->min) == -20000000000LL && as_i64(i64->max) == 400000000000LL,
	   "%s: INT64 min/max signed", how);
	ok(dbl->has_minmax && as_double(dbl->min) == 0.0 && signbit(as_double(dbl->min)) &&
	   as_double(dbl->max) == 2.5, "%s: DOUBLE ignores NaN, min is -0.0, max 2.5", how);
	ok(str->has_minmax && str->min_len == 0 && str->max_len == 5 && memcmp(str->max, "\xc3\xa9t\xc3\xa9", 5) == 0,
	   "%s: STRING min \"\" max \"été\" (unsigned bytes)", how);
	ok(!none->has_minmax && none->null_count == 6, "%s: an all-null column has no min/max and 6 nulls", how);
	ok(flag->has_minmax && flag->min[0] == 0 && flag->max[0] == 1, "%s: BOOLEAN min false max true", how);
}

static bool
contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t		k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return true;
	return false;
}

/* The footer carries deprecated min/max (fields 1 and 2) only for INT32/INT64. */
static void
footer_fields(void)
{
	fixture		f;
	pq_writer  *w;
	uint32_t	footer_len;
	const uint8_t *footer;
	size_t		n_deprecated = 0;

	make_schema(&f);
	w = write_rows(&f, 1 << 20);
	memcpy(&footer_len, out.data + out.len - 8, 4);
	footer = out.data + out.len - 8 - footer_len;
	ok(memcmp(out.data, "PAR1", 4) == 0 && memcmp(out.data + out.len - 4, "PAR1", 4) == 0,
	   "the file starts and ends with PAR1");
	/* Statistics start with field 12 (delta from 11 or 9): look for "max" field 1 header 0x18 right after */
	for (size_t i = 0; i + 1 < footer_len; i++)
		if ((footer[i] == 0x1c || footer[i] == 0x3c) && footer[i + 1] == 0x18)
			n_deprecated++;
	ok(n_deprecated == 2, "deprecated min/max appear in exactly the two integer columns (%zu)", n_deprecated);
	ok(contains(footer, footer_len, "securitylake version "), "created_by names securitylake");
	pq_writer_free(w);
	pq_buffer_free(&out);
	pq_schema_free(f.s);
}

int
main(void)
{
	fixture		f;
	pq_writer  *w;

	byte_order();
	make_schema(&f);
	w = write_rows(&f, 1 << 20);
	ok(w != NULL && w->rgs[0].cols[w->col_of_field[f.str]].dictionary_page_offset >= 0,
	   "with a dictionary: written, the string column is dictionary-encoded");
	if (w)
		check(&f, w, "dictionary");
	pq_writer_free(w);
	pq_buffer_free(&out);
	w = write_rows(&f, 4);		/* dictionary overflows at once: PLAIN */
	ok(w != NULL && w->rgs[0].cols[w->col_of_field[f.str]].dictionary_page_offset < 0,
	   "with a 4-byte dictionary limit: the string column fell back to PLAIN");
	if (w)
		check(&f, w, "plain");
	pq_writer_free(w);
	pq_buffer_free(&out);
	pq_schema_free(f.s);
	footer_fields();
	return tap_done();
}
