/*
 * fuzz_writer.c — libFuzzer target: random schemas, options and event streams
 * (valid and invalid) through the Parquet writer, with an allocator that fails on
 * demand. Any crash, sanitizer report or leak is a bug; so is a closed file without
 * its PAR1 magic and footer, a row count that differs from the records committed,
 * or an allocation left behind after pq_writer_free / pq_schema_free.
 *
 *   test/parquet/fuzz.sh SECONDS
 */
#include "parquet/parquet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct input
{
	const uint8_t *p;
	size_t		n;
} input;

static uint32_t
take(input *in, uint32_t bound)
{
	uint32_t	v = 0;

	for (int i = 0; i < 3 && in->n > 0; i++)
	{
		v = (v << 8) | *in->p++;
		in->n--;
	}
	return bound ? v % bound : v;
}

/* ---- an allocator that counts live blocks and can fail after N allocations ---- */
typedef struct counting
{
	long		live;
	long		budget;			/* allocations left before failing; < 0: never fail */
} counting;

static void *
c_malloc(void *ctx, size_t size)
{
	counting   *c = ctx;
	void	   *p;

	if (c->budget == 0)
		return NULL;
	if (c->budget > 0)
		c->budget--;
	p = malloc(size);
	if (p)
		c->live++;
	return p;
}

static void *
c_realloc(void *ctx, void *ptr, size_t size)
{
	counting   *c = ctx;
	void	   *p;

	if (ptr == NULL)
		return c_malloc(ctx, size);
	if (c->budget == 0)
		return NULL;
	if (c->budget > 0)
		c->budget--;
	p = realloc(ptr, size);
	return p;
}

static void
c_free(void *ctx, void *ptr)
{
	counting   *c = ctx;

	if (ptr)
	{
		c->live--;
		free(ptr);
	}
}

/* ---- a sink that keeps the bytes and can fail ---- */
typedef struct sink_state
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	long		fail_after;		/* writes left; < 0: never fail */
} sink_state;

static int
keep(void *ctx, const void *buf, size_t len)
{
	sink_state *s = ctx;

	if (s->fail_after == 0)
		return -1;
	if (s->fail_after > 0)
		s->fail_after--;
	if (s->len + len > s->cap)
	{
		size_t		ncap = (s->len + len) * 2;
		uint8_t    *d = realloc(s->data, ncap);

		if (d == NULL)
			return -1;
		s->data = d;
		s->cap = ncap;
	}
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	return 0;
}

#define MAX_FIELDS 48

static const pq_physical physicals[] = {PQ_BOOLEAN, PQ_INT32, PQ_INT64, PQ_FLOAT, PQ_DOUBLE, PQ_BYTE_ARRAY};
static const pq_logical logical_for[][3] = {
	{PQ_LOGICAL_NONE, PQ_LOGICAL_NONE, PQ_LOGICAL_NONE},
	{PQ_LOGICAL_NONE, PQ_LOGICAL_INT8, PQ_LOGICAL_INT16},
	{PQ_LOGICAL_NONE, PQ_LOGICAL_INT64, PQ_LOGICAL_TIMESTAMP_MILLIS},
	{PQ_LOGICAL_NONE, PQ_LOGICAL_NONE, PQ_LOGICAL_NONE},
	{PQ_LOGICAL_NONE, PQ_LOGICAL_NONE, PQ_LOGICAL_NONE},
	{PQ_LOGICAL_NONE, PQ_LOGICAL_STRING, PQ_LOGICAL_JSON},
};

static void
build_schema(pq_schema *s, input *in)
{
	int			nfields = 1 + (int) take(in, MAX_FIELDS);
	char		name[16];

	for (int i = 0; i < nfields; i++)
	{
		pq_field	parent = (pq_field) take(in, (uint32_t) pq_schema_num_fields(s));
		pq_repetition rep = (pq_repetition) take(in, 3);
		uint32_t	kind = take(in, 8);
		pq_field	a,
					b,
					c;

		snprintf(name, sizeof(name), "%c%d", "abcAB"[take(in, 5)], (int) take(in, 12));
		if (kind < 4)
		{
			uint32_t	t = take(in, 6);

			pq_schema_add_leaf(s, parent, name, rep, physicals[t], logical_for[t][take(in, 3)], &a);
		}
		else if (kind < 6)
			pq_schema_add_group(s, parent, name, rep, &a);
		else if (kind == 6 && pq_schema_add_list(s, parent, name, rep, &a, &b) == PQ_OK)
			pq_schema_add_leaf(s, b, "element", (pq_repetition) take(in, 2), PQ_INT64, PQ_LOGICAL_NONE, &c);
		else if (kind == 7 && pq_schema_add_map(s, parent, name, rep, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &a, &b, &c) == PQ_OK)
			pq_schema_add_leaf(s, b, "value", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &c);
	}
	if (take(in, 4) == 0)
		pq_schema_set_field_id(s, (pq_field) take(in, (uint32_t) pq_schema_num_fields(s)), (int32_t) take(in, 0));
}

/* The current group, as the fuzzer believes it to be (it may be wrong on purpose). */
static pq_field
pick_field(const pq_schema *s, pq_field group, input *in)
{
	int32_t		n = pq_field_num_children(s, group);

	if (n == 0 || take(in, 16) == 0)
		return (pq_field) take(in, (uint32_t) pq_schema_num_fields(s) + 2) - 1;
	return pq_field_child(s, group, (int32_t) take(in, (uint32_t) n));
}

static int
value_for(pq_writer *w, const pq_schema *s, pq_field f, input *in)
{
	uint8_t		bytes[64];
	uint32_t	len;

	if (!pq_field_is_leaf(s, f) || take(in, 10) == 0)
	{
		/* anything, including a type the field does not take */
		switch (take(in, 4))
		{
			case 0:
				return pq_value_int32(w, f, (int32_t) take(in, 0));
			case 1:
				return pq_value_double(w, f, (double) take(in, 0) / 7.0);
			case 2:
				return pq_value_bool(w, f, take(in, 2));
			default:
				return pq_null(w, f);
		}
	}
	switch (pq_field_physical(s, f))
	{
		case PQ_BOOLEAN:
			return pq_value_bool(w, f, take(in, 2));
		case PQ_INT32:
			return pq_value_int32(w, f, (int32_t) (take(in, 0) - (1u << 23)));
		case PQ_INT64:
			return pq_value_int64(w, f, ((int64_t) take(in, 0) << 20) - ((int64_t) 1 << 40));
		case PQ_FLOAT:
			return pq_value_float(w, f, take(in, 50) == 0 ? 0.0f / 0.0f : (float) take(in, 0) - 5e6f);
		case PQ_DOUBLE:
			return pq_value_double(w, f, take(in, 50) == 0 ? -0.0 : (double) take(in, 0) / 3.0);
		case PQ_BYTE_ARRAY:
			len = take(in, sizeof(bytes));
			for (uint32_t i = 0; i < len; i++)
				bytes[i] = (uint8_t) take(in, 256);
			return pq_value_bytes(w, f, bytes, len);
	}
	return PQ_OK;
}

/* One record: a bounded random walk of events, then end or abandon. */
static bool
write_record(pq_writer *w, const pq_schema *s, input *in)
{
	pq_field	stack[64];
	int			depth = 0;
	pq_field	group = PQ_ROOT;
	int			failed = 0;

	if (pq_begin_record(w) != PQ_OK)
		return false;
	for (int steps = (int) take(in, 40); steps > 0 && in->n > 0; steps--)
	{
		pq_field	f = pick_field(s, group, in);
		int			rc = PQ_OK;

		switch (take(in, 6))
		{
			case 0:
			case 1:
				rc = value_for(w, s, f, in);
				break;
			case 2:
				if (pq_field_is_list(s, f) || pq_field_is_map(s, f))
				{
					if ((rc = pq_begin_list(w, f)) == PQ_OK && depth < 62)
					{
						stack[depth++] = group;
						stack[depth++] = -2 - f;	/* marks a list frame */
						group = f;
					}
				}
				else if ((rc = pq_begin_group(w, f)) == PQ_OK && depth < 63)
				{
					stack[depth++] = group;
					group = f;
				}
				break;
			case 3:
				if (pq_field_is_list(s, group) || pq_field_is_map(s, group) ||
					(depth > 0 && stack[depth - 1] <= -2))
				{
					rc = pq_list_element(w);
					if (rc == PQ_OK && pq_field_repeated_group(s, group) != PQ_NO_FIELD)
						group = pq_field_repeated_group(s, group);
				}
				else
					rc = pq_list_element(w);
				break;
			case 4:
				if (depth > 0 && stack[depth - 1] <= -2)
				{
					rc = pq_end_list(w);
					depth--;
					group = stack[--depth];
				}
				else if (depth > 0)
				{
					rc = pq_end_group(w);
					group = stack[--depth];
				}
				else
					rc = pq_end_group(w);	/* unbalanced on purpose */
				break;
			default:
				rc = pq_null(w, f);
				break;
		}
		if (rc != PQ_OK)
			failed = 1;
	}
	if (!failed && take(in, 8) != 0)
	{
		/* close what is open, then commit */
		while (depth > 0 && !failed)
		{
			if (stack[depth - 1] <= -2)
			{
				failed |= pq_end_list(w) != PQ_OK;
				depth--;
			}
			else
				failed |= pq_end_group(w) != PQ_OK;
			depth--;
		}
		if (!failed && pq_end_record(w) == PQ_OK)
			return true;
	}
	pq_abandon_record(w);
	return false;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input		in = {data, size};
	counting	cnt = {0, -1};
	pq_allocator alloc = {c_malloc, c_realloc, c_free, &cnt};
	sink_state	sink = {NULL, 0, 0, -1};
	pq_options	o;
	pq_schema  *s;
	pq_writer  *w = NULL;
	int64_t		committed = 0;
	bool		broken = false;

	s = pq_schema_new(&alloc);
	if (s == NULL)
		return 0;
	build_schema(s, &in);
	pq_options_init(&o);
	o.page_size_limit = 64 + take(&in, 4096);
	o.dictionary_limit = take(&in, 2048);
	o.row_group_max_rows = take(&in, 50);
	o.row_group_size = take(&in, 4) == 0 ? 1 + take(&in, 10000) : o.row_group_size;
	o.compression = take(&in, 3) == 0 ? PQ_UNCOMPRESSED : PQ_ZSTD;
	o.zstd_level = 1;
	o.enable_dictionary = take(&in, 4) != 0;
	o.data_page_version = 1 + (int) take(&in, 2);
	o.memory_limit = take(&in, 4) == 0 ? 1 + take(&in, 20000) : 0;
	if (take(&in, 8) == 0)
		cnt.budget = take(&in, 300);	/* fault injection: allocations fail from here */
	if (take(&in, 8) == 0)
		sink.fail_after = take(&in, 20);
	if (pq_writer_open(&w, s, &o, (pq_sink) {keep, &sink}, &alloc, NULL, 0) == PQ_OK)
	{
		for (int r = (int) take(&in, 200); r > 0 && in.n > 0 && !broken; r--)
		{
			if (write_record(w, s, &in))
				committed++;
			else if (strstr(pq_writer_error(w), "sink") || strstr(pq_writer_error(w), "memory"))
				broken = true;
		}
		if (!broken && cnt.budget < 0 && sink.fail_after < 0)
		{
			uint32_t	footer;

			if (pq_writer_close(w) != PQ_OK)
			{
				/* nothing can fail here without injected faults */
				fprintf(stderr, "close failed: %s\n", pq_writer_error(w));
				abort();
			}
			if (pq_writer_num_rows(w) != committed || sink.len < 12 ||
				memcmp(sink.data, "PAR1", 4) != 0 || memcmp(sink.data + sink.len - 4, "PAR1", 4) != 0)
				abort();
			memcpy(&footer, sink.data + sink.len - 8, 4);
			if ((size_t) footer + 12 > sink.len)
				abort();
		}
		else
			pq_writer_close(w);
		pq_writer_free(w);
	}
	pq_schema_free(s);
	if (cnt.live != 0)
		abort();				/* every block allocated through the allocator came back */
	free(sink.data);
	return 0;
}
