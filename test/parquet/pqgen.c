/*
 * pqgen.c — writes the cross-check matrix for readback.test.mjs.
 *
 *   build/parquet/pqgen OUTDIR
 *
 * For each case CASE it writes OUTDIR/CASE.parquet and, for the small cases,
 * OUTDIR/CASE.json: the rows as DuckDB should return them (int64 as strings, absent
 * struct fields as null, maps as [{key, value}], timestamps as epoch milliseconds).
 * The large cases (big, dict_fallback, small_pages) follow formulas that the test
 * recomputes in SQL. OUTDIR/manifest.json lists the cases and the options used.
 */
#include "parquet/parquet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *json;				/* the current case's expected rows */
static bool first_row;
static pq_writer *w;
static pq_schema *s;
static FILE *pq_file;
static FILE *manifest;
static bool first_case = true;
static const char *outdir;

#define CHECK(x) check((x), #x, __LINE__)

static void
check(int rc, const char *what, int line)
{
	if (rc != PQ_OK)
	{
		fprintf(stderr, "pqgen:%d: %s failed: %s: %s\n", line, what, pq_status_name(rc),
				w ? pq_writer_error(w) : pq_schema_error(s));
		exit(1);
	}
}

static int
file_write(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, ctx) == len ? 0 : -1;
}

static void
out(const char *fmt,...)
{
	va_list		ap;

	if (json == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(json, fmt, ap);
	va_end(ap);
}

static void
out_str(const char *p, size_t len)
{
	out("\"");
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) p[i];

		if (c == '"' || c == '\\')
			out("\\%c", c);
		else if (c < 0x20)
			out("\\u%04x", c);
		else
			out("%c", c);
	}
	out("\"");
}

/* Start a case: schema S must be built; opens the files and the writer. */
static void
begin_case(const char *name, pq_options *o, bool with_json)
{
	char		path[4096];
	char		err[256];

	snprintf(path, sizeof(path), "%s/%s.parquet", outdir, name);
	pq_file = fopen(path, "wb");
	if (pq_file == NULL)
	{
		perror(path);
		exit(1);
	}
	json = NULL;
	if (with_json)
	{
		snprintf(path, sizeof(path), "%s/%s.json", outdir, name);
		json = fopen(path, "w");
		out("[");
	}
	first_row = true;
	if (pq_writer_open(&w, s, o, (pq_sink) {file_write, pq_file}, NULL, err, sizeof(err)) != PQ_OK)
	{
		fprintf(stderr, "pqgen: open %s: %s\n", name, err);
		exit(1);
	}
	fprintf(manifest, "%s\n  {\"name\": \"%s\", \"json\": %s, \"page_size_limit\": %zu, "
			"\"codec\": \"%s\", \"dictionary_limit\": %zu",
			first_case ? "" : ",", name, with_json ? "true" : "false", o->page_size_limit,
			o->compression == PQ_ZSTD ? "ZSTD" : "UNCOMPRESSED", o->dictionary_limit);
	first_case = false;
}

static void
end_case(void)
{
	CHECK(pq_writer_close(w));
	fprintf(manifest, ", \"rows\": %lld, \"row_groups\": %d}",
			(long long) pq_writer_num_rows(w), pq_writer_num_row_groups(w));
	pq_writer_free(w);
	w = NULL;
	fclose(pq_file);
	if (json)
	{
		out("]\n");
		fclose(json);
	}
	pq_schema_free(s);
	s = NULL;
}

static void
row_begin(void)
{
	CHECK(pq_begin_record(w));
	out("%s{", first_row ? "" : ",\n");
	first_row = false;
}

static void
row_end(void)
{
	CHECK(pq_end_record(w));
	out("}");
}

/* ---- typed helpers writing both the event and its expected JSON ("key": value) ---- */

static void
key(const char *k, bool comma)
{
	out("%s\"%s\":", comma ? "," : "", k);
}

static void
v_str(pq_field f, const char *k, bool comma, const char *v)
{
	if (k)
		key(k, comma);
	if (v == NULL)
	{
		out("null");
		return;
	}
	CHECK(pq_value_bytes(w, f, v, strlen(v)));
	out_str(v, strlen(v));
}

static void
v_i64(pq_field f, const char *k, bool comma, bool null, long long v)
{
	if (k)
		key(k, comma);
	if (null)
	{
		out("null");
		return;
	}
	CHECK(pq_value_int64(w, f, v));
	out("\"%lld\"", v);
}

static void
v_i32(pq_field f, const char *k, bool comma, bool null, int v)
{
	if (k)
		key(k, comma);
	if (null)
	{
		out("null");
		return;
	}
	CHECK(pq_value_int32(w, f, v));
	out("%d", v);
}

static void
v_bool(pq_field f, const char *k, bool comma, bool null, bool v)
{
	if (k)
		key(k, comma);
	if (null)
	{
		out("null");
		return;
	}
	CHECK(pq_value_bool(w, f, v));
	out("%s", v ? "true" : "false");
}

static void
v_double(pq_field f, const char *k, bool comma, bool null, double v)
{
	if (k)
		key(k, comma);
	if (null)
	{
		out("null");
		return;
	}
	CHECK(pq_value_double(w, f, v));
	out("%.17g", v);
}

static void
v_float(pq_field f, const char *k, bool comma, bool null, float v)
{
	if (k)
		key(k, comma);
	if (null)
	{
		out("null");
		return;
	}
	CHECK(pq_value_float(w, f, v));
	out("%.9g", (double) v);
}

static pq_field
leaf(pq_field parent, const char *name, pq_repetition rep, pq_physical p, pq_logical l)
{
	pq_field	f;

	CHECK(pq_schema_add_leaf(s, parent, name, rep, p, l, &f));
	return f;
}

static pq_field
group(pq_field parent, const char *name, pq_repetition rep)
{
	pq_field	f;

	CHECK(pq_schema_add_group(s, parent, name, rep, &f));
	return f;
}

/* ---- cases ---- */

static void
case_flat(void)
{
	pq_options	o;
	pq_field	id,
				i8,
				i16,
				i32,
				i64,
				fl,
				db,
				b,
				st,
				ts,
				js;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	i8 = leaf(PQ_ROOT, "i8", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_INT8);
	i16 = leaf(PQ_ROOT, "i16", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_INT16);
	i32 = leaf(PQ_ROOT, "i32", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_INT32);
	i64 = leaf(PQ_ROOT, "i64", PQ_OPTIONAL, PQ_INT64, PQ_LOGICAL_INT64);
	fl = leaf(PQ_ROOT, "f", PQ_OPTIONAL, PQ_FLOAT, PQ_LOGICAL_NONE);
	db = leaf(PQ_ROOT, "d", PQ_OPTIONAL, PQ_DOUBLE, PQ_LOGICAL_NONE);
	b = leaf(PQ_ROOT, "b", PQ_OPTIONAL, PQ_BOOLEAN, PQ_LOGICAL_NONE);
	st = leaf(PQ_ROOT, "s", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	ts = leaf(PQ_ROOT, "ts", PQ_OPTIONAL, PQ_INT64, PQ_LOGICAL_TIMESTAMP_MILLIS);
	js = leaf(PQ_ROOT, "j", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_JSON);
	pq_options_init(&o);
	begin_case("flat", &o, true);
	for (int i = 0; i < 3000; i++)
	{
		char		sbuf[32],
					jbuf[32];

		snprintf(sbuf, sizeof(sbuf), "s%d", i % 37);
		snprintf(jbuf, sizeof(jbuf), "{\"k\":%d}", i);
		row_begin();
		v_i64(id, "id", false, false, i);
		v_i32(i8, "i8", true, i % 10 == 1, i % 256 - 128);
		v_i32(i16, "i16", true, false, (i * 37) % 65536 - 32768);
		v_i32(i32, "i32", true, i % 3 == 0, i * -7919);
		v_i64(i64, "i64", true, false, (long long) i * 1000000000000LL * (i % 2 ? -1 : 1));
		v_float(fl, "f", true, false, (float) (i % 8) * 0.25f - 1.0f);
		v_double(db, "d", true, i % 13 == 0, i / 8.0 - 50);
		v_bool(b, "b", true, i % 5 == 0, i % 3 == 0);
		v_str(st, "s", true, i % 11 == 0 ? NULL : sbuf);
		v_i64(ts, "ts", true, i % 17 == 0, 1700000000000LL + (long long) i * 1001);
		v_str(js, "j", true, i % 2 ? jbuf : NULL);
		row_end();
	}
	end_case();
}

/* nested structs, optional groups absent / present-but-empty / partly / fully given */
static struct
{
	pq_field	id,
				actor,
				user,
				name,
				uid,
				groups,
				groups_rep,
				group_el,
				session,
				sid,
				mfa,
				device,
				host,
				ip;
}			n;

static void
nested_schema(void)
{
	s = pq_schema_new(NULL);
	n.id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	n.actor = group(PQ_ROOT, "actor", PQ_OPTIONAL);
	n.user = group(n.actor, "user", PQ_OPTIONAL);
	n.name = leaf(n.user, "name", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	n.uid = leaf(n.user, "uid", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	CHECK(pq_schema_add_list(s, n.user, "groups", PQ_OPTIONAL, &n.groups, &n.groups_rep));
	n.group_el = leaf(n.groups_rep, "element", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	n.session = group(n.actor, "session", PQ_OPTIONAL);
	n.sid = leaf(n.session, "id", PQ_OPTIONAL, PQ_INT64, PQ_LOGICAL_NONE);
	n.mfa = leaf(n.session, "is_mfa", PQ_OPTIONAL, PQ_BOOLEAN, PQ_LOGICAL_NONE);
	n.device = group(PQ_ROOT, "device", PQ_REQUIRED);
	n.host = leaf(n.device, "hostname", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	n.ip = leaf(n.device, "ip", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
}

static void
nested_row(int i)
{
	char		buf[64];
	int			shape = i % 5;

	row_begin();
	v_i64(n.id, "id", false, false, i);
	key("actor", true);
	if (shape == 0)
		out("null");
	else
	{
		CHECK(pq_begin_group(w, n.actor));
		out("{\"user\":");
		if (shape == 1)
			out("null");
		else
		{
			CHECK(pq_begin_group(w, n.user));
			snprintf(buf, sizeof(buf), "user%d", i % 7);
			out("{");
			v_str(n.name, "name", false, buf);
			snprintf(buf, sizeof(buf), "uid-%d", i);
			v_str(n.uid, "uid", true, shape >= 3 ? buf : NULL);
			key("groups", true);
			if (shape == 4)
			{
				CHECK(pq_begin_list(w, n.groups));
				out("[");
				for (int k = 0; k < i % 4; k++)
				{
					CHECK(pq_list_element(w));
					if (k == 1)
					{
						CHECK(pq_null(w, n.group_el));
						out("%snull", k ? "," : "");
					}
					else
					{
						out("%s", k ? "," : "");
						v_str(n.group_el, NULL, false, k ? "admins" : "users");
					}
				}
				CHECK(pq_end_list(w));
				out("]");
			}
			else
				out("null");
			CHECK(pq_end_group(w));
			out("}");
		}
		out(",\"session\":");
		if (shape == 4 || shape == 2)
		{
			CHECK(pq_begin_group(w, n.session));
			out("{");
			v_i64(n.sid, "id", false, shape == 2, (long long) i * 31);
			v_bool(n.mfa, "is_mfa", true, false, i % 2 == 0);
			CHECK(pq_end_group(w));
			out("}");
		}
		else
			out("null");
		CHECK(pq_end_group(w));
		out("}");
	}
	key("device", true);
	out("{");
	if (i % 3 == 0)				/* the required group left untouched: present, fields null */
		out("\"hostname\":null,\"ip\":null");
	else
	{
		CHECK(pq_begin_group(w, n.device));
		snprintf(buf, sizeof(buf), "host-%d", i % 11);
		v_str(n.host, "hostname", false, buf);
		snprintf(buf, sizeof(buf), "10.0.%d.%d", i / 256 % 256, i % 256);
		v_str(n.ip, "ip", true, i % 2 ? buf : NULL);
		CHECK(pq_end_group(w));
	}
	out("}");
	row_end();
}

static void
case_nested(const char *name, int rows)
{
	pq_options	o;

	nested_schema();
	pq_options_init(&o);
	begin_case(name, &o, true);
	for (int i = 0; i < rows; i++)
		nested_row(i);
	end_case();
}

static void
case_lists(const char *name, int data_page_version)
{
	pq_options	o;
	pq_field	id,
				obs,
				obs_rep,
				el,
				oname,
				otype,
				oval,
				tags,
				tags_rep,
				tag,
				mat,
				mat_rep,
				inner,
				inner_rep,
				cell;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	CHECK(pq_schema_add_list(s, PQ_ROOT, "observables", PQ_OPTIONAL, &obs, &obs_rep));
	el = group(obs_rep, "element", PQ_OPTIONAL);
	oname = leaf(el, "name", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	otype = leaf(el, "type_id", PQ_REQUIRED, PQ_INT32, PQ_LOGICAL_NONE);
	oval = leaf(el, "value", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	CHECK(pq_schema_add_list(s, PQ_ROOT, "tags", PQ_REQUIRED, &tags, &tags_rep));
	tag = leaf(tags_rep, "element", PQ_REQUIRED, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	CHECK(pq_schema_add_list(s, PQ_ROOT, "matrix", PQ_OPTIONAL, &mat, &mat_rep));
	CHECK(pq_schema_add_list(s, mat_rep, "element", PQ_OPTIONAL, &inner, &inner_rep));
	cell = leaf(inner_rep, "element", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE);
	pq_options_init(&o);
	o.data_page_version = data_page_version;
	begin_case(name, &o, true);
	fprintf(manifest, ", \"data_page_version\": %d", data_page_version);
	for (int i = 0; i < 2000; i++)
	{
		char		buf[32];

		row_begin();
		v_i64(id, "id", false, false, i);
		key("observables", true);
		if (i % 4 == 0)
			out("null");
		else
		{
			CHECK(pq_begin_list(w, obs));
			out("[");
			for (int k = 0; k < i % 4 - 1 + (i % 8 == 7 ? 2 : 0); k++)
			{
				CHECK(pq_list_element(w));
				out("%s", k ? "," : "");
				if (k == 2)
				{
					CHECK(pq_null(w, el));
					out("null");
					continue;
				}
				CHECK(pq_begin_group(w, el));
				out("{");
				snprintf(buf, sizeof(buf), "obs%d.%d", i % 13, k);
				v_str(oname, "name", false, k == 1 ? NULL : buf);
				v_i32(otype, "type_id", true, false, k + i % 3);
				snprintf(buf, sizeof(buf), "val-%d", i * 3 + k);
				v_str(oval, "value", true, buf);
				CHECK(pq_end_group(w));
				out("}");
			}
			CHECK(pq_end_list(w));
			out("]");
		}
		/* a REQUIRED list left untouched is an empty list */
		key("tags", true);
		out("[");
		if (i % 3)
		{
			CHECK(pq_begin_list(w, tags));
			for (int k = 0; k < i % 3; k++)
			{
				CHECK(pq_list_element(w));
				out("%s", k ? "," : "");
				snprintf(buf, sizeof(buf), "t%d", (i + k) % 5);
				v_str(tag, NULL, false, buf);
			}
			CHECK(pq_end_list(w));
		}
		out("]");
		key("matrix", true);
		if (i % 5 == 0)
			out("null");
		else
		{
			CHECK(pq_begin_list(w, mat));
			out("[");
			for (int r = 0; r < i % 5; r++)
			{
				CHECK(pq_list_element(w));
				out("%s", r ? "," : "");
				if (r == 2)
				{
					CHECK(pq_null(w, inner));
					out("null");
					continue;
				}
				CHECK(pq_begin_list(w, inner));
				out("[");
				for (int c = 0; c < (i + r) % 3; c++)
				{
					CHECK(pq_list_element(w));
					out("%s", c ? "," : "");
					v_i32(cell, NULL, false, c == 1, i * 10 + r * 3 + c);
				}
				CHECK(pq_end_list(w));
				out("]");
			}
			CHECK(pq_end_list(w));
			out("]");
		}
		row_end();
	}
	end_case();
}

static void
case_maps(void)
{
	pq_options	o;
	pq_field	id,
				attrs,
				akv,
				akey,
				aval,
				counts,
				ckv,
				ckey,
				cval;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	CHECK(pq_schema_add_map(s, PQ_ROOT, "attrs", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &attrs, &akv, &akey));
	aval = leaf(akv, "value", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	CHECK(pq_schema_add_map(s, PQ_ROOT, "counts", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &counts, &ckv, &ckey));
	cval = leaf(ckv, "value", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	pq_options_init(&o);
	begin_case("maps", &o, true);
	for (int i = 0; i < 1500; i++)
	{
		char		k[32],
					v[32];

		row_begin();
		v_i64(id, "id", false, false, i);
		key("attrs", true);
		if (i % 3 == 0)
			out("null");
		else
		{
			CHECK(pq_begin_list(w, attrs));
			out("[");
			for (int e = 0; e < i % 4; e++)
			{
				CHECK(pq_list_element(w));
				snprintf(k, sizeof(k), "key%d", e);
				snprintf(v, sizeof(v), "v%d", i + e);
				out("%s{", e ? "," : "");
				v_str(akey, "key", false, k);
				v_str(aval, "value", true, e == 1 ? NULL : v);
				out("}");
			}
			CHECK(pq_end_list(w));
			out("]");
		}
		key("counts", true);
		if (i % 2)
			out("null");
		else
		{
			CHECK(pq_begin_list(w, counts));
			CHECK(pq_list_element(w));
			out("[{");
			v_str(ckey, "key", false, "n");
			v_i64(cval, "value", true, false, (long long) i * i);
			out("}]");
			CHECK(pq_end_list(w));
		}
		row_end();
	}
	end_case();
}

static void
case_all_null(void)
{
	pq_options	o;
	pq_field	id,
				a,
				b,
				c,
				d,
				g,
				gx,
				l,
				lr;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	a = leaf(PQ_ROOT, "a", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	b = leaf(PQ_ROOT, "b", PQ_OPTIONAL, PQ_INT64, PQ_LOGICAL_NONE);
	c = leaf(PQ_ROOT, "c", PQ_OPTIONAL, PQ_DOUBLE, PQ_LOGICAL_NONE);
	d = leaf(PQ_ROOT, "d", PQ_OPTIONAL, PQ_BOOLEAN, PQ_LOGICAL_NONE);
	g = group(PQ_ROOT, "g", PQ_OPTIONAL);
	gx = leaf(g, "x", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE);
	CHECK(pq_schema_add_list(s, PQ_ROOT, "l", PQ_OPTIONAL, &l, &lr));
	(void) leaf(lr, "element", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE);
	(void) gx;
	pq_options_init(&o);
	begin_case("all_null", &o, true);
	for (int i = 0; i < 5000; i++)
	{
		row_begin();
		v_i64(id, "id", false, false, i);
		if (i % 2)				/* explicit nulls and silence must give the same file content */
		{
			CHECK(pq_null(w, a));
			CHECK(pq_null(w, b));
			CHECK(pq_null(w, c));
			CHECK(pq_null(w, d));
			CHECK(pq_null(w, g));
			CHECK(pq_null(w, l));
		}
		out(",\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"g\":null,\"l\":null");
		row_end();
	}
	end_case();
}

static void
case_strings(void)
{
	static const char *samples[] = {
		"", "a", "é", "日本語テキスト", "🦆 duck", "Ünïcödé – “quotes”", "tab\tnew\nline",
		"back\\slash \"quoted\"", "\xf0\x9f\x98\x80\xf0\x9f\x98\x81", "Ω≈ç√∫˜µ≤≥÷", "zzz"
	};
	const int	nsamples = (int) (sizeof(samples) / sizeof(samples[0]));
	pq_options	o;
	pq_field	id,
				str,
				req,
				big;
	char	   *long_value = malloc(5001);

	memset(long_value, 'x', 5000);
	long_value[5000] = 0;
	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	str = leaf(PQ_ROOT, "s", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	req = leaf(PQ_ROOT, "empty", PQ_REQUIRED, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	big = leaf(PQ_ROOT, "long", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	pq_options_init(&o);
	begin_case("strings", &o, true);
	for (int i = 0; i < 1000; i++)
	{
		row_begin();
		v_i64(id, "id", false, false, i);
		v_str(str, "s", true, i % 13 == 12 ? NULL : samples[i % nsamples]);
		v_str(req, "empty", true, "");
		v_str(big, "long", true, i % 100 == 0 ? long_value : (i % 2 ? "short" : NULL));
		row_end();
	}
	end_case();
	free(long_value);
}

/* ---- large cases: values follow formulas the test recomputes in SQL ---- */

static void
case_big(void)
{
	pq_options	o;
	pq_field	id,
				user,
				uid,
				v,
				d,
				flag;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	user = leaf(PQ_ROOT, "user", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	uid = leaf(PQ_ROOT, "uid", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	v = leaf(PQ_ROOT, "v", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE);
	d = leaf(PQ_ROOT, "d", PQ_OPTIONAL, PQ_DOUBLE, PQ_LOGICAL_NONE);
	flag = leaf(PQ_ROOT, "flag", PQ_OPTIONAL, PQ_BOOLEAN, PQ_LOGICAL_NONE);
	pq_options_init(&o);
	o.row_group_max_rows = 250000;
	begin_case("big", &o, false);
	for (long long i = 0; i < 1200000; i++)
	{
		char		buf[64];
		int			len;

		CHECK(pq_begin_record(w));
		CHECK(pq_value_int64(w, id, i));
		len = snprintf(buf, sizeof(buf), "user-%lld", i % 1000);
		CHECK(pq_value_bytes(w, user, buf, (size_t) len));
		len = snprintf(buf, sizeof(buf), "uid-%lld", i);
		CHECK(pq_value_bytes(w, uid, buf, (size_t) len));
		if (i % 7 != 0)
			CHECK(pq_value_int32(w, v, (int) (i % 100000)));
		CHECK(pq_value_double(w, d, (double) i * 0.5));
		CHECK(pq_value_bool(w, flag, i % 2 == 0));
		CHECK(pq_end_record(w));
	}
	end_case();
}

static void
case_dict_fallback(void)
{
	pq_options	o;
	pq_field	id,
				uniq,
				low;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	uniq = leaf(PQ_ROOT, "uniq", PQ_REQUIRED, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	low = leaf(PQ_ROOT, "low", PQ_REQUIRED, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	pq_options_init(&o);
	o.dictionary_limit = 64 * 1024;
	begin_case("dict_fallback", &o, false);
	for (long long i = 0; i < 50000; i++)
	{
		char		buf[64];
		int			len;

		CHECK(pq_begin_record(w));
		CHECK(pq_value_int64(w, id, i));
		len = snprintf(buf, sizeof(buf), "unique-value-%lld", i);
		CHECK(pq_value_bytes(w, uniq, buf, (size_t) len));
		len = snprintf(buf, sizeof(buf), "cat%lld", i % 10);
		CHECK(pq_value_bytes(w, low, buf, (size_t) len));
		CHECK(pq_end_record(w));
	}
	end_case();
}

static void
case_small_pages(void)
{
	pq_options	o;
	pq_field	id,
				txt,
				l,
				lr,
				el;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	txt = leaf(PQ_ROOT, "txt", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	CHECK(pq_schema_add_list(s, PQ_ROOT, "l", PQ_OPTIONAL, &l, &lr));
	el = leaf(lr, "element", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	pq_options_init(&o);
	o.page_size_limit = 4096;
	o.enable_dictionary = false;
	begin_case("small_pages", &o, false);
	for (long long i = 0; i < 20000; i++)
	{
		char		buf[64];
		int			len;

		CHECK(pq_begin_record(w));
		CHECK(pq_value_int64(w, id, i));
		if (i % 3)
		{
			len = snprintf(buf, sizeof(buf), "text number %lld", i);
			CHECK(pq_value_bytes(w, txt, buf, (size_t) len));
		}
		CHECK(pq_begin_list(w, l));
		for (long long k = 0; k < i % 4; k++)
		{
			CHECK(pq_list_element(w));
			CHECK(pq_value_int64(w, el, i + k));
		}
		CHECK(pq_end_list(w));
		CHECK(pq_end_record(w));
	}
	end_case();
}

/* row groups closed by buffered bytes (256 KiB), not by a row count */
static void
case_rg_bytes(void)
{
	pq_options	o;
	pq_field	id,
				txt;

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	txt = leaf(PQ_ROOT, "txt", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	pq_options_init(&o);
	o.row_group_size = 256 * 1024;
	begin_case("rg_bytes", &o, false);
	fprintf(manifest, ", \"row_group_size\": %zu", o.row_group_size);
	for (long long i = 0; i < 100000; i++)
	{
		char		buf[64];
		int			len = snprintf(buf, sizeof(buf), "row %lld of the byte-limited file", i);

		CHECK(pq_begin_record(w));
		CHECK(pq_value_int64(w, id, i));
		CHECK(pq_value_bytes(w, txt, buf, (size_t) len));
		CHECK(pq_end_record(w));
	}
	end_case();
}

/* UNCOMPRESSED, field ids and key/value metadata */
static void
case_metadata(void)
{
	pq_options	o;
	pq_field	id,
				name;
	pq_key_value kv[] = {{"ocsf_version", "1.1.0"}, {"class_uid", "3002"}, {"no_value", NULL}};

	s = pq_schema_new(NULL);
	id = leaf(PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE);
	name = leaf(PQ_ROOT, "name", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING);
	CHECK(pq_schema_set_field_id(s, id, 1));
	CHECK(pq_schema_set_field_id(s, name, 2));
	pq_options_init(&o);
	o.compression = PQ_UNCOMPRESSED;
	o.key_value_metadata = kv;
	o.num_key_value_metadata = 3;
	begin_case("metadata", &o, true);
	for (int i = 0; i < 10; i++)
	{
		row_begin();
		v_i64(id, "id", false, false, i);
		v_str(name, "name", true, i % 2 ? "odd" : "even");
		row_end();
	}
	end_case();
}

int
main(int argc, char **argv)
{
	char		path[4096];

	if (argc != 2)
	{
		fprintf(stderr, "usage: pqgen OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	snprintf(path, sizeof(path), "%s/manifest.json", outdir);
	manifest = fopen(path, "w");
	if (manifest == NULL)
	{
		perror(path);
		return 1;
	}
	fprintf(manifest, "[");
	case_flat();
	case_nested("nested", 2000);
	case_nested("zero_rows", 0);
	case_nested("one_row", 1);
	case_lists("lists", 1);
	case_lists("lists_v2", 2);
	case_maps();
	case_all_null();
	case_strings();
	case_metadata();
	case_dict_fallback();
	case_small_pages();
	case_rg_bytes();
	case_big();
	fprintf(manifest, "\n]\n");
	fclose(manifest);
	return 0;
}
