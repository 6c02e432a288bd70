/*
 * pqbench.c — the encoder half of bench/parquet/run.sh.
 *
 *   build/parquet/pqbench EVENTS.ndjson OUT.parquet           inferred schema
 *   build/parquet/pqbench --ocsf EVENTS.ndjson OUT.parquet    full OCSF class schema
 *
 * Reads OCSF events one NDJSON line at a time, parses each into a small DOM (timed
 * apart: "parse"), then shreds the DOM into the Parquet writer and encodes (timed:
 * "encode" — what the extension's shredder will do with an already-parsed jsonb).
 *
 * Inferred schema (default): inferred from the first events (objects become groups,
 * arrays LISTs, int/double/string/bool leaves; a field seen with conflicting types is
 * kept as its JSON text), the way DuckDB's read_json infers its table. A second pass
 * encodes UNCOMPRESSED and times zstd -3 alone on each page body ("zstd_alone").
 *
 * --ocsf: the built-in schema of OCSF 1.1.0 class 3002 (Authentication), built by
 * src/ocsf's ocsf_pq_schema_build() exactly as the extension builds it (every attribute,
 * objects cut at the default depth, `unmapped` a MAP<STRING,STRING>), shredded by the
 * rules of src/shred.c (see "the full OCSF class schema" below). A last pass encodes
 * a sparse copy of the same events — only the attributes the extension requires (the
 * class's required attributes and metadata's) — with the same schema, to a null sink.
 *
 * Both modes also encode the events grouped by sample (PQBENCH_GROUPS sweeps, default 5:
 * see run_pass) to a null sink, and time row-group closes apart ("close_s").
 *
 * Prints one JSON object with the measurements. No PostgreSQL headers: this links
 * src/parquet and src/ocsf only.
 */
#include "ocsf/ocsf.h"
#include "ocsf/ocsf_parquet.h"
#include "parquet/parquet.h"

#include <math.h>
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
static long long values_emitted;	/* leaf values given to the writer (both modes) */

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
	if (s->kind != S_OBJECT && s->kind != S_ARRAY)
		values_emitted++;
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

/* ---------------- the full OCSF class schema (--ocsf) ---------------- */
/*
 * The class's Parquet schema as src/ocsf builds it for the extension (every attribute of
 * the class, objects cut at the default depth, `unmapped` a MAP<STRING,STRING>), and a
 * shredder that follows src/shred.c's rules: strict types (an event with a value that
 * does not fit its column is rejected and abandoned), datetime_t columns take RFC 3339
 * strings or epoch milliseconds, json_t columns the value's JSON text, keys without a
 * column go to `unmapped` under their JSONPath ("$.a.b[0]" -> JSON text, strings as
 * themselves unless their text reads as JSON), the event's own `unmapped` entries under
 * their own keys, and the required attributes of the class and of `metadata` (and of a
 * profile the event declares) must be present. Differences from src/shred.c: keys match
 * exactly (the extension ignores ASCII case), JSON text is the input's own text (the
 * extension re-serializes jsonb), no 1 MiB value or nesting-depth limits are checked.
 */
#define OCSF_BENCH_VERSION "1.1.0"
#define OCSF_BENCH_CLASS 3002
#define SHRED_REJECT 1			/* the event does not fit: abandoned, counted */
#define SHRED_MAX_DEPTH 64

enum
{
	K_GROUP, K_LIST, K_MAP, K_BOOL, K_INT32, K_INT64, K_TIMESTAMP, K_DOUBLE, K_STRING, K_JSON, K_OTHER
};

static ocsf_pq_schema ocsf;
static uint8_t *fkind;			/* per field */
static pq_field *fsub;			/* LIST: its element; MAP: its key */
static pq_field *fval;			/* MAP: its value */
static bool *fmust;				/* must exist in its parent object (class / metadata required) */
static pq_field *fmust_list;	/* per group: its must-exist children, from fmust_start */
static int32_t *fmust_start;	/* num_fields + 1 offsets into fmust_list */
static uint32_t *fseen;			/* per field: the group visit that last carried it */
static uint32_t visit;
static pq_field f_unmapped = PQ_NO_FIELD,
			f_unmapped_key = PQ_NO_FIELD,
			f_unmapped_value = PQ_NO_FIELD;
static pq_field f_metadata = PQ_NO_FIELD;
static pq_field *profiled;		/* root fields required by a profile */
static int	nprofiled;
static long long unmapped_entries;
static long long rejected_events;
static const char *reject_reason;

/* the current position, for JSONPaths: a key, or (key NULL) an array index */
static const char *pkey[SHRED_MAX_DEPTH];
static size_t plen[SHRED_MAX_DEPTH];
static int	pdepth;

/* this event's unmapped entries (in the DOM arena, reset per event) */
typedef struct unmapped_kv
{
	const char *k;
	size_t		klen;
	const char *v;
	size_t		vlen;
} unmapped_kv;
static unmapped_kv *ukv;
static size_t nukv,
			ukvcap;

static char reject_path[512];

/* Reject the event (SHRED_REJECT); the first few reasons are kept with their path. */
static int
shred_reject(const char *why)
{
	if (reject_reason == NULL && rejected_events < 5)
	{
		size_t		n = 0;

		reject_reason = why;
		for (int i = 0; i < pdepth && n < sizeof(reject_path) - 32; i++)
			n += (size_t) (pkey[i]
						   ? snprintf(reject_path + n, sizeof(reject_path) - n, "%s%.*s", i ? "." : "",
									  (int) (plen[i] < 200 ? plen[i] : 200), pkey[i])
						   : snprintf(reject_path + n, sizeof(reject_path) - n, "[%zu]", plen[i]));
		reject_path[n] = '\0';
	}
	return SHRED_REJECT;
}

static void
ocsf_schema_load(void)
{
	const ocsf_version *v = ocsf_find_version(OCSF_BENCH_VERSION);
	char		err[256];
	int32_t		nf,
				n = 0;

	if (ocsf_pq_schema_build(&ocsf, v, OCSF_BENCH_CLASS, NULL, NULL, err, sizeof(err)) != PQ_OK)
	{
		fprintf(stderr, "pqbench: OCSF schema: %s\n", err);
		exit(1);
	}
	schema = ocsf.schema;
	nf = pq_schema_num_fields(schema);
	fkind = calloc((size_t) nf, 1);
	fsub = calloc((size_t) nf, sizeof(pq_field));
	fval = calloc((size_t) nf, sizeof(pq_field));
	fmust = calloc((size_t) nf, sizeof(bool));
	fmust_list = calloc((size_t) nf, sizeof(pq_field));
	fmust_start = calloc((size_t) nf + 1, sizeof(int32_t));
	fseen = calloc((size_t) nf, sizeof(uint32_t));
	profiled = calloc((size_t) nf, sizeof(pq_field));
	f_metadata = pq_schema_child(schema, PQ_ROOT, "metadata", 8);
	for (pq_field f = 0; f < nf; f++)
	{
		const ocsf_attr *a = ocsf_pq_field_attr(&ocsf, f);
		pq_field	parent = f == PQ_ROOT ? PQ_NO_FIELD : pq_field_parent(schema, f);
		bool		under_metadata = false;

		fsub[f] = fval[f] = PQ_NO_FIELD;
		if (pq_field_is_map(schema, f))
		{
			fkind[f] = K_MAP;
			fsub[f] = pq_field_child(schema, pq_field_repeated_group(schema, f), 0);
			fval[f] = pq_field_child(schema, pq_field_repeated_group(schema, f), 1);
		}
		else if (pq_field_is_list(schema, f))
		{
			fkind[f] = K_LIST;
			fsub[f] = pq_field_child(schema, pq_field_repeated_group(schema, f), 0);
		}
		else if (!pq_field_is_leaf(schema, f))
			fkind[f] = K_GROUP;
		else
			switch (pq_field_physical(schema, f))
			{
				case PQ_BOOLEAN: fkind[f] = K_BOOL; break;
				case PQ_INT32: fkind[f] = K_INT32; break;
				case PQ_INT64:
					fkind[f] = pq_field_logical(schema, f) == PQ_LOGICAL_TIMESTAMP_MILLIS ? K_TIMESTAMP : K_INT64;
					break;
				case PQ_DOUBLE: fkind[f] = K_DOUBLE; break;
				case PQ_BYTE_ARRAY:
					{
						pq_column_type type;

						fkind[f] = ocsf_pq_leaf_column_type(&ocsf, f, &type) && type == PQ_COL_JSON ? K_JSON : K_STRING;
					}
					break;
				default: fkind[f] = K_OTHER; break;
			}
		/* must exist: the class's required attributes and everything required under metadata */
		for (pq_field p = parent; p != PQ_NO_FIELD && p != PQ_ROOT; p = pq_field_parent(schema, p))
			if (p == f_metadata)
				under_metadata = true;
		if (a != NULL && parent != PQ_NO_FIELD && fkind[parent] == K_GROUP &&
			a->requirement == OCSF_REQUIRED && a->profile == NULL &&
			(parent == PQ_ROOT || under_metadata))
			fmust[f] = true;
		if (a != NULL && parent == PQ_ROOT && a->requirement == OCSF_REQUIRED && a->profile != NULL)
			profiled[nprofiled++] = f;
	}
	for (pq_field g = 0; g < nf; g++)
	{
		fmust_start[g] = n;
		if (fkind[g] == K_GROUP)
			for (int32_t i = 0; i < pq_field_num_children(schema, g); i++)
				if (fmust[pq_field_child(schema, g, i)])
					fmust_list[n++] = pq_field_child(schema, g, i);
	}
	fmust_start[nf] = n;
	f_unmapped = pq_schema_child(schema, PQ_ROOT, "unmapped", 8);
	if (f_unmapped != PQ_NO_FIELD && fkind[f_unmapped] == K_MAP)
	{
		f_unmapped_key = fsub[f_unmapped];
		f_unmapped_value = fval[f_unmapped];
	}
	else
		f_unmapped = PQ_NO_FIELD;
}

/* JSON number grammar, the whole of s[0..len) */
static bool
is_json_number(const char *s, size_t len)
{
	size_t		i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i == len)
		return false;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < len && s[i] == '.')
	{
		size_t		d = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		size_t		d;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		d = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == len;
}

/* True if the string's text is itself a JSON document ("42", "true", "[1]", ...). */
static bool
string_reads_as_json(const char *s, size_t len)
{
	char	   *copy;
	const char *save = jp;
	jv			v;
	bool		ok;

	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (len == 0)
		return false;
	switch (*s)
	{
		case 't': return len == 4 && memcmp(s, "true", 4) == 0;
		case 'f': return len == 5 && memcmp(s, "false", 5) == 0;
		case 'n': return len == 4 && memcmp(s, "null", 4) == 0;
		case '{':
		case '[':
		case '"':
			break;
		default:
			return is_json_number(s, len);
	}
	/* a container or a quoted string: the toy parser on a zero-padded copy */
	copy = arena_alloc(len + 8);
	memcpy(copy, s, len);
	memset(copy + len, 0, 8);
	jp = copy;
	ok = parse_value(&v) == 0 && jp == copy + len;
	jp = save;
	return ok;
}

/* An unmapped value: a string as itself unless it reads as JSON, anything else JSON text. */
static void
unmapped_text(const jv *v, const char **s, size_t *len)
{
	if (v->type == J_STRING && !string_reads_as_json(v->u.str.s, v->u.str.len))
	{
		*s = v->u.str.s;
		*len = v->u.str.len;
	}
	else
	{
		*s = v->raw;
		*len = v->rawlen;
	}
}

static void
keep_unmapped(const char *k, size_t klen, const jv *v)
{
	if (nukv == ukvcap)
		ukv = realloc(ukv, (ukvcap = ukvcap * 2 + 16) * sizeof(unmapped_kv));
	ukv[nukv].k = k;
	ukv[nukv].klen = klen;
	unmapped_text(v, &ukv[nukv].v, &ukv[nukv].vlen);
	nukv++;
}

/* One key as a JSONPath segment: .name for a plain identifier, else ["..."] */
static size_t
path_segment(char *d, const char *key, size_t len)
{
	bool		plain = len > 0 && !(key[0] >= '0' && key[0] <= '9');
	size_t		n = 0;

	for (size_t i = 0; i < len && plain; i++)
		plain = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
			(key[i] >= '0' && key[i] <= '9') || key[i] == '_';
	if (plain)
	{
		d[n++] = '.';
		memcpy(d + n, key, len);
		return n + len;
	}
	d[n++] = '[';
	d[n++] = '"';
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) key[i];

		if (c == '"' || c == '\\')
			d[n++] = '\\', d[n++] = (char) c;
		else if (c < 0x20)
			n += (size_t) sprintf(d + n, "\\u%04x", c);
		else
			d[n++] = (char) c;
	}
	d[n++] = '"';
	d[n++] = ']';
	return n;
}

/* --- PQBENCH_UNMAPPED_PATHS=1: list the distinct unmapped paths (stderr) --- */
static bool list_paths;
static struct
{
	char	   *k;
	long long	n;
}			upaths[256];
static int	nupaths;

static void
note_unmapped_path(const char *k, size_t len)
{
	int			i;

	for (i = 0; i < nupaths; i++)
		if (strlen(upaths[i].k) == len && memcmp(upaths[i].k, k, len) == 0)
			break;
	if (i == nupaths && nupaths < 256)
		upaths[nupaths++].k = strndup(k, len);
	if (i < nupaths)
		upaths[i].n++;
}

/* A key without a column: kept under its JSONPath from the event's root. */
static void
keep_unmapped_path(const jv *v)
{
	size_t		cap = 1,
				n;
	char	   *d;

	for (int i = 0; i < pdepth; i++)
		cap += pkey[i] ? plen[i] * 6 + 4 : 24;
	d = arena_alloc(cap);
	d[0] = '$';
	n = 1;
	for (int i = 0; i < pdepth; i++)
		n += pkey[i] ? path_segment(d + n, pkey[i], plen[i]) : (size_t) sprintf(d + n, "[%zu]", plen[i]);
	if (list_paths)
		note_unmapped_path(d, n);
	keep_unmapped(d, n, v);
}

/* The event's own `unmapped` object: each entry under its own key ("$..." keys as paths). */
static void
own_unmapped(const jv *obj)
{
	for (size_t i = 0; i < obj->n; i++)
	{
		const jmember *m = &obj->u.members[i];

		if (m->val.type == J_NULL)
			continue;
		if (m->klen > 0 && m->key[0] == '$')
		{
			char	   *d = arena_alloc(m->klen * 6 + 16);
			size_t		n = 10;

			memcpy(d, "$.unmapped", 10);
			n += path_segment(d + n, m->key, m->klen);
			keep_unmapped(d, n, &m->val);
		}
		else
			keep_unmapped(m->key, m->klen, &m->val);
	}
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
digits(const char *s, int n)
{
	int			x = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	return x;
}

/* RFC 3339 date-time (2024-05-01T12:00:00.123Z, ...+02:00) as epoch ms; false if not one */
static bool
parse_rfc3339(const char *s, size_t len, int64_t *out)
{
	int			y, mo, d, h, mi, sec, off = 0;
	int64_t		ms = 0;
	size_t		i = 19;
	int			nd = 0;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':')
		return false;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return false;
	if (s[i] == '.')
	{
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
			if (nd < 3)
				ms = ms * 10 + (s[i] - '0');
		if (nd == 0)
			return false;
		for (; nd < 3; nd++)
			ms *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		i++;
	else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
			 digits(s + i + 1, 2) >= 0 && digits(s + i + 4, 2) >= 0)
	{
		off = digits(s + i + 1, 2) * 60 + digits(s + i + 4, 2);
		if (s[i] == '-')
			off = -off;
		i += 6;
	}
	else
		return false;
	if (i != len)
		return false;
	*out = ms + ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * INT64_C(60000) + (int64_t) sec * 1000;
	return true;
}

static int	ocsf_value(pq_writer *w, pq_field f, const jv *v);
static uint32_t root_visit;

static int
ocsf_members(pq_writer *w, pq_field group, const jv *obj)
{
	uint32_t	me = ++visit;

	if (group == PQ_ROOT)
		root_visit = me;
	for (size_t i = 0; i < obj->n; i++)
	{
		const jmember *m = &obj->u.members[i];
		pq_field	f;
		int			rc = PQ_OK;

		if (m->val.type == J_NULL)
			continue;
		if (pdepth == SHRED_MAX_DEPTH)
			return shred_reject("too deep");
		f = pq_schema_child(schema, group, m->key, m->klen);
		pkey[pdepth] = m->key;
		plen[pdepth] = m->klen;
		pdepth++;
		if (f == PQ_NO_FIELD)
		{
			if (f_unmapped != PQ_NO_FIELD)
				keep_unmapped_path(&m->val);
		}
		else
		{
			fseen[f] = me;
			if (f == f_unmapped && m->val.type == J_OBJECT)
				own_unmapped(&m->val);
			else
				rc = ocsf_value(w, f, &m->val);
		}
		pdepth--;
		if (rc != PQ_OK)
			return rc;
	}
	for (int32_t i = fmust_start[group]; i < fmust_start[group + 1]; i++)
		if (fseen[fmust_list[i]] != me)
			return shred_reject("missing required attribute");
	return PQ_OK;
}

static int
ocsf_value(pq_writer *w, pq_field f, const jv *v)
{
	int			rc;

	switch (fkind[f])
	{
		case K_BOOL:
			if (v->type != J_BOOL)
				return shred_reject("expected boolean");
			values_emitted++;
			return pq_value_bool(w, f, v->u.b);
		case K_INT32:
			if (v->type != J_INT)
				return shred_reject("expected integer");
			if (v->u.i < INT32_MIN || v->u.i > INT32_MAX)
				return shred_reject("out of range");
			values_emitted++;
			return pq_value_int32(w, f, (int32_t) v->u.i);
		case K_TIMESTAMP:
			if (v->type == J_STRING)
			{
				int64_t		ms;

				if (!parse_rfc3339(v->u.str.s, v->u.str.len, &ms))
					return shred_reject("expected RFC 3339 date-time or epoch milliseconds");
				values_emitted++;
				return pq_value_int64(w, f, ms);
			}
			/* FALLTHROUGH */
		case K_INT64:
			if (v->type != J_INT)
				return shred_reject("expected long");
			values_emitted++;
			return pq_value_int64(w, f, v->u.i);
		case K_DOUBLE:
			if (v->type == J_INT)
				return values_emitted++, pq_value_double(w, f, (double) v->u.i);
			if (v->type != J_DOUBLE)
				return shred_reject("expected number");
			if (!isfinite(v->u.d))
				return shred_reject("not finite");
			values_emitted++;
			return pq_value_double(w, f, v->u.d);
		case K_STRING:
			if (v->type != J_STRING)
				return shred_reject("expected string");
			values_emitted++;
			return pq_value_bytes(w, f, v->u.str.s, v->u.str.len);
		case K_JSON:
			values_emitted++;
			return pq_value_bytes(w, f, v->raw, v->rawlen);
		case K_GROUP:
			if (v->type != J_OBJECT)
				return shred_reject("expected object");
			if ((rc = pq_begin_group(w, f)) != PQ_OK || (rc = ocsf_members(w, f, v)) != PQ_OK)
				return rc;
			return pq_end_group(w);
		case K_LIST:
			if (v->type != J_ARRAY)
				return shred_reject("expected array");
			if ((rc = pq_begin_list(w, f)) != PQ_OK)
				return rc;
			for (size_t i = 0; i < v->n; i++)
			{
				if (pdepth == SHRED_MAX_DEPTH)
					return shred_reject("too deep");
				pkey[pdepth] = NULL;
				plen[pdepth] = i;
				pdepth++;
				if ((rc = pq_list_element(w)) == PQ_OK)
					rc = v->u.items[i].type == J_NULL ? pq_null(w, fsub[f]) : ocsf_value(w, fsub[f], &v->u.items[i]);
				pdepth--;
				if (rc != PQ_OK)
					return rc;
			}
			return pq_end_list(w);
		case K_MAP:
			if (v->type != J_OBJECT)
				return shred_reject("expected object");
			if ((rc = pq_begin_list(w, f)) != PQ_OK)
				return rc;
			for (size_t i = 0; i < v->n; i++)
			{
				const jmember *m = &v->u.members[i];

				if ((rc = pq_list_element(w)) != PQ_OK ||
					(rc = pq_value_bytes(w, fsub[f], m->key, m->klen)) != PQ_OK)
					return rc;
				values_emitted += 2;
				if (m->val.type == J_NULL)
					rc = pq_null(w, fval[f]);
				else
				{
					const char *t;
					size_t		tl;

					unmapped_text(&m->val, &t, &tl);
					rc = pq_value_bytes(w, fval[f], t, tl);
				}
				if (rc != PQ_OK)
					return rc;
			}
			return pq_end_list(w);
	}
	return shred_reject("unsupported column");
}

/* True if the event lists PROFILE in metadata.profiles. */
static bool
declares_profile(const jv *event, const char *profile)
{
	size_t		plen0 = strlen(profile);

	for (size_t i = 0; i < event->n; i++)
	{
		const jmember *m = &event->u.members[i];

		if (m->klen != 8 || memcmp(m->key, "metadata", 8) != 0 || m->val.type != J_OBJECT)
			continue;
		for (size_t j = 0; j < m->val.n; j++)
		{
			const jmember *p = &m->val.u.members[j];

			if (p->klen != 8 || memcmp(p->key, "profiles", 8) != 0 || p->val.type != J_ARRAY)
				continue;
			for (size_t k = 0; k < p->val.n; k++)
				if (p->val.u.items[k].type == J_STRING && p->val.u.items[k].u.str.len == plen0 &&
					memcmp(p->val.u.items[k].u.str.s, profile, plen0) == 0)
					return true;
		}
	}
	return false;
}

/* One event with the full class schema: the record's body, then its `unmapped` entries. */
static int
ocsf_event(pq_writer *w, const jv *event)
{
	int			rc;

	nukv = 0;
	pdepth = 0;
	if ((rc = ocsf_members(w, PQ_ROOT, event)) != PQ_OK)
		return rc;
	for (int i = 0; i < nprofiled; i++)
		if (fseen[profiled[i]] != root_visit &&
			declares_profile(event, ocsf_pq_field_attr(&ocsf, profiled[i])->profile))
			return shred_reject("missing required attribute of a declared profile");
	if (nukv == 0)
		return PQ_OK;
	if ((rc = pq_begin_list(w, f_unmapped)) != PQ_OK)
		return rc;
	for (size_t i = 0; i < nukv; i++)
		if ((rc = pq_list_element(w)) != PQ_OK ||
			(rc = pq_value_bytes(w, f_unmapped_key, ukv[i].k, ukv[i].klen)) != PQ_OK ||
			(rc = pq_value_bytes(w, f_unmapped_value, ukv[i].v, ukv[i].vlen)) != PQ_OK)
			return rc;
	values_emitted += 2 * (long long) nukv;
	unmapped_entries += (long long) nukv;
	return pq_end_list(w);
}

/* The sparse set: keep only the attributes the extension requires (recursively). */
static void
keep_required(jv *obj, pq_field group)
{
	size_t		k = 0;

	for (size_t i = 0; i < obj->n; i++)
	{
		jmember    *m = &obj->u.members[i];
		pq_field	f = pq_schema_child(schema, group, m->key, m->klen);

		if (f == PQ_NO_FIELD || !fmust[f] || m->val.type == J_NULL)
			continue;
		if (fkind[f] == K_GROUP && m->val.type == J_OBJECT)
			keep_required(&m->val, f);
		obj->u.members[k++] = *m;
	}
	obj->n = k;
}

static int
inferred_event(pq_writer *w, const jv *event)
{
	return emit_members(w, PQ_ROOT, event);
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
	long long	values;			/* leaf values given to the writer */
	long long	unmapped;		/* --ocsf: unmapped entries written */
	long long	rejected;		/* events that did not fit the schema (abandoned) */
	double		close;			/* part of encode: closing row groups (incl. the file's) */
} pass_result;

typedef int (*shred_fn) (pq_writer *w, const jv *event);

/*
 * One pass over the events. SPARSE: only the required attributes of each event (the
 * trimming is counted as parse). GROUPS > 1: the events in GROUPS sweeps, sweep j taking
 * lines i with i % GROUPS == j — amplify.mjs cycles through the samples, so with GROUPS =
 * the number of samples the copies of each sample come one after another, as in a batch
 * from one source, instead of a different shape every event.
 */
static pass_result
run_pass(const char *events, pq_sink sink, pq_compression codec, shred_fn shred, bool sparse, int groups)
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

	values_emitted = unmapped_entries = rejected_events = 0;
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
	for (int sweep = 0; sweep < (groups > 1 ? groups : 1); sweep++)
	{
		long long	lineno = 0;

		rewind(f);
		while ((n = getline(&line, &cap, f)) > 0)
		{
			double		t0,
						t1,
						t2;
			jv			v;
			int			rc;

			if (groups > 1 && lineno++ % groups != sweep)
				continue;
			t0 = now();
			arena_len = 0;
			jp = line;
			if (parse_value(&v) != 0 || v.type != J_OBJECT)
			{
				fprintf(stderr, "pqbench: bad JSON event %lld\n", r.events + 1);
				exit(1);
			}
			if (sparse)
				keep_required(&v, PQ_ROOT);
			t1 = now();
			if (ndjson_z)
				ndjson_add(ndjson_z, line, (size_t) n);
			t1 = now();
			reject_reason = NULL;
			if ((rc = pq_begin_record(w)) == PQ_OK && (rc = shred(w, &v)) == PQ_OK)
			{
				int32_t		row_groups = pq_writer_num_row_groups(w);
				double		te = now();

				rc = pq_end_record(w);
				if (pq_writer_num_row_groups(w) != row_groups)	/* this record closed a row group */
					r.close += now() - te;
			}
			if (rc != PQ_OK)
			{
				if (rejected_events < 5)
				{
					if (rc == SHRED_REJECT)
						fprintf(stderr, "pqbench: event %lld rejected: %s at %s\n", r.events + 1, reject_reason, reject_path);
					else
						fprintf(stderr, "pqbench: event %lld: %s\n", r.events + 1, pq_writer_error(w));
				}
				rejected_events++;
				if (pq_abandon_record(w) != PQ_OK)
				{
					fprintf(stderr, "pqbench: abandon: %s\n", pq_writer_error(w));
					exit(1);
				}
			}
			t2 = now();
			r.parse += t1 - t0;
			r.encode += t2 - t1;
			r.json_bytes += (size_t) n;
			r.events++;
		}
	}
	{
		double		t = now();

		if (pq_writer_close(w) != PQ_OK)
		{
			fprintf(stderr, "pqbench: close: %s\n", pq_writer_error(w));
			exit(1);
		}
		r.encode += now() - t;
		r.close += now() - t;
	}
	r.bytes = pq_writer_bytes_written(w);
	r.row_groups = pq_writer_num_row_groups(w);
	r.values = values_emitted;
	r.unmapped = unmapped_entries;
	r.rejected = rejected_events;
	pq_writer_free(w);
	fclose(f);
	free(line);
	return r;
}

static int
null_sink(void *ctx, const void *buf, size_t len)
{
	(void) ctx;
	(void) buf;
	(void) len;
	return 0;
}

/* Sweeps of the grouped pass: the number of samples amplify.mjs cycles through. */
static int
bench_groups(void)
{
	return getenv("PQBENCH_GROUPS") ? atoi(getenv("PQBENCH_GROUPS")) : 5;
}

/* --ocsf: the same events with the full class schema; then grouped; then sparse copies. */
static int
main_ocsf(const char *events, const char *outpath)
{
	FILE	   *out;
	pass_result a,
				g,
				sp;

	list_paths = getenv("PQBENCH_UNMAPPED_PATHS") != NULL;
	ocsf_schema_load();
	out = fopen(outpath, "wb");
	if (out == NULL)
	{
		perror(outpath);
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	a = run_pass(events, (pq_sink) {file_sink, out}, PQ_ZSTD, ocsf_event, false, 1);
	fclose(out);
	list_paths = false;
	g = run_pass(events, (pq_sink) {null_sink, NULL}, PQ_ZSTD, ocsf_event, false, bench_groups());
	sp = run_pass(events, (pq_sink) {null_sink, NULL}, PQ_ZSTD, ocsf_event, true, 1);
	for (int i = 0; i < nupaths; i++)
		fprintf(stderr, "unmapped path %s: %lld\n", upaths[i].k, upaths[i].n);
	printf("{\"mode\": \"ocsf\", \"ocsf_version\": \"%s\", \"class_uid\": %d, \"events\": %lld, \"leaves\": %d, "
		   "\"fields\": %d, \"json_bytes\": %zu, \"parse_s\": %.3f, \"encode_s\": %.3f, \"bytes\": %llu, "
		   "\"row_groups\": %d, \"close_s\": %.3f, \"values\": %lld, \"unmapped_entries\": %lld, \"rejected\": %lld, "
		   "\"sparse_encode_s\": %.3f, \"sparse_close_s\": %.3f, \"sparse_bytes\": %llu, \"sparse_row_groups\": %d, "
		   "\"sparse_values\": %lld, \"sparse_rejected\": %lld, "
		   "\"groups\": %d, \"grouped_encode_s\": %.3f, \"grouped_close_s\": %.3f, \"grouped_bytes\": %llu}\n",
		   OCSF_BENCH_VERSION, OCSF_BENCH_CLASS, a.events, pq_schema_num_leaves(schema),
		   pq_schema_num_fields(schema), a.json_bytes, a.parse, a.encode, (unsigned long long) a.bytes,
		   a.row_groups, a.close, a.values, a.unmapped, a.rejected,
		   sp.encode, sp.close, (unsigned long long) sp.bytes, sp.row_groups, sp.values, sp.rejected,
		   bench_groups(), g.encode, g.close, (unsigned long long) g.bytes);
	ocsf_pq_schema_free(&ocsf);
	free(arena);
	return 0;
}

int
main(int argc, char **argv)
{
	FILE	   *out;
	pass_result a,
				b,
				g;
	long long	skipped;
	zstd_sink	z = {0};

	arena_cap = 64 << 20;
	arena = malloc(arena_cap);
	if (argc == 4 && strcmp(argv[1], "--ocsf") == 0)
		return main_ocsf(argv[2], argv[3]);
	if (argc != 3)
	{
		fprintf(stderr, "usage: pqbench [--ocsf] EVENTS.ndjson OUT.parquet\n");
		return 2;
	}
	infer_schema(argv[1], 20000);
	out = fopen(argv[2], "wb");
	if (out == NULL)
	{
		perror(argv[2]);
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	a = run_pass(argv[1], (pq_sink) {file_sink, out}, PQ_ZSTD, inferred_event, false, 1);
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
	b = run_pass(argv[1], (pq_sink) {zstd_write, &z}, PQ_UNCOMPRESSED, inferred_event, false, 1);
	ndjson_flush(ndjson_z);
	skipped = skipped_values;
	{
		ndjson_zstd *nz = ndjson_z;

		ndjson_z = NULL;
		g = run_pass(argv[1], (pq_sink) {null_sink, NULL}, PQ_ZSTD, inferred_event, false, bench_groups());
		ndjson_z = nz;
	}
	printf("{\"events\": %lld, \"leaves\": %d, \"json_bytes\": %zu, \"parse_s\": %.3f, \"encode_s\": %.3f, "
		   "\"bytes\": %llu, \"row_groups\": %d, \"close_s\": %.3f, \"skipped_values\": %lld, \"values\": %lld, \"rejected\": %lld, "
		   "\"encode_uncompressed_s\": %.3f, \"page_bytes\": %zu, \"zstd_alone_s\": %.3f, \"zstd_alone_bytes\": %zu, "
		   "\"zstd_ndjson_s\": %.3f, \"zstd_ndjson_bytes\": %zu, "
		   "\"groups\": %d, \"grouped_encode_s\": %.3f, \"grouped_close_s\": %.3f, \"grouped_bytes\": %llu}\n",
		   a.events, pq_schema_num_leaves(schema), a.json_bytes, a.parse, a.encode,
		   (unsigned long long) a.bytes, a.row_groups, a.close, skipped, a.values, a.rejected,
		   b.encode - z.seconds, z.in_bytes, z.seconds, z.out_bytes,
		   ndjson_z->seconds, ndjson_z->out_bytes,
		   bench_groups(), g.encode, g.close, (unsigned long long) g.bytes);
	ZSTD_freeCCtx(z.cctx);
	free(z.dst);
	pq_schema_free(schema);
	free(arena);
	return 0;
}
