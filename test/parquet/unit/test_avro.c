/*
 * test_avro.c — the column-type mapping (pq_column_type), the Avro schema of a Parquet
 * schema (pq_avro_schema) and pq_check_record.
 */
#include "parquet/parquet.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define CHECK(x) do { if ((x) != PQ_OK) { printf("not ok - %s\n", #x); exit(1); } } while (0)

static void
column_types(void)
{
	static const struct
	{
		pq_column_type t;
		pq_physical p;
		pq_logical l;
	}			want[] = {
		{PQ_COL_BOOLEAN, PQ_BOOLEAN, PQ_LOGICAL_NONE},
		{PQ_COL_INT8, PQ_INT32, PQ_LOGICAL_INT8},
		{PQ_COL_INT16, PQ_INT32, PQ_LOGICAL_INT16},
		{PQ_COL_INT32, PQ_INT32, PQ_LOGICAL_NONE},
		{PQ_COL_INT64, PQ_INT64, PQ_LOGICAL_NONE},
		{PQ_COL_TIMESTAMP_MILLIS, PQ_INT64, PQ_LOGICAL_TIMESTAMP_MILLIS},
		{PQ_COL_FLOAT, PQ_FLOAT, PQ_LOGICAL_NONE},
		{PQ_COL_DOUBLE, PQ_DOUBLE, PQ_LOGICAL_NONE},
		{PQ_COL_STRING, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING},
		{PQ_COL_JSON, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING},
		{PQ_COL_BYTES, PQ_BYTE_ARRAY, PQ_LOGICAL_NONE},
	};
	int			good = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
	{
		pq_physical p;
		pq_logical	l;

		if (pq_column_type_parquet(want[i].t, &p, &l) && p == want[i].p && l == want[i].l &&
			pq_column_type_name(want[i].t) != NULL)
			good++;
	}
	ok(good == PQ_COL_NUM_TYPES, "every column type maps to its Parquet types (%d of %d)", good, PQ_COL_NUM_TYPES);
	ok(!pq_column_type_parquet((pq_column_type) PQ_COL_NUM_TYPES, &(pq_physical) {0}, &(pq_logical) {0}),
	   "a value out of the enum has no Parquet types");
	ok(pq_column_type_name(PQ_COL_JSON) && strcmp(pq_column_type_name(PQ_COL_JSON), "JSON") == 0, "names");
}

/*
 * schema { required int32 id; optional int64 ts (TIMESTAMP_MILLIS); optional binary j (json column);
 *          optional group actor { optional binary name (STRING); optional int32 small (INT8) };
 *          optional group tags (LIST) { repeated group list { optional binary element (STRING) } };
 *          optional group obs (LIST) { repeated group list { optional group element { optional double v } } };
 *          optional group m (MAP) { repeated group key_value { required binary key (STRING); optional binary value (STRING) } };
 *          repeated int64 bare; optional boolean b; optional float f; optional binary raw }
 */
static pq_schema *
fixture(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	f,
				g,
				rep,
				el,
				kv,
				key;

	CHECK(pq_schema_add_column(s, PQ_ROOT, "id", PQ_REQUIRED, PQ_COL_INT32, &f));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "ts", PQ_OPTIONAL, PQ_COL_TIMESTAMP_MILLIS, &f));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "j", PQ_OPTIONAL, PQ_COL_JSON, &f));
	CHECK(pq_schema_add_group(s, PQ_ROOT, "actor", PQ_OPTIONAL, &g));
	CHECK(pq_schema_add_column(s, g, "name", PQ_OPTIONAL, PQ_COL_STRING, &f));
	CHECK(pq_schema_add_column(s, g, "small", PQ_OPTIONAL, PQ_COL_INT8, &f));
	CHECK(pq_schema_add_list(s, PQ_ROOT, "tags", PQ_OPTIONAL, &g, &rep));
	CHECK(pq_schema_add_column(s, rep, "element", PQ_OPTIONAL, PQ_COL_STRING, &f));
	CHECK(pq_schema_add_list(s, PQ_ROOT, "obs", PQ_OPTIONAL, &g, &rep));
	CHECK(pq_schema_add_group(s, rep, "element", PQ_OPTIONAL, &el));
	CHECK(pq_schema_add_column(s, el, "v", PQ_OPTIONAL, PQ_COL_DOUBLE, &f));
	CHECK(pq_schema_add_map(s, PQ_ROOT, "m", PQ_OPTIONAL, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &g, &kv, &key));
	CHECK(pq_schema_add_column(s, kv, "value", PQ_OPTIONAL, PQ_COL_STRING, &f));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "bare", PQ_REPEATED, PQ_COL_INT64, &f));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "b", PQ_OPTIONAL, PQ_COL_BOOLEAN, &f));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "f", PQ_OPTIONAL, PQ_COL_FLOAT, &f));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "raw", PQ_OPTIONAL, PQ_COL_BYTES, &f));
	return s;
}

static void
avro_schema(void)
{
	pq_schema  *s = fixture();
	char	   *text = NULL;
	size_t		len = 0;
	char		err[256];
	const char *want =
		"{\"type\":\"record\",\"name\":\"event\",\"namespace\":\"securitylake\",\"fields\":["
		"{\"name\":\"id\",\"type\":\"int\"},"
		"{\"name\":\"ts\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},"
		"{\"name\":\"j\",\"type\":[\"null\",\"string\"],\"default\":null},"
		"{\"name\":\"actor\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"actor\",\"namespace\":\"securitylake.event\",\"fields\":["
		"{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},"
		"{\"name\":\"small\",\"type\":[\"null\",\"int\"],\"default\":null}]}],\"default\":null},"
		"{\"name\":\"tags\",\"type\":[\"null\",{\"type\":\"array\",\"items\":[\"null\",\"string\"]}],\"default\":null},"
		"{\"name\":\"obs\",\"type\":[\"null\",{\"type\":\"array\",\"items\":[\"null\",{\"type\":\"record\",\"name\":\"element\",\"namespace\":\"securitylake.event.obs\",\"fields\":["
		"{\"name\":\"v\",\"type\":[\"null\",\"double\"],\"default\":null}]}]}],\"default\":null},"
		"{\"name\":\"m\",\"type\":[\"null\",{\"type\":\"map\",\"values\":[\"null\",\"string\"]}],\"default\":null},"
		"{\"name\":\"bare\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
		"{\"name\":\"b\",\"type\":[\"null\",\"boolean\"],\"default\":null},"
		"{\"name\":\"f\",\"type\":[\"null\",\"float\"],\"default\":null},"
		"{\"name\":\"raw\",\"type\":[\"null\",\"bytes\"],\"default\":null}]}";

	ok(pq_avro_schema(s, "event", "securitylake", NULL, &text, &len, err, sizeof(err)) == PQ_OK,
	   "the fixture has an Avro schema");
	ok(text && strcmp(text, want) == 0 && len == strlen(want),
	   "records, unions with null (default null) for OPTIONAL, arrays for LIST and bare REPEATED, maps, "
	   "timestamp-millis, int for INT8/INT32, string for STRING and JSON, bytes; list element records named \"element\"");
	if (text && strcmp(text, want) != 0)
		printf("# got  %s\n# want %s\n", text, want);
	free(text);
	pq_schema_free(s);

	s = pq_schema_new(NULL);
	{
		pq_field	f;

		CHECK(pq_schema_add_column(s, PQ_ROOT, "x-y", PQ_OPTIONAL, PQ_COL_STRING, &f));
	}
	ok(pq_avro_schema(s, "event", NULL, NULL, &text, &len, err, sizeof(err)) == PQ_ERR_SCHEMA &&
	   strstr(err, "x-y") != NULL && text == NULL,
	   "a field name that is not an Avro name is refused, naming it: %s", err);
	ok(pq_avro_schema(s, "event", "bad..ns", NULL, &text, &len, err, sizeof(err)) == PQ_ERR_ARG,
	   "a namespace that is not dotted Avro names is refused");
	pq_schema_free(s);
	ok(pq_avro_valid_name("_a1") && !pq_avro_valid_name("1a") && !pq_avro_valid_name("") &&
	   !pq_avro_valid_name("a.b"), "Avro names: [A-Za-z_][A-Za-z0-9_]*");
}

static int
null_write(void *ctx, const void *buf, size_t len)
{
	(void) ctx;
	(void) buf;
	(void) len;
	return 0;
}

static void
check_record(void)
{
	pq_schema  *s = pq_schema_new(NULL);
	pq_field	id,
				name;
	pq_writer  *w;
	pq_options	o;
	pq_sink		sink = {null_write, NULL};
	size_t		before;

	CHECK(pq_schema_add_column(s, PQ_ROOT, "id", PQ_REQUIRED, PQ_COL_INT32, &id));
	CHECK(pq_schema_add_column(s, PQ_ROOT, "name", PQ_OPTIONAL, PQ_COL_STRING, &name));
	pq_options_init(&o);
	CHECK(pq_writer_open(&w, s, &o, sink, NULL, NULL, 0));
	CHECK(pq_begin_record(w));
	CHECK(pq_value_int32(w, id, 1));
	CHECK(pq_end_record(w));
	before = pq_writer_buffered_bytes(w);

	CHECK(pq_begin_record(w));
	CHECK(pq_value_bytes(w, name, "alice", 5));
	ok(pq_check_record(w) == PQ_ERR_SCHEMA && !pq_writer_in_record(w),
	   "pq_check_record: a missing REQUIRED field is reported and the record dropped");
	CHECK(pq_begin_record(w));
	CHECK(pq_value_int32(w, id, 2));
	CHECK(pq_value_bytes(w, name, "bob", 3));
	ok(pq_check_record(w) == PQ_OK && !pq_writer_in_record(w), "pq_check_record: a good record passes and is dropped too");
	ok(pq_writer_num_rows(w) == 1 && pq_writer_buffered_bytes(w) == before,
	   "nothing of the checked records stays in the writer (rows %lld, buffered %zu = %zu)",
	   (long long) pq_writer_num_rows(w), pq_writer_buffered_bytes(w), before);
	ok(pq_check_record(w) == PQ_ERR_STATE, "pq_check_record outside a record is an error");
	CHECK(pq_writer_close(w));
	pq_writer_free(w);
	pq_schema_free(s);
}

int
main(void)
{
	column_types();
	avro_schema();
	check_record();
	return tap_done();
}
