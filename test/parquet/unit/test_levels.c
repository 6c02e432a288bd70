/*
 * test_levels.c — Dremel repetition/definition levels computed by the event API:
 * the Dremel paper's Document example (repeated groups, optional groups), a 3-level
 * LIST of structs, a MAP, record rollback, record errors, and absent columns costing
 * one run however many records there are.
 */
#include "parquet/writer_private.h"
#include "tap.h"

#include <string.h>

static int
discard(void *ctx, const void *buf, size_t len)
{
	(void) ctx;
	(void) buf;
	(void) len;
	return 0;
}

static pq_writer *
open_writer(pq_schema *s)
{
	pq_writer  *w = NULL;
	pq_sink		sink = {discard, NULL};

	if (pq_writer_open(&w, s, NULL, sink, NULL, NULL, 0) != PQ_OK)
		return NULL;
	return w;
}

/* Compare a leaf's level stream with "r:d r:d ..." after catching every column up. */
static int
levels_are(pq_writer *w, pq_field leaf, const char *expected)
{
	char		got[1024];
	size_t		n = 0;
	const pq_node_state *s = &w->st[leaf];

	got[0] = 0;
	for (size_t i = 0; i < s->nruns; i++)
		for (uint32_t k = 0; k < s->runs[i].count && n < sizeof(got) - 16; k++)
			n += (size_t) snprintf(got + n, sizeof(got) - n, "%s%d:%d", n ? " " : "",
								   s->runs[i].rep, s->runs[i].def);
	if (strcmp(got, expected) != 0)
	{
		printf("#   expected %s\n#        got %s\n", expected, got);
		return 0;
	}
	return 1;
}

static void
dremel_document(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	doc,
				links,
				back,
				fwd,
				name,
				lang,
				code,
				country,
				url;
	pq_writer  *w;
	int			rc = 0;

	pq_schema_add_leaf(s, PQ_ROOT, "DocId", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE, &doc);
	pq_schema_add_group(s, PQ_ROOT, "Links", PQ_OPTIONAL, &links);
	pq_schema_add_leaf(s, links, "Backward", PQ_REPEATED, PQ_INT64, PQ_LOGICAL_NONE, &back);
	pq_schema_add_leaf(s, links, "Forward", PQ_REPEATED, PQ_INT64, PQ_LOGICAL_NONE, &fwd);
	pq_schema_add_group(s, PQ_ROOT, "Name", PQ_REPEATED, &name);
	pq_schema_add_group(s, name, "Language", PQ_REPEATED, &lang);
	pq_schema_add_leaf(s, lang, "Code", PQ_REQUIRED, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &code);
	pq_schema_add_leaf(s, lang, "Country", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &country);
	pq_schema_add_leaf(s, name, "Url", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &url);
	w = open_writer(s);

	/* r1 */
	rc |= pq_begin_record(w);
	rc |= pq_value_int64(w, doc, 10);
	rc |= pq_begin_group(w, links);
	rc |= pq_value_int64(w, fwd, 20);
	rc |= pq_value_int64(w, fwd, 40);
	rc |= pq_value_int64(w, fwd, 60);
	rc |= pq_end_group(w);
	rc |= pq_begin_group(w, name);
	rc |= pq_begin_group(w, lang);
	rc |= pq_value_bytes(w, code, "en-us", 5);
	rc |= pq_value_bytes(w, country, "us", 2);
	rc |= pq_end_group(w);
	rc |= pq_begin_group(w, lang);
	rc |= pq_value_bytes(w, code, "en", 2);
	rc |= pq_end_group(w);
	rc |= pq_value_bytes(w, url, "http://A", 8);
	rc |= pq_end_group(w);
	rc |= pq_begin_group(w, name);
	rc |= pq_value_bytes(w, url, "http://B", 8);
	rc |= pq_end_group(w);
	rc |= pq_begin_group(w, name);
	rc |= pq_begin_group(w, lang);
	rc |= pq_value_bytes(w, code, "en-gb", 5);
	rc |= pq_value_bytes(w, country, "gb", 2);
	rc |= pq_end_group(w);
	rc |= pq_end_group(w);
	rc |= pq_end_record(w);
	/* r2 */
	rc |= pq_begin_record(w);
	rc |= pq_value_int64(w, doc, 20);
	rc |= pq_begin_group(w, links);
	rc |= pq_value_int64(w, back, 10);
	rc |= pq_value_int64(w, back, 30);
	rc |= pq_value_int64(w, fwd, 80);
	rc |= pq_end_group(w);
	rc |= pq_begin_group(w, name);
	rc |= pq_value_bytes(w, url, "http://C", 8);
	rc |= pq_end_group(w);
	rc |= pq_end_record(w);
	ok(rc == PQ_OK, "the Dremel paper's two Document records are accepted");
	pq_catch_up_all(w);
	ok(levels_are(w, doc, "0:0 0:0"), "DocId: 0:0 0:0");
	ok(levels_are(w, back, "0:1 0:2 1:2"), "Links.Backward: NULL, 10, 30");
	ok(levels_are(w, fwd, "0:2 1:2 1:2 0:2"), "Links.Forward: 20, 40, 60, 80");
	ok(levels_are(w, url, "0:2 1:2 1:1 0:2"), "Name.Url: A, B, NULL, C");
	ok(levels_are(w, code, "0:2 2:2 1:1 1:2 0:1"), "Name.Language.Code as in the paper");
	ok(levels_are(w, country, "0:3 2:2 1:1 1:3 0:1"), "Name.Language.Country as in the paper");
	pq_writer_free(w);
	pq_schema_free(s);
}

static void
list_of_structs_and_map(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	list,
				rep,
				elem,
				a,
				b,
				map,
				kv,
				key,
				val;
	pq_writer  *w;
	int			rc = 0;

	pq_schema_add_list(s, PQ_ROOT, "obs", PQ_OPTIONAL, &list, &rep);
	pq_schema_add_group(s, rep, "element", PQ_OPTIONAL, &elem);
	pq_schema_add_leaf(s, elem, "a", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &a);
	pq_schema_add_leaf(s, elem, "b", PQ_REQUIRED, PQ_INT32, PQ_LOGICAL_NONE, &b);
	pq_schema_add_map(s, PQ_ROOT, "m", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &map, &kv, &key);
	pq_schema_add_leaf(s, kv, "value", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &val);
	w = open_writer(s);

	/* r1: obs absent, m = {} */
	rc |= pq_begin_record(w);
	rc |= pq_begin_list(w, map);
	rc |= pq_end_list(w);
	rc |= pq_end_record(w);
	/* r2: obs = [], m absent */
	rc |= pq_begin_record(w);
	rc |= pq_begin_list(w, list);
	rc |= pq_end_list(w);
	rc |= pq_end_record(w);
	/* r3: obs = [{a:1,b:2}, null, {b:3}], m = {x: 5, y: null} */
	rc |= pq_begin_record(w);
	rc |= pq_begin_list(w, list);
	rc |= pq_list_element(w);
	rc |= pq_begin_group(w, elem);
	rc |= pq_value_int32(w, a, 1);
	rc |= pq_value_int32(w, b, 2);
	rc |= pq_end_group(w);
	rc |= pq_list_element(w);
	rc |= pq_null(w, elem);
	rc |= pq_list_element(w);
	rc |= pq_begin_group(w, elem);
	rc |= pq_value_int32(w, b, 3);
	rc |= pq_end_group(w);
	rc |= pq_end_list(w);
	rc |= pq_begin_list(w, map);
	rc |= pq_list_element(w);
	rc |= pq_value_bytes(w, key, "x", 1);
	rc |= pq_value_int32(w, val, 5);
	rc |= pq_list_element(w);
	rc |= pq_value_bytes(w, key, "y", 1);
	rc |= pq_end_list(w);
	rc |= pq_end_record(w);
	ok(rc == PQ_OK, "records with empty, absent and filled lists and maps are accepted");
	pq_catch_up_all(w);
	ok(levels_are(w, a, "0:0 0:1 0:4 1:2 1:3"), "obs.list.element.a: absent, empty, 1, null elem, null a");
	ok(levels_are(w, b, "0:0 0:1 0:3 1:2 1:3"), "obs.list.element.b (required in element)");
	ok(levels_are(w, key, "0:1 0:0 0:2 1:2"), "m.key_value.key: empty, absent, x, y");
	ok(levels_are(w, val, "0:1 0:0 0:3 1:2"), "m.key_value.value: empty, absent, 5, null");
	pq_writer_free(w);
	pq_schema_free(s);
}

static void
rollback_and_errors(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	id,
				g,
				x,
				req,
				tags,
				rep,
				el;
	pq_writer  *w;
	int			rc = 0;

	pq_schema_add_leaf(s, PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE, &id);
	pq_schema_add_group(s, PQ_ROOT, "g", PQ_OPTIONAL, &g);
	pq_schema_add_leaf(s, g, "x", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &x);
	pq_schema_add_leaf(s, g, "req", PQ_REQUIRED, PQ_INT32, PQ_LOGICAL_NONE, &req);
	pq_schema_add_list(s, PQ_ROOT, "tags", PQ_OPTIONAL, &tags, &rep);
	pq_schema_add_leaf(s, rep, "element", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &el);
	w = open_writer(s);

	rc |= pq_begin_record(w);
	rc |= pq_value_int64(w, id, 1);
	rc |= pq_begin_group(w, g);
	rc |= pq_value_int32(w, x, 7);
	rc |= pq_value_int32(w, req, 8);
	rc |= pq_end_group(w);
	rc |= pq_end_record(w);
	ok(rc == PQ_OK, "a first record is accepted");

	/* a record abandoned after touching many columns, values and lists */
	pq_begin_record(w);
	pq_value_int64(w, id, 2);
	pq_begin_list(w, tags);
	pq_list_element(w);
	pq_value_bytes(w, el, "zzz", 3);
	pq_end_list(w);
	pq_begin_group(w, g);
	pq_value_int32(w, x, 9);
	ok(pq_end_group(w) == PQ_ERR_SCHEMA && strstr(pq_writer_error(w), "\"req\"") != NULL,
	   "a missing REQUIRED field fails the group with a message naming it");
	ok(pq_end_record(w) == PQ_ERR_STATE, "a failed record cannot be ended");
	ok(pq_abandon_record(w) == PQ_OK, "it can be abandoned");

	rc = 0;
	rc |= pq_begin_record(w);
	rc |= pq_value_int64(w, id, 3);
	rc |= pq_end_record(w);
	ok(rc == PQ_OK, "the next record is accepted");
	pq_catch_up_all(w);
	ok(levels_are(w, id, "0:0 0:0"), "id holds records 1 and 3 only");
	ok(levels_are(w, x, "0:2 0:0"), "g.x: 7, then absent (the abandoned 9 is gone)");
	ok(levels_are(w, el, "0:0 0:0"), "tags.element: absent twice (the abandoned list is gone)");
	ok(w->cols[w->col_of_field[x]].nvalues == 1 && w->cols[w->col_of_field[id]].nvalues == 2,
	   "the abandoned values are gone from the column buffers");
	pq_writer_free(w);

	w = open_writer(s);
	ok(pq_value_int64(w, id, 1) == PQ_ERR_STATE, "a value outside a record is refused");
	pq_begin_record(w);
	ok(pq_value_int32(w, id, 1) == PQ_ERR_ARG, "a value of the wrong type is refused");
	pq_abandon_record(w);
	pq_begin_record(w);
	pq_value_int64(w, id, 1);
	ok(pq_value_int64(w, id, 2) == PQ_ERR_SCHEMA, "a non-repeated field given twice is refused");
	pq_abandon_record(w);
	pq_begin_record(w);
	ok(pq_value_int32(w, x, 1) == PQ_ERR_ARG, "a field outside the current group is refused");
	pq_abandon_record(w);
	pq_begin_record(w);
	ok(pq_end_record(w) == PQ_ERR_SCHEMA, "a record without its REQUIRED id is refused");
	pq_abandon_record(w);
	pq_begin_record(w);
	ok(pq_null(w, id) == PQ_ERR_SCHEMA, "null for a REQUIRED field is refused");
	pq_abandon_record(w);
	ok(pq_writer_num_rows(w) == 0, "no row was committed by the refused records");
	pq_writer_free(w);
	pq_schema_free(s);
}

static void
absent_columns_are_cheap(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	id,
				g,
				leaves[300];
	pq_writer  *w;
	int			rc = 0;
	size_t		max_runs = 0;

	pq_schema_add_leaf(s, PQ_ROOT, "id", PQ_REQUIRED, PQ_INT64, PQ_LOGICAL_NONE, &id);
	pq_schema_add_group(s, PQ_ROOT, "g", PQ_OPTIONAL, &g);
	for (int i = 0; i < 300; i++)
	{
		char		name[16];

		snprintf(name, sizeof(name), "f%d", i);
		pq_schema_add_leaf(s, i % 2 ? g : PQ_ROOT, name, PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &leaves[i]);
	}
	w = open_writer(s);
	for (int r = 0; r < 10000; r++)
	{
		rc |= pq_begin_record(w);
		rc |= pq_value_int64(w, id, r);
		rc |= pq_begin_group(w, g);
		rc |= pq_value_bytes(w, leaves[1], "v", 1);
		rc |= pq_end_group(w);
		rc |= pq_end_record(w);
	}
	ok(rc == PQ_OK, "10000 records giving 2 of 300 leaves");
	ok(w->nundo <= 4, "a record touches only what it gives (%zu nodes)", w->nundo);
	pq_catch_up_all(w);
	for (int i = 2; i < 300; i++)
		if (w->st[leaves[i]].nruns > max_runs)
			max_runs = w->st[leaves[i]].nruns;
	ok(max_runs == 1, "each absent column holds one counted run for 10000 records");
	ok(w->st[leaves[0]].nslots == 10000 &&
	   w->st[leaves[3]].runs[0].def == 1 && w->st[leaves[2]].runs[0].def == 0,
	   "absent leaves under the present group get def 1, under the root def 0");
	pq_writer_free(w);
	pq_schema_free(s);
}

static void
lookup_and_schema_checks(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	g,
				a,
				b,
				l,
				lr,
				extra,
				el;
	pq_writer  *w;
	char		err[128] = "";

	pq_schema_add_group(s, PQ_ROOT, "Actor", PQ_OPTIONAL, &g);
	pq_schema_add_leaf(s, g, "userName", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &a);
	pq_schema_add_leaf(s, PQ_ROOT, "username", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &b);
	ok(pq_schema_child(s, g, "userName", 8) == a && pq_schema_child(s, g, "username", 8) == PQ_NO_FIELD,
	   "exact lookup finds userName in Actor, not username");
	ok(pq_schema_child_ci(s, g, "USERNAME", 8) == a && pq_schema_child_ci(s, PQ_ROOT, "actor", 5) == g,
	   "case-insensitive lookup finds userName and Actor");
	ok(pq_schema_child(s, PQ_ROOT, "username", 8) == b && pq_schema_child(s, PQ_ROOT, "usernamex", 8) == b,
	   "lookup honours the given length, not a NUL");
	ok(pq_schema_child(s, PQ_ROOT, "userName", 8) == PQ_NO_FIELD, "a child of another group is not found");
	ok(pq_schema_add_leaf(s, PQ_ROOT, "username", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &el) == PQ_ERR_SCHEMA,
	   "a duplicate name in one group is refused");
	ok(pq_schema_add_leaf(s, PQ_ROOT, "x", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_STRING, &el) == PQ_ERR_SCHEMA,
	   "a logical type that does not suit the physical type is refused");
	pq_schema_add_list(s, PQ_ROOT, "l", PQ_OPTIONAL, &l, &lr);
	pq_schema_add_leaf(s, lr, "element", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &el);
	pq_schema_add_leaf(s, l, "extra", PQ_OPTIONAL, PQ_INT32, PQ_LOGICAL_NONE, &extra);
	ok(pq_writer_open(&w, s, NULL, (pq_sink) {discard, NULL}, NULL, err, sizeof(err)) == PQ_ERR_SCHEMA &&
	   w == NULL && strstr(err, "LIST") != NULL, "a LIST group with a field beside its repeated group is refused");
	pq_schema_free(s);
}

/* Level runs count toward memory_limit: a sparse pattern closes row groups early. */
static void
memory_limit(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	f[20];
	pq_options	o;
	pq_writer  *w = NULL;
	size_t		peak = 0;
	int			rc = 0;

	for (int i = 0; i < 20; i++)
	{
		char		name[8];

		snprintf(name, sizeof(name), "c%d", i);
		pq_schema_add_leaf(s, PQ_ROOT, name, PQ_OPTIONAL, PQ_BOOLEAN, PQ_LOGICAL_NONE, &f[i]);
	}
	pq_options_init(&o);
	o.memory_limit = 64 * 1024;
	pq_writer_open(&w, s, &o, (pq_sink) {discard, NULL}, NULL, NULL, 0);
	for (int r = 0; r < 20000; r++)
	{
		rc |= pq_begin_record(w);
		rc |= pq_value_bool(w, f[r % 20], true);	/* every column alternates: many runs */
		rc |= pq_end_record(w);
		if (pq_writer_memory_bytes(w) > peak)
			peak = pq_writer_memory_bytes(w);
	}
	ok(rc == PQ_OK && pq_writer_num_row_groups(w) >= 3,
	   "sparse records close row groups at the memory limit (%d row groups)", pq_writer_num_row_groups(w));
	ok(peak <= o.memory_limit + 1024 && pq_writer_buffered_bytes(w) < o.memory_limit,
	   "memory stays within the limit (peak %zu bytes)", peak);
	pq_writer_free(w);
	pq_schema_free(s);
}

int
main(void)
{
	memory_limit();
	lookup_and_schema_checks();
	dremel_document();
	list_of_structs_and_map();
	rollback_and_errors();
	absent_columns_are_cheap();
	return tap_done();
}
