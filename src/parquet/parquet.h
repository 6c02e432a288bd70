/*
 * parquet.h — a small Parquet writer in plain C11 (no PostgreSQL headers).
 *
 * Three objects:
 *   pq_schema   a tree of groups and leaves, built once, then shared read-only by writers;
 *   pq_writer   buffers one row group in memory, encodes it (PLAIN / RLE_DICTIONARY,
 *               RLE-bit-packed levels, data page v1, ZSTD or UNCOMPRESSED) and hands it to
 *               a sink, then writes the Thrift footer on pq_writer_close();
 *   pq_sink     where the bytes go: a callback (e.g. a multipart upload) or a growing
 *               in-memory buffer (pq_buffer_sink).
 *
 * Records are fed as events, the way a shredder walks a JSON document:
 *
 *   pq_begin_record(w);
 *     pq_value_int64(w, f_time, 1700000000000);
 *     pq_begin_group(w, f_actor);            // a struct child of the current group
 *       pq_value_bytes(w, f_actor_name, "alice", 5);
 *     pq_end_group(w);
 *     pq_begin_list(w, f_tags);              // a LIST- or MAP-annotated group
 *       pq_list_element(w);  pq_value_bytes(w, f_tag_element, "a", 1);
 *       pq_list_element(w);  pq_null(w, f_tag_element);
 *     pq_end_list(w);
 *   pq_end_record(w);                        // or pq_abandon_record(w) to drop it
 *
 * Every event names a field that must be a child of the current group (the record's
 * root, the group opened by pq_begin_group, or the repeated group of the current list
 * element). The writer computes Dremel repetition and definition levels itself.
 * Fields that are not mentioned are absent (null); that costs nothing per record: each
 * column fills its absent runs lazily, as counted runs, when it is next touched or when
 * the row group is closed. The cost of a record is proportional to the fields present.
 *
 * A field that is REPEATED but not under a LIST/MAP group may also be given several
 * times in the same parent: each event is one more occurrence.
 *
 * Errors: every function returning int returns PQ_OK (0) or a negative pq_status;
 * pq_writer_error() / pq_schema_error() give a sentence describing the last error.
 * After an error inside a record (a value that does not fit the schema, a missing
 * REQUIRED field...), pq_end_record refuses the record: call pq_abandon_record() — it
 * restores the writer exactly as it was at pq_begin_record, at a cost proportional to
 * what the record touched — dead-letter the event and carry on with the next one.
 * PQ_ERR_IO, PQ_ERR_NOMEM and PQ_ERR_ZSTD (possible from pq_end_record too, when it
 * closes a row group) break the writer: the output is incomplete; free the writer.
 *
 * Values: STRING and JSON values must be valid UTF-8 (not checked here; PostgreSQL
 * text already is). FLOAT/DOUBLE NaN are written but left out of min/max statistics.
 *
 * Looking fields up: pq_schema_child() hashes (group, name) into one table for the
 * schema; a shredder that walks many events of the same shape may keep its own cache
 * (e.g. per group, the field of each jsonb key) and skip the lookup entirely.
 *
 * Memory: everything is allocated through the pq_allocator given at creation (NULL:
 * libc malloc/realloc/free). Memory held by a writer is bounded by one row group's
 * buffered values plus the column dictionaries.
 *
 * Thread safety: none; one writer per thread. A frozen schema (one that a writer has
 * been opened on) may be shared by several writers if nobody adds fields to it.
 */
#ifndef SECURITYLAKE_PARQUET_H
#define SECURITYLAKE_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes -------------------------------------------------------------------- */
typedef enum pq_status
{
	PQ_OK = 0,
	PQ_ERR_ARG = -1,			/* bad argument (NULL, unknown field, wrong type for the field) */
	PQ_ERR_STATE = -2,			/* event out of order (value outside a record, unbalanced end_group...) */
	PQ_ERR_SCHEMA = -3,			/* schema definition error, or a record that does not fit the schema
								 * (missing REQUIRED field, non-repeated field given twice) */
	PQ_ERR_NOMEM = -4,			/* the allocator returned NULL */
	PQ_ERR_IO = -5,				/* the sink returned non-zero */
	PQ_ERR_ZSTD = -6,			/* libzstd failed */
	PQ_ERR_LIMIT = -7			/* a value or record exceeds a hard limit (e.g. > 2 GiB) */
} pq_status;

/* Short name of a status, e.g. "PQ_ERR_SCHEMA". */
const char *pq_status_name(int status);

/* ---- allocator ----------------------------------------------------------------------- */
typedef struct pq_allocator
{
	void	   *(*malloc_fn) (void *ctx, size_t size);
	void	   *(*realloc_fn) (void *ctx, void *ptr, size_t size);
	void		(*free_fn) (void *ctx, void *ptr);
	void	   *ctx;
} pq_allocator;

/* ---- schema -------------------------------------------------------------------------- */
typedef enum pq_repetition
{
	PQ_REQUIRED = 0,
	PQ_OPTIONAL = 1,
	PQ_REPEATED = 2
} pq_repetition;

/* Values are the Parquet Thrift enum values. */
typedef enum pq_physical
{
	PQ_BOOLEAN = 0,
	PQ_INT32 = 1,
	PQ_INT64 = 2,
	PQ_FLOAT = 4,
	PQ_DOUBLE = 5,
	PQ_BYTE_ARRAY = 6
} pq_physical;

typedef enum pq_logical
{
	PQ_LOGICAL_NONE = 0,
	PQ_LOGICAL_STRING,			/* BYTE_ARRAY, UTF8 */
	PQ_LOGICAL_JSON,			/* BYTE_ARRAY */
	PQ_LOGICAL_INT8,			/* INT32, signed */
	PQ_LOGICAL_INT16,			/* INT32, signed */
	PQ_LOGICAL_INT32,			/* INT32, signed */
	PQ_LOGICAL_INT64,			/* INT64, signed */
	PQ_LOGICAL_TIMESTAMP_MILLIS /* INT64, isAdjustedToUTC = true */
} pq_logical;

/*
 * Column types: the one mapping from the kind of a column (what a schema says a value
 * is) to its Parquet physical and logical types. The OCSF tables (src/ocsf), the
 * reference connector's tag schemas and the shredder all name columns by these and
 * build them with pq_schema_add_column(); nothing else decides a column's Parquet types.
 *
 *   PQ_COL_BOOLEAN           BOOLEAN
 *   PQ_COL_INT8 / INT16      INT32 INT(8|16, signed)   (narrow ints need the annotation)
 *   PQ_COL_INT32             INT32                      (plain, as parquet-mr writes Avro int)
 *   PQ_COL_INT64             INT64                      (plain, as parquet-mr writes Avro long)
 *   PQ_COL_TIMESTAMP_MILLIS  INT64 TIMESTAMP(MILLIS, UTC)
 *   PQ_COL_FLOAT / DOUBLE    FLOAT / DOUBLE
 *   PQ_COL_STRING            BYTE_ARRAY STRING
 *   PQ_COL_JSON              BYTE_ARRAY STRING: JSON text, annotated as a string as in
 *                            Security Lake's own tables (parquet-avro reads a JSON-annotated
 *                            binary as bytes; Athena reads both as varchar)
 *   PQ_COL_BYTES             BYTE_ARRAY, no annotation
 */
typedef enum pq_column_type
{
	PQ_COL_BOOLEAN = 0,
	PQ_COL_INT8,
	PQ_COL_INT16,
	PQ_COL_INT32,
	PQ_COL_INT64,
	PQ_COL_TIMESTAMP_MILLIS,
	PQ_COL_FLOAT,
	PQ_COL_DOUBLE,
	PQ_COL_STRING,
	PQ_COL_JSON,
	PQ_COL_BYTES
} pq_column_type;

#define PQ_COL_NUM_TYPES 11

/* The Parquet types of a column type; false for a value out of the enum. */
bool		pq_column_type_parquet(pq_column_type type, pq_physical *physical, pq_logical *logical);
/* "BOOLEAN", "INT8", ..., "JSON", "BYTES" (NULL out of range). */
const char *pq_column_type_name(pq_column_type type);

typedef struct pq_schema pq_schema;

/* A field is an index into its schema; the root group is field 0. Negative = none. */
typedef int32_t pq_field;
#define PQ_ROOT ((pq_field) 0)
#define PQ_NO_FIELD ((pq_field) -1)

pq_schema  *pq_schema_new(const pq_allocator *alloc);	/* NULL on allocation failure */
void		pq_schema_free(pq_schema *schema);
const char *pq_schema_error(const pq_schema *schema);

/* Add a struct (group) child to PARENT; *out receives the new field. */
int			pq_schema_add_group(pq_schema *schema, pq_field parent, const char *name,
								pq_repetition repetition, pq_field *out);

/* Add a leaf (column). The logical type must suit the physical type (see pq_logical). */
int			pq_schema_add_leaf(pq_schema *schema, pq_field parent, const char *name,
							   pq_repetition repetition, pq_physical physical,
							   pq_logical logical, pq_field *out);

/* Add a leaf of a column type (pq_column_type_parquet gives its Parquet types). */
int			pq_schema_add_column(pq_schema *schema, pq_field parent, const char *name,
								 pq_repetition repetition, pq_column_type type, pq_field *out);

/*
 * Standard 3-level LIST:  <repetition> group NAME (LIST) { repeated group list { element } }
 * *list_out = the outer group (give it to pq_begin_list), *repeated_out = the "list"
 * group; add exactly one child named "element" under it (leaf or group, REQUIRED or
 * OPTIONAL) with pq_schema_add_leaf / pq_schema_add_group.
 */
int			pq_schema_add_list(pq_schema *schema, pq_field parent, const char *name,
							   pq_repetition repetition, pq_field *list_out,
							   pq_field *repeated_out);

/*
 * MAP: <repetition> group NAME (MAP) { repeated group key_value { required KEY key; value } }
 * *map_out = outer group (give it to pq_begin_list), *key_value_out = the repeated
 * group, *key_out = the REQUIRED key leaf; add one child named "value" under
 * key_value_out (usually OPTIONAL).
 */
int			pq_schema_add_map(pq_schema *schema, pq_field parent, const char *name,
							  pq_repetition repetition, pq_physical key_physical,
							  pq_logical key_logical, pq_field *map_out,
							  pq_field *key_value_out, pq_field *key_out);

/* Optional Parquet field_id. */
int			pq_schema_set_field_id(pq_schema *schema, pq_field field, int32_t field_id);

/*
 * Child lookup by name within a group: O(1) average (one hash table for the schema).
 * The _ci variant ignores ASCII case (returns the first child added if several differ
 * only in case). NAME need not be NUL-terminated. Returns PQ_NO_FIELD if absent.
 */
pq_field	pq_schema_child(const pq_schema *schema, pq_field group, const char *name, size_t len);
pq_field	pq_schema_child_ci(const pq_schema *schema, pq_field group, const char *name, size_t len);

/* Introspection (for building the caller's own indexes). */
int32_t		pq_schema_num_fields(const pq_schema *schema);	/* including the root */
int32_t		pq_schema_num_leaves(const pq_schema *schema);
const char *pq_field_name(const pq_schema *schema, pq_field field);
pq_field	pq_field_parent(const pq_schema *schema, pq_field field);
int32_t		pq_field_num_children(const pq_schema *schema, pq_field field);
pq_field	pq_field_child(const pq_schema *schema, pq_field field, int32_t i);
bool		pq_field_is_leaf(const pq_schema *schema, pq_field field);
pq_repetition pq_field_repetition(const pq_schema *schema, pq_field field);
pq_physical pq_field_physical(const pq_schema *schema, pq_field field);	/* leaves only */
pq_logical	pq_field_logical(const pq_schema *schema, pq_field field);
/* True for the outer group of a LIST or MAP (what pq_begin_list expects). */
bool		pq_field_is_list(const pq_schema *schema, pq_field field);
bool		pq_field_is_map(const pq_schema *schema, pq_field field);
/* For a LIST/MAP outer group: its repeated group ("list" / "key_value"). */
pq_field	pq_field_repeated_group(const pq_schema *schema, pq_field field);

/* ---- Avro schema ---------------------------------------------------------------------- */
/*
 * The Avro schema equivalent to SCHEMA (avro.c says how each Parquet shape maps), as
 * JSON text: a record RECORD_NAME in NAMESPACE (dotted, may be "" or NULL) whose nested
 * records are named after their fields, in namespaces that follow their paths. Writers
 * put it in the file's key/value metadata as "parquet.avro.schema" for parquet-mr's
 * AvroParquetReader. *out (NUL-terminated, *out_len bytes without the NUL) is allocated
 * through ALLOC (NULL: libc); free it with that allocator. PQ_ERR_SCHEMA (with a
 * sentence in errbuf) when a name is not an Avro name ([A-Za-z_][A-Za-z0-9_]*).
 */
int			pq_avro_schema(const pq_schema *schema, const char *record_name, const char *namespace_,
						   const pq_allocator *alloc, char **out, size_t *out_len,
						   char *errbuf, size_t errbuf_len);
bool		pq_avro_valid_name(const char *name);

/* ---- sinks --------------------------------------------------------------------------- */
typedef struct pq_sink
{
	/* Write LEN bytes; return 0 on success, non-zero to fail the writer (PQ_ERR_IO). */
	int			(*write) (void *ctx, const void *buf, size_t len);
	void	   *ctx;
} pq_sink;

/* A growing in-memory buffer: init, use pq_buffer_sink(&b), then read b.data/b.len. */
typedef struct pq_buffer
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	pq_allocator alloc;
} pq_buffer;

void		pq_buffer_init(pq_buffer *buf, const pq_allocator *alloc);
pq_sink		pq_buffer_sink(pq_buffer *buf);
void		pq_buffer_free(pq_buffer *buf);

/* ---- writer -------------------------------------------------------------------------- */
typedef enum pq_compression
{
	PQ_UNCOMPRESSED = 0,
	PQ_ZSTD = 6					/* Thrift CompressionCodec value */
} pq_compression;

typedef struct pq_key_value
{
	const char *key;
	const char *value;			/* may be NULL */
} pq_key_value;

typedef struct pq_options
{
	pq_compression compression; /* default PQ_ZSTD */
	int			zstd_level;		/* default 3 */
	size_t		page_size_limit;	/* uncompressed bytes per data page, default 1 MiB */
	size_t		row_group_size; /* buffered bytes before a row group is closed, default
								 * 128 MiB, clamped to 256 MiB */
	int64_t		row_group_max_rows; /* 0 = no row limit (tests use it to force several) */
	size_t		dictionary_limit;	/* dictionary bytes per column chunk, default 1 MiB;
									 * past it the chunk falls back to PLAIN */
	bool		enable_dictionary;	/* default true */
	const char *created_by;		/* default "securitylake version EXTVERSION (build BUILD_ID)" */
	const pq_key_value *key_value_metadata; /* copied at open */
	size_t		num_key_value_metadata;
	int			data_page_version;	/* 1 (default) or 2 (DATA_PAGE_V2: levels stay
									 * uncompressed, only values are compressed) */
	size_t		memory_limit;	/* buffered values plus level bookkeeping before a row
								 * group is closed early, default 512 MiB */
} pq_options;

typedef struct pq_writer pq_writer;

void		pq_options_init(pq_options *options);

/*
 * Open a writer on SCHEMA (which must outlive it and must not change any more).
 * Writes the "PAR1" magic to the sink at once. On failure *out is NULL and, if
 * errbuf is not NULL, a message is copied there (errbuf_len bytes at most).
 */
int			pq_writer_open(pq_writer **out, const pq_schema *schema,
						   const pq_options *options, pq_sink sink,
						   const pq_allocator *alloc, char *errbuf, size_t errbuf_len);

/* Flush the open row group (if any rows), write the footer. Call once; then free. */
int			pq_writer_close(pq_writer *w);
void		pq_writer_free(pq_writer *w);	/* also after errors; does not write a footer */
const char *pq_writer_error(const pq_writer *w);

/* Close the current row group now (it is closed automatically at the size limit or
 * the memory limit, whichever comes first). */
int			pq_writer_flush_row_group(pq_writer *w);

bool		pq_writer_in_record(const pq_writer *w);	/* between begin_record and its end */
int64_t		pq_writer_num_rows(const pq_writer *w);	/* committed records */
int32_t		pq_writer_num_row_groups(const pq_writer *w);	/* written so far */
uint64_t	pq_writer_bytes_written(const pq_writer *w);	/* to the sink so far */
size_t		pq_writer_buffered_bytes(const pq_writer *w);	/* data estimate, open row group */
size_t		pq_writer_memory_bytes(const pq_writer *w);	/* data + level runs, open row group */

/* ---- records ------------------------------------------------------------------------- */
int			pq_begin_record(pq_writer *w);
/* Checks REQUIRED fields of the root; may close a row group (and so call the sink). */
int			pq_end_record(pq_writer *w);
/*
 * Check the record as pq_end_record would (nothing left open, every REQUIRED field of
 * the root given), then drop it as pq_abandon_record does: the writer is as before
 * pq_begin_record whatever the result. For validating events without writing them.
 */
int			pq_check_record(pq_writer *w);
/* Drop everything given since pq_begin_record; the writer is as before it. */
int			pq_abandon_record(pq_writer *w);

int			pq_begin_group(pq_writer *w, pq_field field);
int			pq_end_group(pq_writer *w);	/* checks REQUIRED children of the group */

/* FIELD is a LIST or MAP outer group. No pq_list_element before pq_end_list = empty. */
int			pq_begin_list(pq_writer *w, pq_field field);
/* Start the next element: the current group becomes the repeated group ("list" or
 * "key_value"); give its children ("element", or "key" and "value") next. */
int			pq_list_element(pq_writer *w);
int			pq_end_list(pq_writer *w);

int			pq_value_bool(pq_writer *w, pq_field field, bool v);
int			pq_value_int32(pq_writer *w, pq_field field, int32_t v);
int			pq_value_int64(pq_writer *w, pq_field field, int64_t v);
int			pq_value_float(pq_writer *w, pq_field field, float v);
int			pq_value_double(pq_writer *w, pq_field field, double v);
int			pq_value_bytes(pq_writer *w, pq_field field, const void *data, size_t len);
/*
 * An explicit null: for an OPTIONAL field (leaf or group) it is the same as not giving
 * it, except inside a list element where it marks a null element; REQUIRED fields
 * refuse it (PQ_ERR_SCHEMA); for a REPEATED field it means no occurrence.
 */
int			pq_null(pq_writer *w, pq_field field);

#ifdef __cplusplus
}
#endif

#endif							/* SECURITYLAKE_PARQUET_H */
