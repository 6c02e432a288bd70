/*
 * ocsf_parquet.h — the Parquet schema of one OCSF class (PostgreSQL-free).
 *
 * Shape (src/ocsf/README.md says why): every OCSF attribute becomes an OPTIONAL field
 * named as in OCSF; objects become groups, arrays standard 3-level LISTs (OPTIONAL
 * elements), `unmapped` a MAP<STRING,STRING>, datetime_t INT64 TIMESTAMP(MILLIS, UTC),
 * json_t BYTE_ARRAY JSON, strings BYTE_ARRAY STRING, integer_t INT32, long_t and
 * timestamp_t INT64, float_t DOUBLE, boolean_t BOOLEAN.
 *
 * Objects nest objects without end (process.parent_process.parent_process...), so the
 * expansion is cut: an object is not expanded below max_depth nesting levels, nor when
 * its object type already occurs max_same_object times on the path from the root.
 * A group that would end up with no leaf is not added at all (Glue rejects struct<>).
 */
#ifndef SECURITYLAKE_OCSF_PARQUET_H
#define SECURITYLAKE_OCSF_PARQUET_H

#include "ocsf/ocsf.h"
#include "parquet/parquet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults: every path of every sample in the OCSF examples fits (see README). */
#define OCSF_DEFAULT_MAX_DEPTH 3
#define OCSF_DEFAULT_MAX_SAME_OBJECT 2
#define OCSF_MAX_DEPTH_LIMIT 16

typedef struct ocsf_shape
{
	int			max_depth;		/* object nesting levels kept below the root, 0..16 */
	int			max_same_object;	/* occurrences of one object type on a path, >= 1 */
} ocsf_shape;

void		ocsf_shape_init(ocsf_shape *shape);	/* the defaults above */

typedef struct ocsf_pq_schema
{
	pq_schema  *schema;			/* owned */
	const ocsf_version *version;
	const ocsf_class *cls;
	/* For each pq_field: the OCSF attribute it stands for. A LIST's outer group and its
	 * "element" (leaf, group or map) both give the list's attribute (tell them apart
	 * with pq_field_is_list); a MAP's outer group gives its attribute. NULL for the
	 * root and the inner "list", "key_value", "key" and "value" nodes. */
	const ocsf_attr **field_attr;
	int32_t		num_fields;
	int32_t		num_leaves;
	pq_allocator alloc;
} ocsf_pq_schema;

/*
 * Build the schema of CLASS_UID in VERSION. Returns PQ_OK, or a negative pq_status
 * with a sentence in errbuf (PQ_ERR_ARG for an unknown class or a bad shape).
 * ALLOC and SHAPE may be NULL (libc, defaults). Free with ocsf_pq_schema_free().
 */
int			ocsf_pq_schema_build(ocsf_pq_schema *out, const ocsf_version *version,
								 int32_t class_uid, const ocsf_shape *shape,
								 const pq_allocator *alloc, char *errbuf, size_t errbuf_len);
void		ocsf_pq_schema_free(ocsf_pq_schema *s);

/*
 * The column type of a scalar attribute (OCSF_COL_OBJECT and OCSF_COL_MAP are not
 * scalars: false). parquet.h's pq_column_type maps it to Parquet types.
 */
bool		ocsf_attr_column_type(const ocsf_attr *a, pq_column_type *out);

/*
 * The column type of a leaf of the built schema: its attribute's, or STRING for the
 * key and value of a MAP<STRING,STRING>. False for a group or a field out of range.
 */
bool		ocsf_pq_leaf_column_type(const ocsf_pq_schema *s, pq_field field, pq_column_type *out);

/* The OCSF attribute of a field (NULL: see field_attr above, or out of range). */
const ocsf_attr *ocsf_pq_field_attr(const ocsf_pq_schema *s, pq_field field);

#ifdef __cplusplus
}
#endif

#endif							/* SECURITYLAKE_OCSF_PARQUET_H */
