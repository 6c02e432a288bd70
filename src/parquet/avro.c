/*
 * avro.c — the Avro schema of a Parquet schema, for the parquet.avro.schema key/value
 * entry that parquet-mr's AvroParquetReader (OpenSearch Ingestion, Data Prepper, Spark
 * with parquet-avro) reads before anything else. Without it, that reader derives an Avro
 * schema from the Parquet one itself and gets two things wrong for us: 3-level lists come
 * back as [{"element": x}] (parquet.avro.add-list-element-records defaults to true) and
 * only STRING/ENUM-annotated binaries become strings.
 *
 * The schema written is the one AvroSchemaConverter would turn into exactly this Parquet
 * schema (parquet-mr's Avro → Parquet direction, with write-old-list-structure off):
 *
 *   REQUIRED x          → field x of type T
 *   OPTIONAL x          → field x of ["null", T] with "default": null
 *   bare REPEATED x     → field x of {"type": "array", "items": T}
 *   group               → record named after its field, in the namespace of the enclosing
 *                         record's full name, so every record's full name is its path
 *                         (Avro forbids two records of one full name)
 *   LIST (3-level)      → {"type": "array", "items": E}, E the element's type (["null", T]
 *                         when OPTIONAL); an element record is named "element" in the
 *                         list's namespace — never "list", the name of the repeated group:
 *                         parquet-mr's AvroRecordConverter.isElementType takes the repeated
 *                         group for the element when an element record of that name is
 *                         compatible with it, and would read every element as empty
 *   MAP                 → {"type": "map", "values": V} (Avro map keys are strings)
 *   BOOLEAN "boolean", INT32 (any INT annotation) "int", INT64 "long",
 *   INT64 TIMESTAMP(MILLIS) {"type": "long", "logicalType": "timestamp-millis"},
 *   FLOAT "float", DOUBLE "double", BYTE_ARRAY STRING or JSON "string", BYTE_ARRAY "bytes"
 */
#include "parquet/schema_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct avro_writer
{
	const pq_schema *schema;
	pq_bytes	out;
	int			status;
	char	   *errbuf;
	size_t		errbuf_len;
} avro_writer;

static void
put(avro_writer *a, const char *s)
{
	if (a->status == PQ_OK)
		a->status = pqb_append(&a->out, s, strlen(s));
}

static void
fail(avro_writer *a, int status, const char *fmt,...)
{
	va_list		ap;

	if (a->status != PQ_OK)
		return;
	a->status = status;
	if (a->errbuf && a->errbuf_len)
	{
		va_start(ap, fmt);
		vsnprintf(a->errbuf, a->errbuf_len, fmt, ap);
		va_end(ap);
	}
}

/* Avro names: [A-Za-z_][A-Za-z0-9_]* */
bool
pq_avro_valid_name(const char *name)
{
	const char *p;

	if (name == NULL || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* A dotted namespace: Avro names joined by "." (or empty). */
static bool
valid_namespace(const char *ns)
{
	char		part[256];
	const char *p = ns;

	if (*ns == '\0')
		return true;
	for (;;)
	{
		const char *dot = strchr(p, '.');
		size_t		n = dot ? (size_t) (dot - p) : strlen(p);

		if (n == 0 || n >= sizeof(part))
			return false;
		memcpy(part, p, n);
		part[n] = '\0';
		if (!pq_avro_valid_name(part))
			return false;
		if (dot == NULL)
			return true;
		p = dot + 1;
	}
}

static void type_of(avro_writer *a, pq_field f, const char *ns, bool with_repetition);

static void
leaf_type(avro_writer *a, const pq_node *n)
{
	switch (n->physical)
	{
		case PQ_BOOLEAN:
			put(a, "\"boolean\"");
			return;
		case PQ_INT32:
			put(a, "\"int\"");
			return;
		case PQ_INT64:
			put(a, n->logical == PQ_LOGICAL_TIMESTAMP_MILLIS
				? "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}" : "\"long\"");
			return;
		case PQ_FLOAT:
			put(a, "\"float\"");
			return;
		case PQ_DOUBLE:
			put(a, "\"double\"");
			return;
		case PQ_BYTE_ARRAY:
			put(a, n->logical == PQ_LOGICAL_STRING || n->logical == PQ_LOGICAL_JSON ? "\"string\"" : "\"bytes\"");
			return;
	}
	fail(a, PQ_ERR_SCHEMA, "field \"%s\" has no Avro type", n->name);
}

/* The fields of group F as a record NAME in namespace NS. */
static void
record(avro_writer *a, pq_field f, const char *name, const char *ns)
{
	const pq_node *n = &a->schema->nodes[f];
	char	   *full;
	size_t		len;

	if (!pq_avro_valid_name(name))
	{
		fail(a, PQ_ERR_SCHEMA, "\"%s\" is not an Avro name (a letter or _ then letters, digits, _)", name);
		return;
	}
	len = strlen(ns) + strlen(name) + 2;
	full = pq_alloc(&a->schema->alloc, len);
	if (full == NULL)
	{
		fail(a, PQ_ERR_NOMEM, "out of memory");
		return;
	}
	snprintf(full, len, "%s%s%s", ns, ns[0] ? "." : "", name);
	put(a, "{\"type\":\"record\",\"name\":\"");
	put(a, name);
	put(a, "\",\"namespace\":\"");
	put(a, ns);
	put(a, "\",\"fields\":[");
	for (size_t i = 0; i < n->nchildren && a->status == PQ_OK; i++)
	{
		const pq_node *c = &a->schema->nodes[n->children[i]];

		if (!pq_avro_valid_name(c->name))
		{
			fail(a, PQ_ERR_SCHEMA, "\"%s\" is not an Avro name (a letter or _ then letters, digits, _)", c->name);
			break;
		}
		if (i > 0)
			put(a, ",");
		put(a, "{\"name\":\"");
		put(a, c->name);
		put(a, "\",\"type\":");
		type_of(a, n->children[i], full, true);
		if (c->repetition == PQ_OPTIONAL)
			put(a, ",\"default\":null");
		put(a, "}");
	}
	put(a, "]}");
	pq_free(&a->schema->alloc, full);
}

/*
 * The Avro type of field F (its record, array or map, or leaf type); with_repetition
 * wraps it as its repetition says (["null", T], or an array for a bare REPEATED field).
 * NS is the full name of the record that holds it.
 */
static void
type_of(avro_writer *a, pq_field f, const char *ns, bool with_repetition)
{
	const pq_node *n = &a->schema->nodes[f];
	char	   *inner_ns;
	size_t		len;

	if (a->status != PQ_OK)
		return;
	if (with_repetition && n->repetition == PQ_OPTIONAL)
		put(a, "[\"null\",");
	else if (with_repetition && n->repetition == PQ_REPEATED)
		put(a, "{\"type\":\"array\",\"items\":");
	len = strlen(ns) + strlen(n->name) + 2;
	inner_ns = pq_alloc(&a->schema->alloc, len);
	if (inner_ns == NULL)
	{
		fail(a, PQ_ERR_NOMEM, "out of memory");
		return;
	}
	snprintf(inner_ns, len, "%s%s%s", ns, ns[0] ? "." : "", n->name);
	if (n->is_leaf)
		leaf_type(a, n);
	else if (n->kind == PQ_KIND_LIST || n->kind == PQ_KIND_MAP)
	{
		const pq_node *rep = n->nchildren == 1 ? &a->schema->nodes[n->children[0]] : NULL;
		size_t		want = n->kind == PQ_KIND_LIST ? 1 : 2;

		if (rep == NULL || rep->nchildren != want)
			fail(a, PQ_ERR_SCHEMA, "%s \"%s\" is not a standard 3-level %s", n->kind == PQ_KIND_LIST ? "list" : "map",
				 n->name, n->kind == PQ_KIND_LIST ? "LIST" : "MAP");
		else
		{
			pq_field	item = rep->children[want - 1];
			const pq_node *in = &a->schema->nodes[item];

			put(a, n->kind == PQ_KIND_LIST ? "{\"type\":\"array\",\"items\":" : "{\"type\":\"map\",\"values\":");
			if (in->repetition == PQ_OPTIONAL)
				put(a, "[\"null\",");
			if (!in->is_leaf && in->kind == PQ_KIND_PLAIN)
				record(a, item, n->kind == PQ_KIND_LIST ? "element" : "value", inner_ns);
			else
				type_of(a, item, inner_ns, false);
			if (in->repetition == PQ_OPTIONAL)
				put(a, "]");
			put(a, "}");
		}
	}
	else
		record(a, f, n->name, ns);
	pq_free(&a->schema->alloc, inner_ns);
	if (with_repetition && (n->repetition == PQ_OPTIONAL || n->repetition == PQ_REPEATED))
		put(a, n->repetition == PQ_OPTIONAL ? "]" : "}");
}

int
pq_avro_schema(const pq_schema *schema, const char *record_name, const char *namespace_,
			   const pq_allocator *alloc, char **out, size_t *out_len,
			   char *errbuf, size_t errbuf_len)
{
	avro_writer a;

	if (out)
		*out = NULL;
	if (schema == NULL || record_name == NULL || out == NULL)
		return PQ_ERR_ARG;
	memset(&a, 0, sizeof(a));
	a.schema = schema;
	a.errbuf = errbuf;
	a.errbuf_len = errbuf_len;
	if (errbuf && errbuf_len)
		errbuf[0] = '\0';
	pqb_init(&a.out, alloc ? alloc : &pq_libc_allocator);
	if (namespace_ == NULL)
		namespace_ = "";
	if (!valid_namespace(namespace_))
		fail(&a, PQ_ERR_ARG, "\"%s\" is not an Avro namespace", namespace_);
	else
		record(&a, PQ_ROOT, record_name, namespace_);
	if (a.status == PQ_OK)
		a.status = pqb_u8(&a.out, 0);
	if (a.status != PQ_OK)
	{
		if (a.status == PQ_ERR_NOMEM && errbuf && errbuf_len && errbuf[0] == '\0')
			snprintf(errbuf, errbuf_len, "out of memory");
		pqb_free(&a.out);
		return a.status;
	}
	*out = (char *) a.out.data;
	if (out_len)
		*out_len = a.out.len - 1;
	return PQ_OK;
}
