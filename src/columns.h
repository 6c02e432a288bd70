/*-------------------------------------------------------------------------
 *
 * columns.h
 *		The columns a source writes: a tree that the shredder walks alongside
 *		each event. It is built from the built-in OCSF class schema
 *		(columns_ocsf.c) or from the user's parquet-go tag schema, the
 *		reference connector's "Parquet format" (columns_tags.c). Scalar columns
 *		carry a pq_column_type, the one mapping to Parquet types (parquet.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_COLUMNS_H
#define SECURITYLAKE_COLUMNS_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "parquet/parquet.h"

typedef enum SlShape
{
	SL_SCALAR,					/* a leaf of node->type */
	SL_GROUP,					/* a struct */
	SL_LIST,					/* 3-level LIST; element in children[0] */
	SL_MAP						/* MAP<STRING, value>; key/value in children[0..1] */
} SlShape;

typedef struct SlNode
{
	char	   *name;			/* column name as written to Parquet */
	char	   *key;			/* JSON key it reads, lower-cased */
	SlShape		shape;
	pq_column_type type;		/* SL_SCALAR: the column type */
	bool		required;		/* Parquet REQUIRED */
	bool		must_exist;		/* validation: the event must carry it (OCSF "required") */
	bool		scalar_is_list; /* SL_LIST from a bare REPEATED tag field: a scalar is one element */
	int			nchildren;
	struct SlNode **children;	/* groups: sorted by key for binary search */
	struct SlNode *unmapped;	/* root only: the MAP<STRING,STRING> catch-all, if any */
	int32		pq;				/* its Parquet field (pq_field) */
	int32		pq_key;			/* SL_MAP: the key leaf */
	int			nmust;			/* groups: children that must exist */
	struct SlNode **must;
	uint32		seen;			/* object visit in which it was last present (required checks, *_dt) */
	const char *profile;		/* OCSF: required only when the event declares this profile */
	int			nprofiled;		/* root: children required by a declared profile */
	struct SlNode **profiled;
	/* *_dt filling: a group's pairs of an epoch-ms column and its TIMESTAMP twin */
	int			nfill;
	struct SlNode **fill_from;	/* `time`, `start_time`, ... (INT64 epoch ms) */
	struct SlNode **fill_dt;	/* `time_dt`, `start_time_dt`, ... (TIMESTAMP_MILLIS) */
	int64		last_ms;		/* fill_from nodes: the value given in visit `seen` */
} SlNode;

/* columns.c: the tree */
extern char *sl_ascii_lower(const char *s);
extern void sl_sort_children(SlNode *group);
extern SlNode *sl_node_child(const SlNode *group, const char *key, int keylen);
extern int	sl_columns_leaf_count(const SlNode *node);
extern void sl_columns_index(SlNode *root);
extern int	sl_columns_int_bits(pq_column_type type);
extern pq_schema *sl_columns_to_parquet(SlNode *root, const pq_allocator *alloc);

/* columns_tags.c: a parquet-go tag schema (raises a clear error when malformed) */
extern SlNode *sl_columns_from_tags(Jsonb *schema);

/* columns_ocsf.c: the built-in class schema; *out receives its Parquet schema */
struct ocsf_pq_schema;
extern SlNode *sl_columns_from_ocsf(const char *version, int class_uid, int max_depth, bool strict_nested,
									const pq_allocator *alloc, struct ocsf_pq_schema *out);

#endif							/* SECURITYLAKE_COLUMNS_H */
