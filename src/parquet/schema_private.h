/*
 * schema_private.h — the schema's node layout, shared by schema.c and writer.c.
 */
#ifndef SECURITYLAKE_PQ_SCHEMA_PRIVATE_H
#define SECURITYLAKE_PQ_SCHEMA_PRIVATE_H

#include "parquet/pq_internal.h"

typedef enum pq_group_kind
{
	PQ_KIND_PLAIN = 0,
	PQ_KIND_LIST,				/* outer group annotated LIST */
	PQ_KIND_MAP,				/* outer group annotated MAP */
	PQ_KIND_KEY_VALUE			/* MAP's repeated key_value group */
} pq_group_kind;

typedef struct pq_node
{
	char	   *name;
	size_t		name_len;
	pq_field	parent;
	pq_field   *children;
	size_t		nchildren;
	size_t		children_cap;
	pq_repetition repetition;
	bool		is_leaf;
	pq_physical physical;
	pq_logical	logical;
	pq_group_kind kind;
	bool		has_field_id;
	int32_t		field_id;
	int			max_def;		/* definition level when this node is present */
	int			max_rep;		/* repetition level of this node's occurrences */
	uint32_t	name_hash;		/* of the ASCII-lowercased name */
} pq_node;

struct pq_schema
{
	pq_allocator alloc;
	pq_node    *nodes;
	size_t		nnodes;
	size_t		cap;
	int32_t		nleaves;
	/* open-addressing table of (parent, lowercased name) -> field + 1 (0 = empty) */
	int32_t    *table;
	size_t		table_size;		/* power of two */
	char		error[256];
};

#endif
