/*-------------------------------------------------------------------------
 *
 * schema.h
 *		The shape a source writes: a tree of columns that the shredder walks
 *		alongside each event, built from the user's parquet-go tag schema
 *		(the reference connector's "Parquet format") or from the built-in
 *		OCSF class schema.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SCHEMA_H
#define SECURITYLAKE_SCHEMA_H

#include "postgres.h"

#include "utils/jsonb.h"

typedef enum SlKind
{
	SL_BOOLEAN,
	SL_INT32,					/* also INT_8 / INT_16 annotated, range-checked */
	SL_INT64,
	SL_FLOAT,
	SL_DOUBLE,
	SL_STRING,					/* BYTE_ARRAY UTF8 */
	SL_BYTES,					/* BYTE_ARRAY without annotation */
	SL_JSON,					/* BYTE_ARRAY JSON: any JSON value, kept as text */
	SL_TIMESTAMP_MS,			/* INT64 TIMESTAMP(MILLIS, UTC): epoch ms */
	SL_GROUP,
	SL_LIST,					/* 3-level LIST; element in children[0] */
	SL_MAP						/* MAP<STRING, value>; key/value in children[0..1] */
} SlKind;

typedef struct SlNode
{
	char	   *name;			/* column name as written to Parquet */
	char	   *key;			/* JSON key it reads, lower-cased */
	SlKind		kind;
	bool		required;		/* Parquet REQUIRED */
	bool		must_exist;		/* validation: the event must carry it (OCSF "required") */
	bool		repeated;		/* legacy repeated field: a JSON array, no LIST wrapper */
	int32		int_bits;		/* SL_INT32/64: 8, 16, 32, 64 */
	int			nchildren;
	struct SlNode **children;	/* groups: sorted by key for binary search */
	struct SlNode *unmapped;	/* root only: the MAP<STRING,STRING> catch-all, if any */
	int32		pq;				/* its Parquet field (pq_field), set by the shredder */
	int32		pq_key;			/* SL_MAP: the key leaf */
	int			nmust;			/* groups: children that must exist */
	struct SlNode **must;
	uint32		seen;			/* event counter when last present (required checks) */
	const char *profile;		/* OCSF: required only when the event declares this profile */
	int			nprofiled;		/* root: children required by a declared profile */
	struct SlNode **profiled;
} SlNode;

extern SlNode *sl_schema_from_tags(Jsonb *schema);
extern void sl_schema_index_required(SlNode *node);
extern char *sl_ascii_lower(const char *s);
extern void sl_sort_children(SlNode *group);
struct ocsf_pq_schema;
struct pq_allocator;
extern SlNode *sl_schema_from_ocsf(const char *version, int class_uid, int max_depth, bool strict_nested,
								   const struct pq_allocator *alloc, struct ocsf_pq_schema *out);
extern SlNode *sl_node_child(const SlNode *group, const char *key, int keylen);
extern int	sl_schema_leaf_count(const SlNode *node);

#endif							/* SECURITYLAKE_SCHEMA_H */
