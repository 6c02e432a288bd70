/*-------------------------------------------------------------------------
 *
 * shred.c
 *		jsonb → Parquet: walk each event alongside the source's column tree
 *		and feed the encoder (src/parquet) value by value.
 *
 * Strict by default: a value that does not fit its column (a string in an
 * integer field, a fraction in a long, an integer out of range, a non-finite
 * number, an object where a list belongs, ...) rejects the whole event with
 * a reason naming the path; the event is dead-lettered and the rest of the
 * batch is delivered. The walk costs what is present in the event: absent
 * columns are filled by the encoder as counted null runs.
 *
 * Keys without a column are not dropped when the schema has the `unmapped`
 * MAP<STRING,STRING> catch-all: they are kept in it under their JSONPath from
 * the event's root ("$.actor.user.vendor_x" → JSON text), next to the entries
 * of the event's own OCSF `unmapped` object (under their own keys), so a
 * reader can rebuild the full event (see README, "Nothing dropped").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "ocsf/ocsf_parquet.h"
#include "parquet/parquet.h"
#include "event_rules.h"
#include "schema.h"
#include "shred.h"
#include "source.h"

/* Deepest JSON nesting the walk follows; deeper events are rejected. */
#define SHRED_MAX_DEPTH 64

struct SlEncoder
{
	SlSource   *source;
	SlNode	   *root;
	MemoryContext cxt;			/* everything of this encoder, incl. the library's memory */
	pq_allocator alloc;
	pq_schema  *schema;
	ocsf_pq_schema ocsf;		/* built-in class schema (owns schema) when not tags */
	bool		is_ocsf;
	pq_writer  *writer;
	int64		rows;
	uint32		visit;			/* objects walked so far: marks what one object carried */
	uint32		root_visit;		/* the visit of the current event's root object */
	/* per event */
	const char *path[SHRED_MAX_DEPTH];	/* keys from the root, for messages; */
	int			pathlen[SHRED_MAX_DEPTH];	/* NULL key: an array index in pathlen */
	int			depth;
	char	   *reason;
	StringInfoData scratch;
	int			nunmapped;
	int			maxunmapped;
	char	  **unmapped_keys;
	char	  **unmapped_values;
};

/* ---- palloc-backed allocator for the library ---------------------------- */

static void *
enc_malloc(void *ctx, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) ctx, Max(size, 1),
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void *
enc_realloc(void *ctx, void *ptr, size_t size)
{
	if (ptr == NULL)
		return enc_malloc(ctx, size);
	return repalloc_huge(ptr, Max(size, 1));
}

static void
enc_free(void *ctx, void *ptr)
{
	(void) ctx;
	if (ptr)
		pfree(ptr);
}

/* ---- schema: SlNode tree → pq_schema ----------------------------------- */

static void
check_pq(SlEncoder *enc, int rc, const char *what)
{
	if (rc != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("securitylake: could not build the Parquet schema of source \"%s\"", enc->source->name),
				 errdetail("%s: %s", what, pq_schema_error(enc->schema))));
}

static pq_repetition
repetition_of(const SlNode *node)
{
	return node->repeated ? PQ_REPEATED : node->required ? PQ_REQUIRED : PQ_OPTIONAL;
}

static void
leaf_types(SlKind kind, int int_bits, pq_physical *physical, pq_logical *logical)
{
	switch (kind)
	{
		case SL_BOOLEAN:
			*physical = PQ_BOOLEAN, *logical = PQ_LOGICAL_NONE;
			break;
		case SL_INT32:
			*physical = PQ_INT32;
			*logical = int_bits == 8 ? PQ_LOGICAL_INT8 : int_bits == 16 ? PQ_LOGICAL_INT16 : PQ_LOGICAL_INT32;
			break;
		case SL_INT64:
			*physical = PQ_INT64, *logical = PQ_LOGICAL_INT64;
			break;
		case SL_TIMESTAMP_MS:
			*physical = PQ_INT64, *logical = PQ_LOGICAL_TIMESTAMP_MILLIS;
			break;
		case SL_FLOAT:
			*physical = PQ_FLOAT, *logical = PQ_LOGICAL_NONE;
			break;
		case SL_DOUBLE:
			*physical = PQ_DOUBLE, *logical = PQ_LOGICAL_NONE;
			break;
		case SL_STRING:
			*physical = PQ_BYTE_ARRAY, *logical = PQ_LOGICAL_STRING;
			break;
		case SL_JSON:
			*physical = PQ_BYTE_ARRAY, *logical = PQ_LOGICAL_JSON;
			break;
		default:
			*physical = PQ_BYTE_ARRAY, *logical = PQ_LOGICAL_NONE;
			break;
	}
}

static void add_node(SlEncoder *enc, pq_field parent, SlNode *node, const char *name);

static void
add_children(SlEncoder *enc, SlNode *group)
{
	int			i;

	for (i = 0; i < group->nchildren; i++)
		add_node(enc, group->pq, group->children[i], group->children[i]->name);
}

/* Add NODE under PARENT as NAME; LIST elements and MAP values get their standard names. */
static void
add_node(SlEncoder *enc, pq_field parent, SlNode *node, const char *name)
{
	pq_field	field;
	pq_field	repeated;
	pq_field	key;
	pq_physical physical;
	pq_logical	logical;

	switch (node->kind)
	{
		case SL_GROUP:
			check_pq(enc, pq_schema_add_group(enc->schema, parent, name, repetition_of(node), &field), name);
			node->pq = field;
			add_children(enc, node);
			break;
		case SL_LIST:
			check_pq(enc, pq_schema_add_list(enc->schema, parent, name, repetition_of(node), &field, &repeated), name);
			node->pq = field;
			add_node(enc, repeated, node->children[0], "element");
			break;
		case SL_MAP:
			check_pq(enc, pq_schema_add_map(enc->schema, parent, name, repetition_of(node),
											PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &field, &repeated, &key), name);
			node->pq = field;
			node->pq_key = key;
			node->children[0]->pq = key;
			add_node(enc, repeated, node->children[1], "value");
			break;
		default:
			leaf_types(node->kind, node->int_bits, &physical, &logical);
			check_pq(enc, pq_schema_add_leaf(enc->schema, parent, name, repetition_of(node),
											 physical, logical, &field), name);
			node->pq = field;
			break;
	}
}

/*
 * The source's columns: its parquet-go tag schema (then built into a Parquet
 * schema here), or the built-in OCSF class schema (built by src/ocsf).
 */
static void
build_schema(SlEncoder *enc)
{
	SlSource   *source = enc->source;

	if (source->schema != NULL)
	{
		enc->root = sl_schema_from_tags(source->schema);
		enc->schema = pq_schema_new(&enc->alloc);
		enc->root->pq = PQ_ROOT;
		add_children(enc, enc->root);
	}
	else
	{
		enc->root = sl_schema_from_ocsf(source->ocsf_version, source->class_uid,
										sl_option_int(source, "max_depth", 0),
										sl_option_bool(source, "strict_nested"),
										&enc->alloc, &enc->ocsf);
		enc->schema = enc->ocsf.schema;
		enc->is_ocsf = true;
	}
}

SlEncoder *
sl_encoder_begin(SlSource *source, pq_sink sink)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "securitylake encoder",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SlEncoder  *enc = palloc0(sizeof(SlEncoder));
	pq_options	options;
	pq_key_value kv[3];
	char		err[256];

	enc->source = source;
	enc->cxt = cxt;
	enc->alloc.malloc_fn = enc_malloc;
	enc->alloc.realloc_fn = enc_realloc;
	enc->alloc.free_fn = enc_free;
	enc->alloc.ctx = cxt;
	build_schema(enc);
	initStringInfo(&enc->scratch);

	pq_options_init(&options);
	options.zstd_level = sl_option_int(source, "zstd_level", 3);

	/*
	 * A row group is what the encoder holds in memory (its values and their
	 * levels), so its target bounds the worker's memory whatever the object's
	 * size: the source's row_group_size, 64 MiB by default, within Security
	 * Lake's 256 MB.
	 */
	options.row_group_size = (size_t) sl_option_int64(source, "row_group_size", SL_DEFAULT_ROW_GROUP_SIZE);
	options.memory_limit = options.row_group_size;
	kv[0].key = "securitylake.source";
	kv[0].value = source->name;
	kv[1].key = "ocsf.class_uid";
	kv[1].value = psprintf("%d", source->class_uid);
	kv[2].key = "ocsf.version";
	kv[2].value = source->ocsf_version;
	options.key_value_metadata = kv;
	options.num_key_value_metadata = 3;
	if (pq_writer_open(&enc->writer, enc->schema, &options, sink,
					   &enc->alloc, err, sizeof(err)) != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not open a Parquet writer for source \"%s\"", source->name),
				 errdetail("%s", err)));
	MemoryContextSwitchTo(old);
	return enc;
}

/* ---- the walk ----------------------------------------------------------- */

/*
 * One path segment in JSONPath notation: .name for a plain identifier,
 * ["…"] (JSON string escaping) for any other key, so every path reads back
 * to exactly one place in the event.
 */
static void
append_path_segment(StringInfo buf, const char *key, int len)
{
	bool		plain = len > 0 && !isdigit((unsigned char) key[0]);
	int			i;

	for (i = 0; i < len && plain; i++)
		plain = isalnum((unsigned char) key[i]) || key[i] == '_';
	if (plain)
	{
		appendStringInfoChar(buf, '.');
		appendBinaryStringInfo(buf, key, len);
		return;
	}
	appendStringInfoChar(buf, '[');
	escape_json(buf, pnstrdup(key, len));
	appendStringInfoChar(buf, ']');
}

/*
 * The current position in the event: dotted for reasons
 * ("observables[1].type_id"), or as a JSONPath from the root for the keys of
 * `unmapped` ($.actor.user["x-y"][0]).
 */
static char *
path_text(SlEncoder *enc, bool jsonpath)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	if (jsonpath)
		appendStringInfoChar(&buf, '$');
	for (i = 0; i < enc->depth; i++)
	{
		if (enc->path[i] == NULL)
			appendStringInfo(&buf, "[%d]", enc->pathlen[i]);
		else if (jsonpath)
			append_path_segment(&buf, enc->path[i], enc->pathlen[i]);
		else
		{
			if (i > 0)
				appendStringInfoChar(&buf, '.');
			appendBinaryStringInfo(&buf, enc->path[i], enc->pathlen[i]);
		}
	}
	return buf.data;
}

/* Record why the event is rejected; returns false for the caller to pass up. */
static bool
reject(SlEncoder *enc, const char *what)
{
	if (enc->reason == NULL)
		enc->reason = psprintf("%s at %s", what, enc->depth ? path_text(enc, false) : "(root)");
	return false;
}

static bool
reject_detail(SlEncoder *enc, const char *what, const char *detail)
{
	if (enc->reason == NULL)
		enc->reason = psprintf("%s at %s (%s)", what, enc->depth ? path_text(enc, false) : "(root)", detail);
	return false;
}

/*
 * JSON kept as text (json_t columns, unmapped entries) may nest at most this
 * deep, like the columns themselves: deeper documents are rejected, not stored.
 */
#define SHRED_MAX_JSON_DEPTH 64

static bool
json_depth_ok(SlEncoder *enc, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	x;
	JsonbIteratorToken tok;
	int			depth = enc->depth;

	if (v->type != jbvBinary)
		return true;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &x, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++depth > SHRED_MAX_JSON_DEPTH)
				return reject_detail(enc, "too deep", psprintf("JSON nested more than %d levels", SHRED_MAX_JSON_DEPTH));
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			depth--;
	}
	return true;
}

static bool
pq_ok(SlEncoder *enc, int rc)
{
	if (rc == PQ_OK)
		return true;
	if (enc->reason == NULL)
	{
		const char *msg = pq_writer_error(enc->writer);

		if (rc == PQ_ERR_SCHEMA)
			enc->reason = psprintf("missing required attribute or repeated value: %s (near %s)", msg,
								   enc->depth ? path_text(enc, false) : "(root)");
		else if (rc == PQ_ERR_LIMIT)
			enc->reason = psprintf("too large for one Parquet page or row group: %s", msg);
		else
			enc->reason = psprintf("could not encode: %s", msg);
	}
	return false;
}

static bool
push_key(SlEncoder *enc, const char *key, int len)
{
	if (enc->depth >= SHRED_MAX_DEPTH)
		return reject(enc, "too deep");
	enc->path[enc->depth] = key;
	enc->pathlen[enc->depth] = len;
	enc->depth++;
	return true;
}

/* The text of a JSON number, strictly parsed by the callers. */
static char *
number_text(JsonbValue *v)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

static bool
value_integer(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	int64		x;
	int64		lo,
				hi;

	if (v->type != jbvNumeric)
		return reject(enc, node->int_bits == 64 ? "expected long" : "expected integer");
	switch (sl_numeric_int64(v->val.numeric, &x))
	{
		case SL_NUM_FRACTION:
			return reject_detail(enc, node->int_bits == 64 ? "expected long" : "expected integer", "a fractional number");
		case SL_NUM_RANGE:
			return reject(enc, "out of range");
		case SL_NUM_OK:
			break;
	}
	if (node->int_bits == 64)
		return pq_ok(enc, pq_value_int64(enc->writer, node->pq, x));
	hi = (INT64CONST(1) << (node->int_bits - 1)) - 1;
	lo = -hi - 1;
	if (x < lo || x > hi)
		return reject(enc, "out of range");
	return pq_ok(enc, pq_value_int32(enc->writer, node->pq, (int32) x));
}

/*
 * An RFC 3339 date-time (OCSF datetime_t, e.g. 2024-05-01T12:00:00.123Z or
 * ...+02:00) as epoch milliseconds. Strict: the whole string must parse.
 */
static bool
value_datetime(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	char	   *text = pnstrdup(v->val.string.val, v->val.string.len);
	int			y, mo, d, h, mi, sec, n = 0;
	int64		ms = 0;
	int			ms_digits = 0;
	char	   *p;
	int64		days;
	int			offset_min = 0;

	if (sscanf(text, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return reject(enc, "expected RFC 3339 date-time or epoch milliseconds");
	p = text + n;
	if (*p == '.')
	{
		for (p++; isdigit((unsigned char) *p); p++, ms_digits++)
			if (ms_digits < 3)
				ms = ms * 10 + (*p - '0');
		if (ms_digits == 0)
			return reject(enc, "expected RFC 3339 date-time (empty fraction)");
		for (; ms_digits < 3; ms_digits++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && isdigit((unsigned char) p[1]) && isdigit((unsigned char) p[2]) &&
			 p[3] == ':' && isdigit((unsigned char) p[4]) && isdigit((unsigned char) p[5]))
	{
		offset_min = ((p[1] - '0') * 10 + (p[2] - '0')) * 60 + (p[4] - '0') * 10 + (p[5] - '0');
		if (*p == '-')
			offset_min = -offset_min;
		p += 6;
	}
	else
		return reject(enc, "expected RFC 3339 date-time with a time zone (Z or +hh:mm)");
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return reject(enc, "expected RFC 3339 date-time");
	days = date2j(y, mo, d) - UNIX_EPOCH_JDATE;
	ms += ((days * 24 + h) * 60 + mi - offset_min) * INT64CONST(60000) + (int64) sec * 1000;
	return pq_ok(enc, pq_value_int64(enc->writer, node->pq, ms));
}

static bool
value_float(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	char	   *text;
	char	   *end;
	double		d;

	if (v->type != jbvNumeric)
		return reject(enc, "expected number");
	if (numeric_is_nan(v->val.numeric) || numeric_is_inf(v->val.numeric))
		return reject(enc, "not finite");
	text = number_text(v);
	errno = 0;
	d = strtod(text, &end);
	if (errno == ERANGE && fabs(d) > 1.0)
		return reject(enc, "out of range (not finite as a double)");
	if (node->kind == SL_FLOAT)
	{
		if (fabs(d) > FLT_MAX)
			return reject(enc, "out of range for a float");
		return pq_ok(enc, pq_value_float(enc->writer, node->pq, (float) d));
	}
	return pq_ok(enc, pq_value_double(enc->writer, node->pq, d));
}

/*
 * A byte-array value. Security Lake wants data pages of at most 1 MiB
 * uncompressed, and a value cannot span pages: a larger one is rejected.
 */
#define SHRED_MAX_VALUE_BYTES (1024 * 1024 - 1024)

static bool
value_bytes(SlEncoder *enc, pq_field field, const char *data, int len)
{
	if (len > SHRED_MAX_VALUE_BYTES)
		return reject(enc, psprintf("value too large (%d bytes; a Parquet page holds at most 1 MiB)", len));
	return pq_ok(enc, pq_value_bytes(enc->writer, field, data, len));
}

/* Any JSON value as text: strings as themselves when as_is_strings, else JSON. */
static char *
json_text(SlEncoder *enc, JsonbValue *v, bool as_is_strings, int *len)
{
	resetStringInfo(&enc->scratch);
	switch (v->type)
	{
		case jbvString:
			if (as_is_strings)
			{
				*len = v->val.string.len;
				return v->val.string.val;
			}
			escape_json(&enc->scratch, pnstrdup(v->val.string.val, v->val.string.len));
			break;
		case jbvNumeric:
			appendStringInfoString(&enc->scratch, number_text(v));
			break;
		case jbvBool:
			appendStringInfoString(&enc->scratch, v->val.boolean ? "true" : "false");
			break;
		case jbvNull:
			appendStringInfoString(&enc->scratch, "null");
			break;
		case jbvBinary:
			(void) JsonbToCString(&enc->scratch, v->val.binary.data, v->val.binary.len);
			break;
		default:
			appendStringInfoString(&enc->scratch, "null");
			break;
	}
	*len = enc->scratch.len;
	return enc->scratch.data;
}

static bool shred_value(SlEncoder *enc, SlNode *node, JsonbValue *v);
static char *unmapped_value_text(SlEncoder *enc, JsonbValue *v, int *len);
static bool shred_object(SlEncoder *enc, SlNode *group, JsonbContainer *obj);

static bool
is_container(JsonbValue *v, bool object)
{
	return v->type == jbvBinary &&
		(object ? JsonContainerIsObject(v->val.binary.data) : JsonContainerIsArray(v->val.binary.data));
}

static bool
shred_list(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	SlNode	   *element = node->children[0];
	int			index = 0;

	if (!is_container(v, false))
		return reject(enc, "expected array");
	if (!pq_ok(enc, pq_begin_list(enc->writer, node->pq)))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		bool		ok;

		if (tok != WJB_ELEM)
			continue;
		if (!push_key(enc, NULL, index++))
			return false;
		if (!pq_ok(enc, pq_list_element(enc->writer)))
			return false;
		if (elem.type == jbvNull)
			ok = pq_ok(enc, pq_null(enc->writer, element->pq));
		else
			ok = shred_value(enc, element, &elem);
		enc->depth--;
		if (!ok)
			return false;
	}
	return pq_ok(enc, pq_end_list(enc->writer));
}

/* A JSON object as MAP<STRING, value>; string values as themselves, others as JSON text. */
static bool
shred_map(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	kv;
	JsonbIteratorToken tok;
	SlNode	   *value = node->children[1];

	if (!is_container(v, true))
		return reject(enc, "expected object");
	if (!pq_ok(enc, pq_begin_list(enc->writer, node->pq)))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			if (!pq_ok(enc, pq_list_element(enc->writer)) ||
				!value_bytes(enc, node->pq_key, kv.val.string.val, kv.val.string.len))
				return false;
		}
		else if (tok == WJB_VALUE)
		{
			bool		ok;

			if (kv.type == jbvNull)
				ok = pq_ok(enc, pq_null(enc->writer, value->pq));
			else if (value->kind == SL_STRING || value->kind == SL_JSON)
			{
				int			len;
				char	   *text = value->kind == SL_STRING
					? unmapped_value_text(enc, &kv, &len)
					: json_text(enc, &kv, false, &len);

				ok = value_bytes(enc, value->pq, text, len);
			}
			else
				ok = shred_value(enc, value, &kv);
			if (!ok)
				return false;
		}
	}
	return pq_ok(enc, pq_end_list(enc->writer));
}

static bool
shred_value(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	int			len;
	char	   *text;

	if (v->type == jbvNull)
		return node->required ? reject(enc, "null in a required attribute") : true;
	switch (node->kind)
	{
		case SL_BOOLEAN:
			if (v->type != jbvBool)
				return reject(enc, "expected boolean");
			return pq_ok(enc, pq_value_bool(enc->writer, node->pq, v->val.boolean));
		case SL_TIMESTAMP_MS:
			if (v->type == jbvString)
				return value_datetime(enc, node, v);
			return value_integer(enc, node, v);
		case SL_INT32:
		case SL_INT64:
			return value_integer(enc, node, v);
		case SL_FLOAT:
		case SL_DOUBLE:
			return value_float(enc, node, v);
		case SL_STRING:
		case SL_BYTES:
			if (v->type != jbvString)
				return reject(enc, "expected string");
			return value_bytes(enc, node->pq, v->val.string.val, v->val.string.len);
		case SL_JSON:
			if (!json_depth_ok(enc, v))
				return false;
			text = json_text(enc, v, false, &len);
			return value_bytes(enc, node->pq, text, len);
		case SL_GROUP:
			if (!is_container(v, true))
				return reject(enc, "expected object");
			return pq_ok(enc, pq_begin_group(enc->writer, node->pq)) &&
				shred_object(enc, node, v->val.binary.data) &&
				pq_ok(enc, pq_end_group(enc->writer));
		case SL_LIST:
			return shred_list(enc, node, v);
		case SL_MAP:
			return shred_map(enc, node, v);
	}
	return reject(enc, "unsupported column kind");
}

/* A legacy REPEATED field: each array element is one occurrence; a scalar is one. */
static bool
shred_repeated(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	if (!is_container(v, false))
		return shred_value(enc, node, v);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM && elem.type != jbvNull && !shred_value(enc, node, &elem))
			return false;
	return true;
}


/* True if the string's text is itself a JSON document ("42", "true", "[1]", ...). */
static bool
string_reads_as_json(const char *s, int len)
{
	JsonLexContext *lex;
	int			i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i == len || strchr("{[\"-0123456789tfn", s[i]) == NULL)
		return false;
	lex = makeJsonLexContextCstringLen(pnstrdup(s, len), len, GetDatabaseEncoding(), false);
	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

/*
 * An unmapped value as text: JSON text, except that a string is stored as
 * itself (Security Lake's convention, unmapped['k'] = 'value') unless its text
 * would read as JSON; then it is stored JSON-quoted, so a reader parses every
 * value that is valid JSON and takes any other text as a string.
 */
static char *
unmapped_value_text(SlEncoder *enc, JsonbValue *v, int *len)
{
	bool		raw = v->type == jbvString && !string_reads_as_json(v->val.string.val, v->val.string.len);

	return json_text(enc, v, raw, len);
}

static bool
keep_unmapped(SlEncoder *enc, char *key, JsonbValue *v)
{
	int			len;
	char	   *text;

	if (!json_depth_ok(enc, v))
		return false;
	if (enc->nunmapped == enc->maxunmapped)
	{
		enc->maxunmapped = Max(16, enc->maxunmapped * 2);
		enc->unmapped_keys = enc->unmapped_keys
			? repalloc(enc->unmapped_keys, sizeof(char *) * enc->maxunmapped)
			: palloc(sizeof(char *) * enc->maxunmapped);
		enc->unmapped_values = enc->unmapped_values
			? repalloc(enc->unmapped_values, sizeof(char *) * enc->maxunmapped)
			: palloc(sizeof(char *) * enc->maxunmapped);
	}
	text = unmapped_value_text(enc, v, &len);
	enc->unmapped_keys[enc->nunmapped] = key;
	enc->unmapped_values[enc->nunmapped] = pnstrdup(text, len);
	enc->nunmapped++;
	return true;
}

/* A key without a column, kept in `unmapped` under its JSONPath: "$.dotted.path" → JSON text. */
static bool
keep_unmapped_path(SlEncoder *enc, JsonbValue *v)
{
	return keep_unmapped(enc, path_text(enc, true), v);
}

/*
 * The event's own `unmapped` object: each entry joins the catch-all under its
 * own key (Security Lake's convention). Only a key that itself begins with "$"
 * could be mistaken for a path; it is written as the path $.unmapped["<key>"].
 */
static bool
shred_unmapped_object(SlEncoder *enc, JsonbValue *v)
{
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbValue	kv;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(kv.val.string.val, kv.val.string.len);
			if (key[0] == '$')
			{
				StringInfoData buf;

				initStringInfo(&buf);
				appendStringInfoString(&buf, "$.unmapped");
				append_path_segment(&buf, kv.val.string.val, kv.val.string.len);
				key = buf.data;
			}
		}
		else if (tok == WJB_VALUE && kv.type != jbvNull && !keep_unmapped(enc, key, &kv))
			return false;
	}
	return true;
}

/* True if the event lists profile in metadata.profiles. */
static bool
declares_profile(Jsonb *event, const char *profile)
{
	JsonbValue	meta;
	JsonbValue	profiles;
	JsonbValue	want;

	if (getKeyJsonValueFromContainer(&event->root, "metadata", 8, &meta) == NULL ||
		meta.type != jbvBinary || !JsonContainerIsObject(meta.val.binary.data) ||
		getKeyJsonValueFromContainer(meta.val.binary.data, "profiles", 8, &profiles) == NULL ||
		profiles.type != jbvBinary || !JsonContainerIsArray(profiles.val.binary.data))
		return false;
	want.type = jbvString;
	want.val.string.val = (char *) profile;
	want.val.string.len = strlen(profile);
	return findJsonbValueFromContainer(profiles.val.binary.data, JB_FARRAY, &want) != NULL;
}

static bool
check_profile_required(SlEncoder *enc, Jsonb *event)
{
	int			i;

	for (i = 0; i < enc->root->nprofiled; i++)
	{
		SlNode	   *child = enc->root->profiled[i];

		if (child->seen != enc->root_visit && declares_profile(event, child->profile))
		{
			enc->reason = psprintf("missing required attribute %s (required by the declared profile %s)",
								   child->name, child->profile);
			return false;
		}
	}
	return true;
}

static bool
emit_unmapped(SlEncoder *enc)
{
	SlNode	   *map = enc->root->unmapped;
	int			i;

	if (map == NULL || enc->nunmapped == 0)
		return true;
	if (!pq_ok(enc, pq_begin_list(enc->writer, map->pq)))
		return false;
	for (i = 0; i < enc->nunmapped; i++)
	{
		const char *k = enc->unmapped_keys[i];
		const char *val = enc->unmapped_values[i];

		if (!pq_ok(enc, pq_list_element(enc->writer)) ||
			!value_bytes(enc, map->pq_key, k, strlen(k)) ||
			!value_bytes(enc, map->children[1]->pq, val, strlen(val)))
			return false;
	}
	return pq_ok(enc, pq_end_list(enc->writer));
}

/* Every child the schema says must exist was in this object (this visit of the group). */
static bool
check_required(SlEncoder *enc, SlNode *group, uint32 visit)
{
	int			i;

	for (i = 0; i < group->nmust; i++)
	{
		SlNode	   *child = group->must[i];

		if (child->seen != visit)
		{
			char	   *parent = enc->depth ? path_text(enc, false) : NULL;

			if (enc->reason == NULL)
				enc->reason = parent
					? psprintf("missing required attribute %s.%s", parent, child->name)
					: psprintf("missing required attribute %s", child->name);
			return false;
		}
	}
	return true;
}

static bool
shred_object(SlEncoder *enc, SlNode *group, JsonbContainer *obj)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	const char *key = NULL;
	int			keylen = 0;
	SlNode	   *child = NULL;
	uint32		visit = ++enc->visit;

	if (group == enc->root)
		enc->root_visit = visit;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		ok = true;

		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
			child = sl_node_child(group, key, keylen);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (!push_key(enc, key, keylen))
			return false;
		if (child != NULL && v.type != jbvNull)
			child->seen = visit;
		if (child == NULL)
		{
			/* The root's own `unmapped` object is read by its column, not re-flattened. */
			if (enc->root->unmapped != NULL && v.type != jbvNull)
				ok = keep_unmapped_path(enc, &v);
		}
		else if (child == enc->root->unmapped && is_container(&v, true))
			ok = shred_unmapped_object(enc, &v);
		else if (child->repeated && child->kind != SL_LIST && child->kind != SL_MAP)
			ok = shred_repeated(enc, child, &v);
		else
			ok = shred_value(enc, child, &v);
		enc->depth--;
		if (!ok)
			return false;
	}
	return check_required(enc, group, visit);
}

/* ---- the encoder's life ------------------------------------------------- */

/*
 * Add one event as a record. False (with *reason) when it does not fit the
 * schema: the record is abandoned and the writer carries on.
 */
bool
sl_encoder_add(SlEncoder *enc, Jsonb *event, char **reason)
{
	MemoryContext old = MemoryContextSwitchTo(enc->cxt);
	MemoryContext scratch = AllocSetContextCreate(enc->cxt, "securitylake event", ALLOCSET_SMALL_SIZES);
	bool		ok;

	MemoryContextSwitchTo(scratch);
	enc->depth = 0;
	enc->reason = NULL;
	enc->nunmapped = 0;
	enc->maxunmapped = 0;
	enc->unmapped_keys = NULL;
	enc->unmapped_values = NULL;
	initStringInfo(&enc->scratch);
	ok = JB_ROOT_IS_OBJECT(event) ? true : reject(enc, "expected object: the event is not a JSON object");
	ok = ok && pq_ok(enc, pq_begin_record(enc->writer));
	ok = ok && shred_object(enc, enc->root, &event->root);
	ok = ok && check_profile_required(enc, event);
	ok = ok && emit_unmapped(enc);
	ok = ok && pq_ok(enc, pq_end_record(enc->writer));
	MemoryContextSwitchTo(old);
	if (ok)
		enc->rows++;
	else
	{
		*reason = pstrdup(enc->reason);
		if (pq_abandon_record(enc->writer) != PQ_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("securitylake: the Parquet writer could not drop a rejected event"),
					 errdetail("%s", pq_writer_error(enc->writer))));
	}
	MemoryContextDelete(scratch);
	return ok;
}

uint64
sl_encoder_bytes_written(SlEncoder *enc)
{
	return pq_writer_bytes_written(enc->writer);
}

size_t
sl_encoder_bytes_buffered(SlEncoder *enc)
{
	return pq_writer_buffered_bytes(enc->writer);
}

/* Close the object: its last row group and footer go to the sink. */
void
sl_encoder_finish(SlEncoder *enc, int64 *rows)
{
	if (pq_writer_close(enc->writer) != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not finish the Parquet object of source \"%s\"", enc->source->name),
				 errdetail("%s", pq_writer_error(enc->writer))));
	*rows = enc->rows;
	sl_encoder_abandon(enc);
}

void
sl_encoder_abandon(SlEncoder *enc)
{
	pq_writer_free(enc->writer);
	if (enc->is_ocsf)
		ocsf_pq_schema_free(&enc->ocsf);
	else
		pq_schema_free(enc->schema);
	MemoryContextDelete(enc->cxt);
}
