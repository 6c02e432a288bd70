/*-------------------------------------------------------------------------
 *
 * shred.c
 *		jsonb → Parquet: walk each event alongside the source's column tree
 *		(columns.h) and feed the encoder (src/parquet) value by value.
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
 * Hostile input costs bounded memory and time (README, "How delivery works"):
 * no text is built past the 1 MiB a value may take in a Parquet page (its
 * length is known or bounded first), nothing recurses deeper than the column
 * tree or SHRED_MAX_DEPTH, and any ERROR raised while one event is shredded is
 * that event's failure, never the batch's (sl_encoder_add).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "ocsf/ocsf_parquet.h"
#include "parquet/parquet.h"
#include "columns.h"
#include "event_rules.h"
#include "securitylake.h"
#include "shred.h"
#include "source.h"

/* Deepest JSON nesting the walk follows; deeper events are rejected. */
#define SHRED_MAX_DEPTH 64

/*
 * JSON kept as text (json_t columns, unmapped entries) may nest at most this
 * deep, like the columns themselves: deeper documents are rejected, not stored.
 */
#define SHRED_MAX_JSON_DEPTH 64

/*
 * A byte-array value. Security Lake wants data pages of at most 1 MiB
 * uncompressed, and a value cannot span pages: a larger one is rejected.
 * Text made from a value (JSON text, escaped strings, JSONPath keys) is never
 * built past this size.
 */
#define SHRED_MAX_VALUE_BYTES (1024 * 1024 - 1024)

/* Longest key shown in a dead-letter reason's path (longer ones are cut, "…"). */
#define SHRED_MAX_REASON_KEY 128

struct SlEncoder
{
	SlSource   *source;
	SlNode	   *root;
	MemoryContext cxt;			/* everything of this encoder, incl. the library's memory */
	MemoryContext event_cxt;	/* one event's memory, reset for each */
	pq_allocator alloc;
	pq_schema  *schema;
	ocsf_pq_schema ocsf;		/* built-in class schema (owns schema) when not tags */
	bool		is_ocsf;
	bool		check_only;		/* validate(): each record is checked, then dropped */
	bool		fill_dt;		/* fill absent *_dt columns from their epoch-ms twins */
	pq_writer  *writer;
	int64		rows;
	uint32		visit;			/* objects walked so far: marks what one object carried */
	uint32		root_visit;		/* the visit of the current event's root object */
	bool		in_sink;		/* inside pq_end_record, which may hand a row group to the sink */
	bool		broken;			/* the writer failed (sink, memory, zstd): the object is lost */
	/* per event */
	const char *path[SHRED_MAX_DEPTH];	/* keys from the root, for messages; */
	int			pathlen[SHRED_MAX_DEPTH];	/* NULL key: an array index in pathlen */
	int			depth;
	char	   *reason;
	StringInfoData scratch;
	int			nunmapped;
	int			maxunmapped;
	char	  **unmapped_keys;
	int		   *unmapped_keylens;
	char	  **unmapped_values;
	int		   *unmapped_lens;
};

/* ---- palloc-backed allocator for the library ---------------------------- */

/*
 * The library must never see an ERROR (a longjmp through its code could leave
 * a writer half-updated): allocation failures are returned as NULL, which it
 * reports as PQ_ERR_NOMEM. PostgreSQL 15 has no non-throwing repalloc, so
 * every block carries its size and realloc is alloc + copy + free.
 */
typedef struct EncBlock
{
	Size		size;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} EncBlock;

#define ENC_HEADER offsetof(EncBlock, data)

static void *
enc_malloc(void *ctx, size_t size)
{
	EncBlock   *b;

	if (size > MaxAllocHugeSize - MAXALIGN(ENC_HEADER))
		return NULL;
	b = MemoryContextAllocExtended((MemoryContext) ctx, ENC_HEADER + Max(size, 1),
								   MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (b == NULL)
		return NULL;
	b->size = size;
	return b->data;
}

static void
enc_free(void *ctx, void *ptr)
{
	(void) ctx;
	if (ptr)
		pfree((char *) ptr - ENC_HEADER);
}

static void *
enc_realloc(void *ctx, void *ptr, size_t size)
{
	void	   *grown;
	Size		old;

	if (ptr == NULL)
		return enc_malloc(ctx, size);
	old = ((EncBlock *) ((char *) ptr - ENC_HEADER))->size;
	grown = enc_malloc(ctx, size);
	if (grown == NULL)
		return NULL;
	memcpy(grown, ptr, Min(old, size));
	enc_free(ctx, ptr);
	return grown;
}

/* ---- the encoder's columns ---------------------------------------------- */

/*
 * The source's columns: its parquet-go tag schema (then built into a Parquet
 * schema here), or the built-in OCSF class schema (built by src/ocsf).
 */
static void
build_columns(SlEncoder *enc)
{
	SlSource   *source = enc->source;

	if (source->schema != NULL)
	{
		enc->root = sl_columns_from_tags(source->schema);
		enc->schema = sl_columns_to_parquet(enc->root, &enc->alloc);
	}
	else
	{
		enc->root = sl_columns_from_ocsf(source->ocsf_version, source->class_uid,
										 sl_option_int(source, "max_depth", 0),
										 sl_option_bool(source, "strict_nested"),
										 &enc->alloc, &enc->ocsf);
		enc->schema = enc->ocsf.schema;
		enc->is_ocsf = true;
	}
}

/* The null sink of a check-only encoder: nothing is ever written to it but the magic. */
static int
null_sink_write(void *ctx, const void *buf, size_t len)
{
	(void) ctx;
	(void) buf;
	(void) len;
	return 0;
}

/*
 * The parquet.avro.schema entry of every object (src/parquet/avro.c): its
 * root record is named after the OCSF class or the tag schema's root.
 */
static char *
avro_schema_text(SlEncoder *enc)
{
	const char *name = enc->is_ocsf ? enc->ocsf.cls->name : enc->root->name;
	char	   *text;
	size_t		len;
	char		err[256];

	if (!pq_avro_valid_name(name))
		name = "event";
	switch (pq_avro_schema(enc->schema, name, "securitylake", &enc->alloc, &text, &len, err, sizeof(err)))
	{
		case PQ_OK:
			return text;
		case PQ_ERR_SCHEMA:
			/* a tag schema's name Avro cannot spell: the objects go without the entry */
			ereport(DEBUG1,
					(errmsg_internal("securitylake: source \"%s\" is written without parquet.avro.schema: %s",
									 enc->source->name, err)));
			return NULL;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("securitylake: could not write the Avro schema of source \"%s\"", enc->source->name),
					 errdetail("%s", err)));
	}
	return NULL;
}

static SlEncoder *
encoder_open(SlSource *source, pq_sink sink, bool check_only)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "securitylake encoder",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SlEncoder  *enc = palloc0(sizeof(SlEncoder));
	pq_options	options;
	pq_key_value kv[4];
	char		err[256];

	enc->source = source;
	enc->cxt = cxt;
	enc->event_cxt = AllocSetContextCreate(cxt, "securitylake event", ALLOCSET_DEFAULT_SIZES);
	enc->check_only = check_only;
	enc->fill_dt = sl_option_bool_default(source, "fill_dt", true);
	enc->alloc.malloc_fn = enc_malloc;
	enc->alloc.realloc_fn = enc_realloc;
	enc->alloc.free_fn = enc_free;
	enc->alloc.ctx = cxt;
	build_columns(enc);

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
	/* Checked records are dropped: no dictionary may keep their values. */
	if (check_only)
		options.enable_dictionary = false;
	kv[0].key = "securitylake.source";
	kv[0].value = source->name;
	kv[1].key = "ocsf.class_uid";
	kv[1].value = psprintf("%d", source->class_uid);
	kv[2].key = "ocsf.version";
	kv[2].value = source->ocsf_version;
	kv[3].key = "parquet.avro.schema";
	kv[3].value = check_only ? NULL : avro_schema_text(enc);	/* a checked object is never read */
	options.key_value_metadata = kv;
	options.num_key_value_metadata = 4;
	if (pq_writer_open(&enc->writer, enc->schema, &options, sink,
					   &enc->alloc, err, sizeof(err)) != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("securitylake: could not open a Parquet writer for source \"%s\"", source->name),
				 errdetail("%s", err)));
	if (kv[3].value)
		enc_free(NULL, (void *) kv[3].value);	/* the writer keeps its own copy */
	MemoryContextSwitchTo(old);
	return enc;
}

SlEncoder *
sl_encoder_begin(SlSource *source, pq_sink sink)
{
	return encoder_open(source, sink, false);
}

SlEncoder *
sl_encoder_begin_check(SlSource *source)
{
	pq_sink		sink = {null_sink_write, NULL};

	return encoder_open(source, sink, true);
}

/* ---- bounded text -------------------------------------------------------- */

/* Bytes a string takes once JSON-escaped as escape_json writes it, quotes included. */
static Size
escaped_length(const char *s, int len)
{
	Size		n = 2;
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
			n += 2;
		else if (c < ' ')
			n += 6;
		else
			n++;
	}
	return n;
}

/*
 * Append a string JSON-escaped, byte for byte as PostgreSQL's escape_json
 * (which needs a NUL-terminated copy; jsonb strings never hold NUL). The
 * caller has checked escaped_length against its budget.
 */
static void
append_escaped(StringInfo buf, const char *s, int len, Size escaped)
{
	static const char hex[] = "0123456789abcdef";
	char	   *out;
	int			i;

	enlargeStringInfo(buf, (int) escaped);
	out = buf->data + buf->len;
	*out++ = '"';
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '\b':
				*out++ = '\\', *out++ = 'b';
				break;
			case '\f':
				*out++ = '\\', *out++ = 'f';
				break;
			case '\n':
				*out++ = '\\', *out++ = 'n';
				break;
			case '\r':
				*out++ = '\\', *out++ = 'r';
				break;
			case '\t':
				*out++ = '\\', *out++ = 't';
				break;
			case '"':
				*out++ = '\\', *out++ = '"';
				break;
			case '\\':
				*out++ = '\\', *out++ = '\\';
				break;
			default:
				if (c < ' ')
				{
					memcpy(out, "\\u00", 4);
					out[4] = hex[c >> 4];
					out[5] = hex[c & 15];
					out += 6;
				}
				else
					*out++ = (char) c;
		}
	}
	*out++ = '"';
	buf->len = out - buf->data;
	*out = '\0';
}

/* ---- paths and reasons --------------------------------------------------- */

static bool
plain_identifier(const char *key, int len)
{
	int			i;

	if (len == 0 || isdigit((unsigned char) key[0]))
		return false;
	for (i = 0; i < len; i++)
		if (!(isalnum((unsigned char) key[i]) || key[i] == '_'))
			return false;
	return true;
}

/* Bytes of one JSONPath segment (see append_path_segment). */
static Size
path_segment_length(const char *key, int len)
{
	return plain_identifier(key, len) ? (Size) len + 1 : escaped_length(key, len) + 2;
}

/*
 * One path segment in JSONPath notation: .name for a plain identifier,
 * ["…"] (JSON string escaping) for any other key, so every path reads back
 * to exactly one place in the event.
 */
static void
append_path_segment(StringInfo buf, const char *key, int len)
{
	if (plain_identifier(key, len))
	{
		appendStringInfoChar(buf, '.');
		appendBinaryStringInfo(buf, key, len);
		return;
	}
	appendStringInfoChar(buf, '[');
	append_escaped(buf, key, len, escaped_length(key, len));
	appendStringInfoChar(buf, ']');
}

/*
 * The current position in the event, dotted, for reasons
 * ("observables[1].type_id"); keys longer than SHRED_MAX_REASON_KEY are cut.
 */
static char *
reason_path(SlEncoder *enc)
{
	StringInfoData buf;
	int			i;

	if (enc->depth == 0)
		return pstrdup("(root)");
	initStringInfo(&buf);
	for (i = 0; i < enc->depth; i++)
	{
		int			len = enc->pathlen[i];

		if (enc->path[i] == NULL)
		{
			appendStringInfo(&buf, "[%d]", len);
			continue;
		}
		if (i > 0)
			appendStringInfoChar(&buf, '.');
		if (len > SHRED_MAX_REASON_KEY)
		{
			appendBinaryStringInfo(&buf, enc->path[i],
								   pg_mbcliplen(enc->path[i], len, SHRED_MAX_REASON_KEY));
			appendStringInfoString(&buf, "…");
		}
		else
			appendBinaryStringInfo(&buf, enc->path[i], len);
	}
	return buf.data;
}

/* Record why the event is rejected; returns false for the caller to pass up. */
static bool
reject(SlEncoder *enc, const char *what)
{
	if (enc->reason == NULL)
		enc->reason = psprintf("%s at %s", what, reason_path(enc));
	return false;
}

static bool
reject_detail(SlEncoder *enc, const char *what, const char *detail)
{
	if (enc->reason == NULL)
		enc->reason = psprintf("%s at %s (%s)", what, reason_path(enc), detail);
	return false;
}

static bool
reject_too_large(SlEncoder *enc, Size len, bool at_least)
{
	return reject(enc, psprintf("value too large (%s%zu bytes; a Parquet page holds at most 1 MiB)",
								at_least ? "over " : "", (size_t) len));
}

/*
 * The current position as a JSONPath from the root, for the keys of
 * `unmapped` ($.actor.user["x-y"][0]); NULL (and the event rejected) when it
 * would be larger than a value may be.
 */
static char *
unmapped_path(SlEncoder *enc, int *len)
{
	StringInfoData buf;
	Size		total = 1;
	int			i;

	for (i = 0; i < enc->depth; i++)
		total += enc->path[i] == NULL ? 12 : path_segment_length(enc->path[i], enc->pathlen[i]);
	if (total > SHRED_MAX_VALUE_BYTES)
	{
		reject_too_large(enc, total, false);
		return NULL;
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '$');
	for (i = 0; i < enc->depth; i++)
	{
		if (enc->path[i] == NULL)
			appendStringInfo(&buf, "[%d]", enc->pathlen[i]);
		else
			append_path_segment(&buf, enc->path[i], enc->pathlen[i]);
	}
	*len = buf.len;
	return buf.data;
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
								   reason_path(enc));
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

/* ---- scalars ------------------------------------------------------------- */

/* The text of a JSON number (at most ~150 kB: numeric's own limits), strictly parsed by the callers. */
static char *
number_text(JsonbValue *v)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

static bool
value_integer(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	int			bits = sl_columns_int_bits(node->type);
	int64		x;
	int64		lo,
				hi;

	if (v->type != jbvNumeric)
		return reject(enc, bits == 64 ? "expected long" : "expected integer");
	switch (sl_numeric_int64(v->val.numeric, &x))
	{
		case SL_NUM_FRACTION:
			return reject_detail(enc, bits == 64 ? "expected long" : "expected integer", "a fractional number");
		case SL_NUM_RANGE:
			return reject(enc, "out of range");
		case SL_NUM_OK:
			break;
	}
	if (bits == 64)
	{
		node->last_ms = x;		/* a *_dt twin may be filled from it */
		return pq_ok(enc, pq_value_int64(enc->writer, node->pq, x));
	}
	hi = (INT64CONST(1) << (bits - 1)) - 1;
	lo = -hi - 1;
	if (x < lo || x > hi)
		return reject(enc, "out of range");
	return pq_ok(enc, pq_value_int32(enc->writer, node->pq, (int32) x));
}

/* n decimal digits at s as an int; false if any is not a digit. */
static bool
digits(const char *s, int n, int *out)
{
	int			i;

	*out = 0;
	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

#define RFC3339_EXPECTED "expected RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fraction] and Z or ±hh:mm) or epoch milliseconds"

/*
 * An RFC 3339 date-time (OCSF datetime_t, e.g. 2024-05-01T12:00:00.123Z or
 * ...+02:00) as epoch milliseconds. Strictly RFC 3339's date-time (section
 * 5.6): four-digit year, two-digit fields, a real calendar date (leap years
 * counted), hour 00-23, minute 00-59, second 00-59 — or 60, a leap second,
 * only at 23:59:60 UTC on the last day of a month (as RFC 3339 allows it) —
 * an optional fraction of one or more digits (cut to milliseconds), and Z or
 * ±hh:mm within 00:00-23:59. "T", "Z" may be lower case and "T" a space
 * (RFC 3339's note). A leap second is the millisecond count of the next
 * second: epoch milliseconds have no 61st second.
 */
static bool
value_datetime(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	int			y, mo, d, h, mi, sec, oh = 0, om = 0;
	int			p;
	int64		ms = 0;
	int			ms_digits = 0;
	int			offset_min = 0;
	int64		days;

	if (len < 20 ||
		!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
		!digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &sec))
		return reject(enc, RFC3339_EXPECTED);
	p = 19;
	if (s[p] == '.')
	{
		for (p++; p < len && s[p] >= '0' && s[p] <= '9'; p++, ms_digits++)
			if (ms_digits < 3)
				ms = ms * 10 + (s[p] - '0');
		if (ms_digits == 0)
			return reject(enc, "expected RFC 3339 date-time (a fraction needs digits)");
		for (; ms_digits < 3; ms_digits++)
			ms *= 10;
	}
	if (p < len && (s[p] == 'Z' || s[p] == 'z'))
		p++;
	else if (p + 6 <= len && (s[p] == '+' || s[p] == '-') &&
			 digits(s + p + 1, 2, &oh) && s[p + 3] == ':' && digits(s + p + 4, 2, &om))
	{
		if (oh > 23 || om > 59)
			return reject(enc, "expected RFC 3339 date-time (a time zone offset is within ±23:59)");
		offset_min = (s[p] == '-' ? -1 : 1) * (oh * 60 + om);
		p += 6;
	}
	else
		return reject(enc, "expected RFC 3339 date-time with a time zone (Z or ±hh:mm)");
	if (p != len)
		return reject(enc, RFC3339_EXPECTED);
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return reject(enc, "expected RFC 3339 date-time (not a calendar date)");
	if (h > 23 || mi > 59 || sec > 60)
		return reject(enc, "expected RFC 3339 date-time (hour 00-23, minute 00-59, second 00-59)");
	days = date2j(y, mo, d) - UNIX_EPOCH_JDATE;
	if (sec == 60)
	{
		/* The UTC minute of a leap second is 23:59 of a month's last day. */
		int64		utc_min = days * 1440 + h * 60 + mi - offset_min;
		int			uy, umo, ud;

		j2date((int) ((utc_min - 1439) / 1440 + UNIX_EPOCH_JDATE), &uy, &umo, &ud);
		if (utc_min < 0 || utc_min % 1440 != 1439 || ud != days_in_month(uy, umo))
			return reject(enc, "expected RFC 3339 date-time (a leap second is 23:59:60 UTC on the last day of a month)");
	}
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
	if (node->type == PQ_COL_FLOAT)
	{
		if (fabs(d) > FLT_MAX)
			return reject(enc, "out of range for a float");
		return pq_ok(enc, pq_value_float(enc->writer, node->pq, (float) d));
	}
	return pq_ok(enc, pq_value_double(enc->writer, node->pq, d));
}

static bool
value_bytes(SlEncoder *enc, pq_field field, const char *data, int len)
{
	if (len > SHRED_MAX_VALUE_BYTES)
		return reject_too_large(enc, (Size) len, false);
	return pq_ok(enc, pq_value_bytes(enc->writer, field, data, len));
}

/* ---- JSON text ----------------------------------------------------------- */

/*
 * A JSON container as text, exactly as JsonbToCString writes it ({"a": 1,
 * "b": [1, 2]}), but never past SHRED_MAX_VALUE_BYTES nor deeper than
 * SHRED_MAX_JSON_DEPTH (counted from the event's root), and without
 * recursion: the jsonb iterator walks it. False (rejected) past either.
 */
static bool
append_container(SlEncoder *enc, StringInfo out, JsonbContainer *container)
{
	JsonbIterator *it = JsonbIteratorInit(container);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;
	int			depth = enc->depth;
	uint32		n = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((++n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
				if (++depth > SHRED_MAX_JSON_DEPTH)
					return reject_detail(enc, "too deep", psprintf("JSON nested more than %d levels", SHRED_MAX_JSON_DEPTH));
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				appendStringInfoChar(out, tok == WJB_BEGIN_ARRAY ? '[' : '{');
				first = true;
				continue;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				depth--;
				appendStringInfoChar(out, tok == WJB_END_ARRAY ? ']' : '}');
				first = false;
				continue;
			case WJB_KEY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				break;
			case WJB_ELEM:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				break;
			case WJB_VALUE:
			case WJB_DONE:
				break;
		}
		/* a key, or a scalar element or value */
		switch (v.type)
		{
			case jbvString:
				{
					Size		esc = escaped_length(v.val.string.val, v.val.string.len);

					if (out->len + esc > SHRED_MAX_VALUE_BYTES)
						return reject_too_large(enc, out->len + esc, true);
					append_escaped(out, v.val.string.val, v.val.string.len, esc);
				}
				break;
			case jbvNumeric:
				appendStringInfoString(out, number_text(&v));
				break;
			case jbvBool:
				appendStringInfoString(out, v.val.boolean ? "true" : "false");
				break;
			default:
				appendStringInfoString(out, "null");
				break;
		}
		if (tok == WJB_KEY)
		{
			appendBinaryStringInfo(out, ": ", 2);
			first = true;
		}
		else
			first = false;
		if (out->len > SHRED_MAX_VALUE_BYTES)
			return reject_too_large(enc, out->len, true);
	}
	return true;
}

/*
 * Any JSON value as text: strings as themselves when as_is_strings, else
 * JSON. NULL (the event rejected) when the text would be larger than a value
 * may be, or nested too deep.
 */
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
			{
				Size		esc = escaped_length(v->val.string.val, v->val.string.len);

				if (esc > SHRED_MAX_VALUE_BYTES)
				{
					reject_too_large(enc, esc, false);
					return NULL;
				}
				append_escaped(&enc->scratch, v->val.string.val, v->val.string.len, esc);
			}
			break;
		case jbvNumeric:
			appendStringInfoString(&enc->scratch, number_text(v));
			break;
		case jbvBool:
			appendStringInfoString(&enc->scratch, v->val.boolean ? "true" : "false");
			break;
		case jbvBinary:
			if (!append_container(enc, &enc->scratch, v->val.binary.data))
				return NULL;
			break;
		default:
			appendStringInfoString(&enc->scratch, "null");
			break;
	}
	*len = enc->scratch.len;
	return enc->scratch.data;
}

/*
 * True if s[0..len) is one JSON document (RFC 8259, as PostgreSQL's parser
 * reads it: "42", "true", "[1]", " {\"a\": null} "). Iterative, with a stack
 * of one byte per open container, so a string of 200,000 "[" costs a pass
 * over it and no stack depth (pg_parse_json recurses per level).
 */
static bool
text_is_json(const char *s, int len)
{
	enum
	{
		VALUE, VALUE_OR_CLOSE, KEY_OR_CLOSE, KEY, COLON, COMMA_OR_CLOSE, END
	}			state = VALUE;
	char		small[64];
	char	   *stack = small;	/* '[' or '{' per open container */
	int			stack_cap = sizeof(small);
	int			depth = 0;
	int			p = 0;

#define JSON_ALNUM(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || \
					   ((c) >= '0' && (c) <= '9') || (c) == '_' || IS_HIGHBIT_SET(c))
	for (;;)
	{
		char		c;
		bool		scalar = false;

		while (p < len && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
			p++;
		if (p == len)
			return state == END;
		c = s[p];
		switch (state)
		{
			case END:
				return false;
			case COLON:
				if (c != ':')
					return false;
				p++;
				state = VALUE;
				continue;
			case COMMA_OR_CLOSE:
				if (c == ',')
				{
					p++;
					state = stack[depth - 1] == '{' ? KEY : VALUE;
					continue;
				}
				if (c != (stack[depth - 1] == '{' ? '}' : ']'))
					return false;
				p++;
				depth--;
				state = depth == 0 ? END : COMMA_OR_CLOSE;
				continue;
			case KEY_OR_CLOSE:
			case KEY:
				if (c == '}' && state == KEY_OR_CLOSE)
				{
					p++;
					depth--;
					state = depth == 0 ? END : COMMA_OR_CLOSE;
					continue;
				}
				if (c != '"')
					return false;
				break;			/* the key is lexed as a string below */
			case VALUE:
			case VALUE_OR_CLOSE:
				if (c == ']' && state == VALUE_OR_CLOSE)
				{
					p++;
					depth--;
					state = depth == 0 ? END : COMMA_OR_CLOSE;
					continue;
				}
				if (c == '[' || c == '{')
				{
					if (depth == stack_cap)
					{
						char	   *grown = palloc(stack_cap * 2);

						memcpy(grown, stack, stack_cap);
						if (stack != small)
							pfree(stack);
						stack = grown;
						stack_cap *= 2;
					}
					stack[depth++] = c;
					p++;
					state = c == '[' ? VALUE_OR_CLOSE : KEY_OR_CLOSE;
					continue;
				}
				scalar = true;
				break;
		}
		if (c == '"')
		{
			/* a string: no raw control characters, escapes \" \\ \/ \b \f \n \r \t \uXXXX */
			for (p++;; p++)
			{
				if (p >= len || (unsigned char) s[p] < 0x20)
					return false;
				if (s[p] == '"')
					break;
				if (s[p] == '\\')
				{
					if (++p >= len)
						return false;
					if (s[p] == 'u')
					{
						int			k;

						for (k = 1; k <= 4; k++)
							if (p + k >= len || !isxdigit((unsigned char) s[p + k]))
								return false;
						p += 4;
					}
					else if (strchr("\"\\/bfnrt", s[p]) == NULL)
						return false;
				}
			}
			p++;
			if (!scalar)
			{
				state = COLON;
				continue;
			}
		}
		else if (c == '-' || (c >= '0' && c <= '9'))
		{
			/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?, then no letter or digit */
			if (c == '-')
				p++;
			if (p < len && s[p] == '0')
				p++;
			else if (p < len && s[p] >= '1' && s[p] <= '9')
				while (p < len && s[p] >= '0' && s[p] <= '9')
					p++;
			else
				return false;
			if (p < len && s[p] == '.')
			{
				if (++p >= len || s[p] < '0' || s[p] > '9')
					return false;
				while (p < len && s[p] >= '0' && s[p] <= '9')
					p++;
			}
			if (p < len && (s[p] == 'e' || s[p] == 'E'))
			{
				p++;
				if (p < len && (s[p] == '+' || s[p] == '-'))
					p++;
				if (p >= len || s[p] < '0' || s[p] > '9')
					return false;
				while (p < len && s[p] >= '0' && s[p] <= '9')
					p++;
			}
			if (p < len && JSON_ALNUM(s[p]))
				return false;
		}
		else
		{
			/* true, false or null, as a whole word */
			int			start = p;

			while (p < len && JSON_ALNUM(s[p]))
				p++;
			if (!((p - start == 4 && (memcmp(s + start, "true", 4) == 0 || memcmp(s + start, "null", 4) == 0)) ||
				  (p - start == 5 && memcmp(s + start, "false", 5) == 0)))
				return false;
		}
		state = depth == 0 ? END : COMMA_OR_CLOSE;
	}
#undef JSON_ALNUM
}

/* True if the string's text is itself a JSON document ("42", "true", "[1]", ...). */
static bool
string_reads_as_json(const char *s, int len)
{
	int			i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i == len || strchr("{[\"-0123456789tfn", s[i]) == NULL)
		return false;
	return text_is_json(s, len);
}

/*
 * An unmapped value as text: JSON text, except that a string is stored as
 * itself (Security Lake's convention, unmapped['k'] = 'value') unless its text
 * would read as JSON; then it is stored JSON-quoted, so a reader parses every
 * value that is valid JSON and takes any other text as a string. NULL when
 * rejected (too large, too deep).
 */
static char *
unmapped_value_text(SlEncoder *enc, JsonbValue *v, int *len)
{
	bool		raw = v->type == jbvString &&
		v->val.string.len <= SHRED_MAX_VALUE_BYTES &&
		!string_reads_as_json(v->val.string.val, v->val.string.len);

	return json_text(enc, v, raw, len);
}

/* ---- the walk ------------------------------------------------------------ */

static bool shred_value(SlEncoder *enc, SlNode *node, JsonbValue *v);
static bool shred_object(SlEncoder *enc, SlNode *group, JsonbContainer *obj);

static bool
is_container(JsonbValue *v, bool object)
{
	return v->type == jbvBinary &&
		(object ? JsonContainerIsObject(v->val.binary.data) : JsonContainerIsArray(v->val.binary.data));
}

static bool
shred_element(SlEncoder *enc, SlNode *element, JsonbValue *elem)
{
	if (!pq_ok(enc, pq_list_element(enc->writer)))
		return false;
	if (elem->type == jbvNull)
		return pq_ok(enc, pq_null(enc->writer, element->pq));
	return shred_value(enc, element, elem);
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
	{
		/* a bare REPEATED tag field took one scalar as one occurrence: still so */
		if (node->scalar_is_list && v->type != jbvBinary)
			return pq_ok(enc, pq_begin_list(enc->writer, node->pq)) &&
				shred_element(enc, element, v) &&
				pq_ok(enc, pq_end_list(enc->writer));
		return reject(enc, "expected array");
	}
	if (!pq_ok(enc, pq_begin_list(enc->writer, node->pq)))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		bool		ok;

		if (tok != WJB_ELEM)
			continue;
		if ((index & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (!push_key(enc, NULL, index++))
			return false;
		ok = shred_element(enc, element, &elem);
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
	uint32		n = 0;

	if (!is_container(v, true))
		return reject(enc, "expected object");
	if (!pq_ok(enc, pq_begin_list(enc->writer, node->pq)))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if ((++n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
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
			else if (value->shape == SL_SCALAR && (value->type == PQ_COL_STRING || value->type == PQ_COL_JSON))
			{
				int			len;
				char	   *text = value->type == PQ_COL_STRING
					? unmapped_value_text(enc, &kv, &len)
					: json_text(enc, &kv, false, &len);

				ok = text != NULL && value_bytes(enc, value->pq, text, len);
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
shred_scalar(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	int			len;
	char	   *text;

	switch (node->type)
	{
		case PQ_COL_BOOLEAN:
			if (v->type != jbvBool)
				return reject(enc, "expected boolean");
			return pq_ok(enc, pq_value_bool(enc->writer, node->pq, v->val.boolean));
		case PQ_COL_TIMESTAMP_MILLIS:
			if (v->type == jbvString)
				return value_datetime(enc, node, v);
			return value_integer(enc, node, v);
		case PQ_COL_INT8:
		case PQ_COL_INT16:
		case PQ_COL_INT32:
		case PQ_COL_INT64:
			return value_integer(enc, node, v);
		case PQ_COL_FLOAT:
		case PQ_COL_DOUBLE:
			return value_float(enc, node, v);
		case PQ_COL_STRING:
		case PQ_COL_BYTES:
			if (v->type != jbvString)
				return reject(enc, "expected string");
			return value_bytes(enc, node->pq, v->val.string.val, v->val.string.len);
		case PQ_COL_JSON:
			text = json_text(enc, v, false, &len);
			return text != NULL && value_bytes(enc, node->pq, text, len);
	}
	return reject(enc, "unsupported column type");
}

static bool
shred_value(SlEncoder *enc, SlNode *node, JsonbValue *v)
{
	if (v->type == jbvNull)
		return node->required ? reject(enc, "null in a required attribute") : true;
	switch (node->shape)
	{
		case SL_SCALAR:
			return shred_scalar(enc, node, v);
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

/* Keep KEY → the value's text (or its JSON text) for the `unmapped` column. */
static bool
keep_unmapped(SlEncoder *enc, char *key, int keylen, JsonbValue *v)
{
	int			len;
	char	   *text;

	if (enc->nunmapped == enc->maxunmapped)
	{
		enc->maxunmapped = Max(16, enc->maxunmapped * 2);
		enc->unmapped_keys = enc->unmapped_keys
			? repalloc(enc->unmapped_keys, sizeof(char *) * enc->maxunmapped)
			: palloc(sizeof(char *) * enc->maxunmapped);
		enc->unmapped_keylens = enc->unmapped_keylens
			? repalloc(enc->unmapped_keylens, sizeof(int) * enc->maxunmapped)
			: palloc(sizeof(int) * enc->maxunmapped);
		enc->unmapped_values = enc->unmapped_values
			? repalloc(enc->unmapped_values, sizeof(char *) * enc->maxunmapped)
			: palloc(sizeof(char *) * enc->maxunmapped);
		enc->unmapped_lens = enc->unmapped_lens
			? repalloc(enc->unmapped_lens, sizeof(int) * enc->maxunmapped)
			: palloc(sizeof(int) * enc->maxunmapped);
	}
	text = unmapped_value_text(enc, v, &len);
	if (text == NULL)
		return false;
	if (len > SHRED_MAX_VALUE_BYTES)
		return reject_too_large(enc, (Size) len, false);
	if (keylen > SHRED_MAX_VALUE_BYTES)
		return reject_too_large(enc, (Size) keylen, false);
	enc->unmapped_keys[enc->nunmapped] = key;
	enc->unmapped_keylens[enc->nunmapped] = keylen;
	enc->unmapped_values[enc->nunmapped] = pnstrdup(text, len);
	enc->unmapped_lens[enc->nunmapped] = len;
	enc->nunmapped++;
	return true;
}

/* A key without a column, kept in `unmapped` under its JSONPath: "$.dotted.path" → JSON text. */
static bool
keep_unmapped_path(SlEncoder *enc, JsonbValue *v)
{
	int			keylen;
	char	   *key = unmapped_path(enc, &keylen);

	return key != NULL && keep_unmapped(enc, key, keylen, v);
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
	int			keylen = 0;
	char	   *kv_key = NULL;
	int			kv_keylen = 0;

	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = kv_key = kv.val.string.val;
			keylen = kv_keylen = kv.val.string.len;
			if (keylen > 0 && key[0] == '$')
			{
				StringInfoData buf;
				Size		need = 10 + path_segment_length(key, keylen);

				if (need > SHRED_MAX_VALUE_BYTES)
					return reject_too_large(enc, need, false);
				initStringInfo(&buf);
				appendStringInfoString(&buf, "$.unmapped");
				append_path_segment(&buf, key, keylen);
				key = buf.data;
				keylen = buf.len;
			}
		}
		else if (tok == WJB_VALUE && kv.type != jbvNull)
		{
			bool		ok;

			if (!push_key(enc, kv_key, kv_keylen))
				return false;
			ok = keep_unmapped(enc, key, keylen, &kv);
			enc->depth--;
			if (!ok)
				return false;
		}
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
		if (!pq_ok(enc, pq_list_element(enc->writer)) ||
			!value_bytes(enc, map->pq_key, enc->unmapped_keys[i], enc->unmapped_keylens[i]) ||
			!value_bytes(enc, map->children[1]->pq, enc->unmapped_values[i], enc->unmapped_lens[i]))
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
			if (enc->reason == NULL)
				enc->reason = enc->depth
					? psprintf("missing required attribute %s.%s", reason_path(enc), child->name)
					: psprintf("missing required attribute %s", child->name);
			return false;
		}
	}
	return true;
}

/*
 * *_dt columns absent from this object are filled from their epoch-ms twins
 * (time → time_dt, start_time → start_time_dt, ...), as Security Lake's own
 * sources always fill time_dt (source option fill_dt, default on).
 */
static bool
fill_dt_twins(SlEncoder *enc, SlNode *group, uint32 visit)
{
	int			i;

	for (i = 0; i < group->nfill; i++)
	{
		SlNode	   *from = group->fill_from[i];
		SlNode	   *dt = group->fill_dt[i];

		if (from->seen == visit && dt->seen != visit &&
			!pq_ok(enc, pq_value_int64(enc->writer, dt->pq, from->last_ms)))
			return false;
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
	uint32		n = 0;

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
		if ((++n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
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
		else
			ok = shred_value(enc, child, &v);
		enc->depth--;
		if (!ok)
			return false;
	}
	if (enc->fill_dt && group->nfill > 0 && !fill_dt_twins(enc, group, visit))
		return false;
	return check_required(enc, group, visit);
}

/* ---- one event ----------------------------------------------------------- */

/* Walk one event into a record; false with enc->reason when it does not fit. */
static bool
shred_event(SlEncoder *enc, Jsonb *event)
{
	int			rc;

	if (!JB_ROOT_IS_OBJECT(event))
		return reject(enc, "expected object: the event is not a JSON object");
	if (!pq_ok(enc, pq_begin_record(enc->writer)))
	{
		enc->broken = true;
		return false;
	}
	if (!shred_object(enc, enc->root, &event->root) ||
		!check_profile_required(enc, event) ||
		!emit_unmapped(enc))
		return false;
	if (enc->check_only)
		return pq_ok(enc, pq_check_record(enc->writer));
	enc->in_sink = true;		/* closing a row group hands it to the sink */
	rc = pq_end_record(enc->writer);
	enc->in_sink = false;
	if (rc != PQ_OK && !pq_writer_in_record(enc->writer))
		enc->broken = true;		/* the record was taken, its row group could not be written */
	return pq_ok(enc, rc);
}

/*
 * Errors that are never one event's fault: they end the statement or the
 * process, or the server ran short (memory, disk) or failed — a good event
 * must not be dead-lettered for them. They fail the batch, which backs off.
 */
static bool
is_interrupt(ErrorData *edata)
{
	return edata->elevel > ERROR ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_SYSTEM_ERROR ||
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
		edata->sqlerrcode == ERRCODE_CRASH_SHUTDOWN ||
		edata->sqlerrcode == ERRCODE_CANNOT_CONNECT_NOW ||
		edata->sqlerrcode == ERRCODE_IDLE_SESSION_TIMEOUT ||
		edata->sqlerrcode == ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT ||
		QueryCancelPending || ProcDiePending;
}

/*
 * Add one event as a record. False (with *reason) when it does not fit the
 * schema: the record is abandoned and the writer carries on.
 *
 * Every ERROR raised while the event is shredded is contained here and
 * becomes the event's reason ("could not encode: <message> at <path>"): a
 * poison event must not fail its batch again and again. No subtransaction is
 * needed (nor taken: the caller may hold an open transaction, or none):
 * shredding touches no catalog, buffer, lock, file or SPI state that a
 * (sub)transaction abort would have to release — the event is already
 * detoasted in memory, the library's memory and this event's are palloc'd in
 * the encoder's contexts, and the library never sees an ERROR (its allocator
 * returns NULL instead). What an ERROR leaves behind is undone here: the
 * memory context (switched back, the event's reset), the error state
 * (flushed), interrupt hold-off counts (restored), the half-written record
 * (pq_abandon_record). Query cancel, statement timeout and termination are
 * never an event's fault: they are re-thrown, as is an error raised while
 * the writer hands a row group to the sink (the object is then incomplete:
 * the batch fails).
 */
bool
sl_encoder_add(SlEncoder *enc, Jsonb *event, char **reason)
{
	MemoryContext caller = CurrentMemoryContext;
	uint32		holdoff = InterruptHoldoffCount;
	uint32		cancel_holdoff = QueryCancelHoldoffCount;
	volatile bool ok = false;

	MemoryContextReset(enc->event_cxt);
	enc->depth = 0;
	enc->reason = NULL;
	enc->in_sink = false;
	enc->nunmapped = 0;
	enc->maxunmapped = 0;
	enc->unmapped_keys = NULL;
	enc->unmapped_keylens = NULL;
	enc->unmapped_values = NULL;
	enc->unmapped_lens = NULL;
	PG_TRY();
	{
		MemoryContextSwitchTo(enc->event_cxt);
		initStringInfo(&enc->scratch);
		sl_test_fault_point("shred");
		ok = shred_event(enc, event);
		MemoryContextSwitchTo(caller);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (enc->in_sink || is_interrupt(edata))
		{
			FreeErrorData(edata);
			PG_RE_THROW();
		}
		FlushErrorState();
		InterruptHoldoffCount = holdoff;
		QueryCancelHoldoffCount = cancel_holdoff;
		enc->reason = psprintf("could not encode: %s at %s", edata->message, reason_path(enc));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();

	/* A broken writer (out of memory, zstd, the sink) is never the event's fault. */
	if (enc->broken)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("securitylake: the Parquet writer of source \"%s\" failed", enc->source->name),
				 errdetail("%s", pq_writer_error(enc->writer))));
	if (ok)
	{
		if (!enc->check_only)
			enc->rows++;
	}
	else
	{
		*reason = pstrdup(enc->reason ? enc->reason : "could not encode");
		if (pq_writer_in_record(enc->writer) && pq_abandon_record(enc->writer) != PQ_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("securitylake: the Parquet writer could not drop a rejected event"),
					 errdetail("%s", pq_writer_error(enc->writer))));
	}
	MemoryContextReset(enc->event_cxt);
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
	int			rc = pq_writer_close(enc->writer);

	/* A hard limit may be the records' doing (the batch is then split); the rest is not. */
	if (rc != PQ_OK)
		ereport(ERROR,
				(errcode(rc == PQ_ERR_LIMIT ? ERRCODE_PROGRAM_LIMIT_EXCEEDED : ERRCODE_SYSTEM_ERROR),
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
