/*
 * pqbench.c — the encoder half of bench/parquet/run.sh.
 *
 *   build/parquet/pqbench EVENTS.ndjson OUT.parquet
 *
 * Reads OCSF events one NDJSON line at a time, parses each into a small DOM (timed
 * apart: "parse"), then shreds the DOM into the Parquet writer and encodes (timed:
 * "encode" — what the extension's shredder will do with an already-parsed jsonb).
 * The schema is inferred from the first events (objects become groups, arrays LISTs,
 * int/double/string/bool leaves; a field seen with conflicting types is kept as its
 * JSON text), the way DuckDB's read_json infers its table. A second pass encodes
 * UNCOMPRESSED and times zstd -3 alone on each page body ("zstd_alone").
 * Prints one JSON object with the measurements.
 */
#include "parquet/parquet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

/* ---------------- a small JSON DOM ---------------- */
enum
{
	J_NULL, J_BOOL, J_INT, J_DOUBLE, J_STRING, J_OBJECT, J_ARRAY
};

typedef struct jv jv;
typedef struct jmember jmember;
struct jv
{
	int			type;
	size_t		n;
	const char *raw;			/* the value's JSON text */
	size_t		rawlen;
	union
	{
		bool		b;
		long long	i;
		double		d;
		struct
		{
			const char *s;
			size_t		len;
		}			str;
		jv		   *items;
		jmember    *members;
	}			u;
};
struct jmember
{
	const char *key;
	size_t		klen;
	jv			val;
};

static char *arena;
static size_t arena_len,
			arena_cap;
static jmember *mstack;
static size_t mtop,
			mcap;
static jv  *istack;
static size_t itop,
			icap;

static void *
arena_alloc(size_t n)
{
	void	   *p;

	n = (n + 15) & ~(size_t) 15;
	if (arena_len + n > arena_cap)
	{
		fprintf(stderr, "pqbench: event too large for the arena\n");
		exit(1);
	}
	p = arena + arena_len;
	arena_len += n;
	return p;
}

static const char *jp;

static void
skip_ws(void)
{
	while (*jp == ' ' || *jp == '\t' || *jp == '\n' || *jp == '\r')
		jp++;
}

static int	parse_value(jv *out);

static int
parse_string(const char **s, size_t *len)
{
	const char *start = ++jp;
	char	   *d,
			   *d0;

	while (*jp != '"' && *jp != '\\' && *jp)
		jp++;
	if (*jp == '"')
	{
		*s = start;
		*len = (size_t) (jp - start);
		jp++;
		return 0;
	}
	/* escapes: unescape into the arena */
	d = d0 = arena_alloc(strlen(start) + 1);
	jp = start;
	while (*jp && *jp != '"')
	{
		if (*jp != '\\')
		{
			*d++ = *jp++;
			continue;
		}
		jp++;
		switch (*jp)
		{
			case 'n': *d++ = '\n'; break;
			case 't': *d++ = '\t'; break;
			case 'r': *d++ = '\r'; break;
			case 'b': *d++ = '\b'; break;
			case 'f': *d++ = '\f'; break;
			case 'u':
				{
					unsigned	c = (unsigned) strtoul((char[5]) {jp[1], jp[2], jp[3], jp[4], 0}, NULL, 16);

					jp += 4;
					if (c < 0x80)
						*d++ = (char) c;
					else if (c < 0x800)
					{
						*d++ = (char) (0xc0 | (c >> 6));
						*d++ = (char) (0x80 | (c & 0x3f));
					}
					else
					{
						*d++ = (char) (0xe0 | (c >> 12));
						*d++ = (char) (0x80 | ((c >> 6) & 0x3f));
						*d++ = (char) (0x80 | (c & 0x3f));
					}
					break;
				}
			default: *d++ = *jp; break;
		}
		jp++;
	}
	if (*jp != '"')
		return -1;
	jp++;
	*s = d0;
	*len = (size_t) (d - d0);
	return 0;
}

static int
parse_value(jv *out)
{
	skip_ws();
	out->raw = jp;
	switch (*jp)
	{
		case '{':
			{
				size_t		base = mtop;

				jp++;
				skip_ws();
				while (*jp != '}')
				{
					jmember		m;

					skip_ws();
					if (*jp != '"' || parse_string(&m.key, &m.klen) != 0)
						return -1;
					skip_ws();
					if (*jp++ != ':' || parse_value(&m.val) != 0)
						return -1;
					if (mtop == mcap)
						mstack = realloc(mstack, (mcap = mcap * 2 + 64) * sizeof(jmember));
					mstack[mtop++] = m;
					skip_ws();
					if (*jp == ',')
						jp++;
					else if (*jp != '}')
						return -1;
				}
				jp++;
				out->type = J_OBJECT;
				out->n = mtop - base;
				out->u.members = arena_alloc(out->n * sizeof(jmember));
				memcpy(out->u.members, mstack + base, out->n * sizeof(jmember));
				mtop = base;
				break;
			}
		case '[':
			{
				size_t		base = itop;

				jp++;
				skip_ws();
				while (*jp != ']')
				{
					jv			v;

					if (parse_value(&v) != 0)
						return -1;
					if (itop == icap)
						istack = realloc(istack, (icap = icap * 2 + 64) * sizeof(jv));
					istack[itop++] = v;
					skip_ws();
					if (*jp == ',')
						jp++;
					else if (*jp != ']')
						return -1;
				}
				jp++;
				out->type = J_ARRAY;
				out->n = itop - base;
				out->u.items = arena_alloc(out->n * sizeof(jv));
				memcpy(out->u.items, istack + base, out->n * sizeof(jv));
				itop = base;
				break;
			}
		case '"':
			out->type = J_STRING;
			if (parse_string(&out->u.str.s, &out->u.str.len) != 0)
				return -1;
			break;
		case 't':
		case 'f':
			out->type = J_BOOL;
			out->u.b = *jp == 't';
			jp += out->u.b ? 4 : 5;
			break;
		case 'n':
			out->type = J_NULL;
			jp += 4;
			break;
		default:
			{
				const char *start = jp;
				bool		integer = true;

				if (*jp == '-')
					jp++;
				while ((*jp >= '0' && *jp <= '9') || *jp == '.' || *jp == 'e' || *jp == 'E' || *jp == '+' || *jp == '-')
				{
					if (*jp == '.' || *jp == 'e' || *jp == 'E')
						integer = false;
					jp++;
				}
				if (jp == start)
					return -1;
				if (integer && jp - start < 19)
				{
					out->type = J_INT;
					out->u.i = strtoll(start, NULL, 10);
				}
				else
				{
					out->type = J_DOUBLE;
					out->u.d = strtod(start, NULL);
				}
			}
	}
	out->rawlen = (size_t) (jp - out->raw);
	return 0;
}

/* ---------------- schema inference ---------------- */
enum
{
	S_NONE, S_BOOL, S_INT, S_DOUBLE, S_STRING, S_OBJECT, S_ARRAY, S_JSON
};

typedef struct shape shape;
struct shape
{
	int			kind;
	char	  **keys;
	size_t	   *klens;
	shape	  **kids;
	size_t		nkids;
	shape	   *elem;
	pq_field	field;
	pq_field	elem_field;		/* for arrays: the element field */
};

static shape *
new_shape(void)
{
	shape	   *s = calloc(1, sizeof(shape));

	s->field = s->elem_field = PQ_NO_FIELD;
	return s;
}

static int
kind_of(const jv *v)
{
	switch (v->type)
	{
		case J_BOOL: return S_BOOL;
		case J_INT: return S_INT;
		case J_DOUBLE: return S_DOUBLE;
		case J_STRING: return S_STRING;
		case J_OBJECT: return S_OBJECT;
		case J_ARRAY: return S_ARRAY;
	}
	return S_NONE;
}

static void
merge(shape *s, const jv *v)
{
	int			k = kind_of(v);

	if (k == S_NONE || s->kind == S_JSON)
		return;
	if (s->kind == S_NONE)
		s->kind = k;
	else if (s->kind != k)
	{
		s->kind = ((s->kind == S_INT && k == S_DOUBLE) || (s->kind == S_DOUBLE && k == S_INT)) ? S_DOUBLE : S_JSON;
		return;
	}
	if (k == S_OBJECT)
		for (size_t i = 0; i < v->n; i++)
		{
			const jmember *m = &v->u.members[i];
			size_t		j;

			for (j = 0; j < s->nkids; j++)
				if (s->klens[j] == m->klen && memcmp(s->keys[j], m->key, m->klen) == 0)
					break;
			if (j == s->nkids)
			{
				s->keys = realloc(s->keys, (j + 1) * sizeof(char *));
				s->klens = realloc(s->klens, (j + 1) * sizeof(size_t));
				s->kids = realloc(s->kids, (j + 1) * sizeof(shape *));
				s->keys[j] = strndup(m->key, m->klen);
				s->klens[j] = m->klen;
				s->kids[j] = new_shape();
				s->nkids++;
			}
			merge(s->kids[j], &m->val);
		}
	else if (k == S_ARRAY)
	{
		if (s->elem == NULL)
			s->elem = new_shape();
		for (size_t i = 0; i < v->n; i++)
			merge(s->elem, &v->u.items[i]);
		if (s->elem->kind == S_ARRAY)
			s->kind = S_JSON;	/* arrays of arrays: kept as JSON text */
	}
}

static bool
has_leaves(const shape *s)
{
	if (s->kind == S_OBJECT)
	{
		for (size_t i = 0; i < s->nkids; i++)
			if (has_leaves(s->kids[i]))
				return true;
		return false;
	}
	if (s->kind == S_ARRAY)
		return s->elem && has_leaves(s->elem);
	return s->kind != S_NONE;
}

static pq_schema *schema;
static shape **shape_of_field;
static size_t nshape_of;

static void
remember(pq_field f, shape *s)
{
	if ((size_t) f >= nshape_of)
	{
		shape_of_field = realloc(shape_of_field, ((size_t) f + 1) * 2 * sizeof(shape *));
		memset(shape_of_field + nshape_of, 0, (((size_t) f + 1) * 2 - nshape_of) * sizeof(shape *));
		nshape_of = ((size_t) f + 1) * 2;
	}
	shape_of_field[f] = s;
}

static void
build(shape *s, pq_field parent, const char *name, bool element)
{
	pq_repetition rep = PQ_OPTIONAL;
	int			rc = PQ_OK;

	(void) element;
	if (!has_leaves(s))
		return;
	switch (s->kind)
	{
		case S_BOOL:
			rc = pq_schema_add_leaf(schema, parent, name, rep, PQ_BOOLEAN, PQ_LOGICAL_NONE, &s->field);
			break;
		case S_INT:
			rc = pq_schema_add_leaf(schema, parent, name, rep, PQ_INT64, PQ_LOGICAL_NONE, &s->field);
			break;
		case S_DOUBLE:
			rc = pq_schema_add_leaf(schema, parent, name, rep, PQ_DOUBLE, PQ_LOGICAL_NONE, &s->field);
			break;
		case S_STRING:
			rc = pq_schema_add_leaf(schema, parent, name, rep, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &s->field);
			break;
		case S_JSON:
			rc = pq_schema_add_leaf(schema, parent, name, rep, PQ_BYTE_ARRAY, PQ_LOGICAL_JSON, &s->field);
			break;
		case S_OBJECT:
			if ((rc = pq_schema_add_group(schema, parent, name, rep, &s->field)) == PQ_OK)
				for (size_t i = 0; i < s->nkids; i++)
					build(s->kids[i], s->field, s->keys[i], false);
			break;
		case S_ARRAY:
			{
				pq_field	repeated;

				if ((rc = pq_schema_add_list(schema, parent, name, rep, &s->field, &repeated)) == PQ_OK)
				{
					build(s->elem, repeated, "element", true);
					s->elem_field = s->elem->field;
				}
				break;
			}
	}
	if (rc != PQ_OK)
	{
		fprintf(stderr, "pqbench: schema: %s\n", pq_schema_error(schema));
		exit(1);
	}
	remember(s->field, s);
}

/* ---------------- shredding ---------------- */
static long long skipped_values;

static int	emit(pq_writer *w, const shape *s, pq_field f, const jv *v);

static int
emit_members(pq_writer *w, pq_field group, const jv *obj)
{
	for (size_t i = 0; i < obj->n; i++)
	{
		const jmember *m = &obj->u.members[i];
		pq_field	f;

		if (m->val.type == J_NULL)
			continue;
		f = pq_schema_child(schema, group, m->key, m->klen);
		if (f == PQ_NO_FIELD)
		{
			skipped_values++;
			continue;
		}
		if (emit(w, shape_of_field[f], f, &m->val) != PQ_OK)
			return -1;
	}
	return PQ_OK;
}

static int
emit(pq_writer *w, const shape *s, pq_field f, const jv *v)
{
	switch (s->kind)
	{
		case S_BOOL:
			return v->type == J_BOOL ? pq_value_bool(w, f, v->u.b) : (skipped_values++, 0);
		case S_INT:
			return v->type == J_INT ? pq_value_int64(w, f, v->u.i) : (skipped_values++, 0);
		case S_DOUBLE:
			if (v->type == J_INT)
				return pq_value_double(w, f, (double) v->u.i);
			return v->type == J_DOUBLE ? pq_value_double(w, f, v->u.d) : (skipped_values++, 0);
		case S_STRING:
			return v->type == J_STRING ? pq_value_bytes(w, f, v->u.str.s, v->u.str.len) : (skipped_values++, 0);
		case S_JSON:
			return pq_value_bytes(w, f, v->raw, v->rawlen);
		case S_OBJECT:
			if (v->type != J_OBJECT)
				return skipped_values++, 0;
			if (pq_begin_group(w, f) != PQ_OK || emit_members(w, f, v) != PQ_OK)
				return -1;
			return pq_end_group(w);
		case S_ARRAY:
			if (v->type != J_ARRAY)
				return skipped_values++, 0;
			if (pq_begin_list(w, f) != PQ_OK)
				return -1;
			for (size_t i = 0; i < v->n; i++)
			{
				if (pq_list_element(w) != PQ_OK)
					return -1;
				if (v->u.items[i].type != J_NULL && emit(w, s->elem, s->elem_field, &v->u.items[i]) != PQ_OK)
					return -1;
			}
			return pq_end_list(w);
	}
	return 0;
}

/* ---------------- driver ---------------- */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
file_sink(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, ctx) == len ? 0 : -1;
}

/* For the zstd-alone pass: compress each page body at level 3, timing only zstd. */
typedef struct zstd_sink
{
	ZSTD_CCtx  *cctx;
	void	   *dst;
	size_t		dstcap;
	double		seconds;
	size_t		in_bytes;
	size_t		out_bytes;
} zstd_sink;

static int
zstd_write(void *ctx, const void *buf, size_t len)
{
	zstd_sink  *z = ctx;
	double		t;
	size_t		r;

	if (len < 64)				/* page headers, magic */
		return 0;
	if (ZSTD_compressBound(len) > z->dstcap)
	{
		z->dstcap = ZSTD_compressBound(len);
		z->dst = realloc(z->dst, z->dstcap);
	}
	t = now();
	r = ZSTD_compressCCtx(z->cctx, z->dst, z->dstcap, buf, len, 3);
	z->seconds += now() - t;
	if (ZSTD_isError(r))
		return -1;
	z->in_bytes += len;
	z->out_bytes += r;
	return 0;
}

static FILE *
open_events(const char *path)
{
	FILE	   *f = fopen(path, "r");

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	return f;
}

static void
infer_schema(const char *path, long sample)
{
	FILE	   *f = open_events(path);
	char	   *line = NULL;
	size_t		cap = 0;
	shape	   *root = new_shape();

	for (long i = 0; i < sample && getline(&line, &cap, f) > 0; i++)
	{
		jv			v;

		arena_len = 0;
		jp = line;
		if (parse_value(&v) != 0)
		{
			fprintf(stderr, "pqbench: bad JSON on line %ld\n", i + 1);
			exit(1);
		}
		merge(root, &v);
	}
	fclose(f);
	free(line);
	schema = pq_schema_new(NULL);
	for (size_t i = 0; i < root->nkids; i++)
		build(root->kids[i], PQ_ROOT, root->keys[i], false);
	root->field = PQ_ROOT;
	remember(PQ_ROOT, root);
}

/* zstd -3 alone on the NDJSON itself, in 1 MiB chunks (the reference rate). */
typedef struct ndjson_zstd
{
	ZSTD_CCtx  *cctx;
	char	   *buf;
	size_t		len;
	void	   *dst;
	size_t		dstcap;
	double		seconds;
	size_t		out_bytes;
} ndjson_zstd;

static void
ndjson_flush(ndjson_zstd *z)
{
	double		t;
	size_t		r;

	if (z->len == 0)
		return;
	t = now();
	r = ZSTD_compressCCtx(z->cctx, z->dst, z->dstcap, z->buf, z->len, 3);
	z->seconds += now() - t;
	if (!ZSTD_isError(r))
		z->out_bytes += r;
	z->len = 0;
}

static void
ndjson_add(ndjson_zstd *z, const char *line, size_t n)
{
	if (z->len + n > (1 << 20))
		ndjson_flush(z);
	if (n > (1 << 20))
		return;
	memcpy(z->buf + z->len, line, n);
	z->len += n;
}

static ndjson_zstd *ndjson_z;

typedef struct pass_result
{
	long long	events;
	double		parse;
	double		encode;
	uint64_t	bytes;
	size_t		json_bytes;
	int32_t		row_groups;
} pass_result;

static pass_result
run_pass(const char *events, pq_sink sink, pq_compression codec)
{
	FILE	   *f = open_events(events);
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	pq_options	o;
	pq_writer  *w;
	char		err[256];
	pass_result r = {0};
	pq_key_value kv[] = {{"ocsf_class_uid", "3002"}};

	pq_options_init(&o);
	o.compression = codec;
	if (getenv("PQBENCH_PAGE_SIZE"))	/* for experiments */
		o.page_size_limit = (size_t) atol(getenv("PQBENCH_PAGE_SIZE"));
	if (getenv("PQBENCH_ZSTD_LEVEL"))
		o.zstd_level = atoi(getenv("PQBENCH_ZSTD_LEVEL"));
	o.key_value_metadata = kv;
	o.num_key_value_metadata = 1;
	if (pq_writer_open(&w, schema, &o, sink, NULL, err, sizeof(err)) != PQ_OK)
	{
		fprintf(stderr, "pqbench: open: %s\n", err);
		exit(1);
	}
	while ((n = getline(&line, &cap, f)) > 0)
	{
		double		t0 = now(),
					t1,
					t2;
		jv			v;

		arena_len = 0;
		jp = line;
		if (parse_value(&v) != 0 || v.type != J_OBJECT)
		{
			fprintf(stderr, "pqbench: bad JSON event %lld\n", r.events + 1);
			exit(1);
		}
		t1 = now();
		if (ndjson_z)
			ndjson_add(ndjson_z, line, (size_t) n);
		t1 = now();
		if (pq_begin_record(w) != PQ_OK || emit_members(w, PQ_ROOT, &v) != PQ_OK || pq_end_record(w) != PQ_OK)
		{
			fprintf(stderr, "pqbench: event %lld: %s\n", r.events + 1, pq_writer_error(w));
			pq_abandon_record(w);
		}
		t2 = now();
		r.parse += t1 - t0;
		r.encode += t2 - t1;
		r.json_bytes += (size_t) n;
		r.events++;
	}
	{
		double		t = now();

		if (pq_writer_close(w) != PQ_OK)
		{
			fprintf(stderr, "pqbench: close: %s\n", pq_writer_error(w));
			exit(1);
		}
		r.encode += now() - t;
	}
	r.bytes = pq_writer_bytes_written(w);
	r.row_groups = pq_writer_num_row_groups(w);
	pq_writer_free(w);
	fclose(f);
	free(line);
	return r;
}

int
main(int argc, char **argv)
{
	FILE	   *out;
	pass_result a,
				b;
	zstd_sink	z = {0};

	if (argc != 3)
	{
		fprintf(stderr, "usage: pqbench EVENTS.ndjson OUT.parquet\n");
		return 2;
	}
	arena_cap = 64 << 20;
	arena = malloc(arena_cap);
	infer_schema(argv[1], 20000);
	out = fopen(argv[2], "wb");
	if (out == NULL)
	{
		perror(argv[2]);
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	a = run_pass(argv[1], (pq_sink) {file_sink, out}, PQ_ZSTD);
	fclose(out);
	z.cctx = ZSTD_createCCtx();
	{
		static ndjson_zstd nz;

		nz.cctx = ZSTD_createCCtx();
		nz.buf = malloc(1 << 20);
		nz.dstcap = ZSTD_compressBound(1 << 20);
		nz.dst = malloc(nz.dstcap);
		ndjson_z = &nz;
	}
	b = run_pass(argv[1], (pq_sink) {zstd_write, &z}, PQ_UNCOMPRESSED);
	ndjson_flush(ndjson_z);
	printf("{\"events\": %lld, \"leaves\": %d, \"json_bytes\": %zu, \"parse_s\": %.3f, \"encode_s\": %.3f, "
		   "\"bytes\": %llu, \"row_groups\": %d, \"skipped_values\": %lld, "
		   "\"encode_uncompressed_s\": %.3f, \"page_bytes\": %zu, \"zstd_alone_s\": %.3f, \"zstd_alone_bytes\": %zu, "
		   "\"zstd_ndjson_s\": %.3f, \"zstd_ndjson_bytes\": %zu}\n",
		   a.events, pq_schema_num_leaves(schema), a.json_bytes, a.parse, a.encode,
		   (unsigned long long) a.bytes, a.row_groups, skipped_values,
		   b.encode - z.seconds, z.in_bytes, z.seconds, z.out_bytes,
		   ndjson_z->seconds, ndjson_z->out_bytes);
	ZSTD_freeCCtx(z.cctx);
	free(z.dst);
	pq_schema_free(schema);
	free(arena);
	return 0;
}
