/*-------------------------------------------------------------------------
 *
 * columns.c
 *		The column tree the shredder walks (columns.h): look-up by key, the
 *		indexes it needs per group (children that must exist, *_dt twins), and
 *		the Parquet schema of a tree built from a tag schema.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "columns.h"

/* Keys match case-insensitively in ASCII only: JSON keys are not locale text. */
char *
sl_ascii_lower(const char *s)
{
	char	   *out = pstrdup(s);
	char	   *p;

	for (p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return out;
}

static int
compare_nodes(const void *a, const void *b)
{
	return strcmp((*(SlNode *const *) a)->key, (*(SlNode *const *) b)->key);
}

/* Children in key order, for sl_node_child's binary search. */
void
sl_sort_children(SlNode *group)
{
	if (group->nchildren > 1)
		qsort(group->children, group->nchildren, sizeof(SlNode *), compare_nodes);
}

/* The child of a group that reads key (matched case-insensitively), or NULL. */
SlNode *
sl_node_child(const SlNode *group, const char *key, int keylen)
{
	char		lower[NAMEDATALEN * 2];
	int			lo = 0,
				hi = group->nchildren - 1;
	int			i;

	if (keylen >= (int) sizeof(lower))
		return NULL;
	for (i = 0; i < keylen; i++)
	{
		char		c = key[i];

		lower[i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	lower[keylen] = '\0';
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp = strcmp(lower, group->children[mid]->key);

		if (cmp == 0)
			return group->children[mid];
		if (cmp < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
sl_columns_leaf_count(const SlNode *node)
{
	int			n = 0;
	int			i;

	if (node->shape == SL_SCALAR)
		return 1;
	for (i = 0; i < node->nchildren; i++)
		n += sl_columns_leaf_count(node->children[i]);
	return n;
}

/* Range of an integer column: 8, 16, 32 or 64 bits (0: not an integer). */
int
sl_columns_int_bits(pq_column_type type)
{
	switch (type)
	{
		case PQ_COL_INT8:
			return 8;
		case PQ_COL_INT16:
			return 16;
		case PQ_COL_INT32:
			return 32;
		case PQ_COL_INT64:
		case PQ_COL_TIMESTAMP_MILLIS:
			return 64;
		default:
			return 0;
	}
}

/*
 * The *_dt twins of a group: a TIMESTAMP_MILLIS child `x_dt` whose sibling `x`
 * is an epoch-millisecond INT64 (OCSF's datetime profile: every timestamp_t
 * `x` has a datetime_t `x_dt`). The shredder fills an absent x_dt from x.
 */
static void
index_dt_twins(SlNode *group)
{
	int			i;

	for (i = 0; i < group->nchildren; i++)
	{
		SlNode	   *dt = group->children[i];
		size_t		len = strlen(dt->key);
		SlNode	   *from;

		if (dt->shape != SL_SCALAR || dt->type != PQ_COL_TIMESTAMP_MILLIS ||
			len <= 3 || strcmp(dt->key + len - 3, "_dt") != 0)
			continue;
		from = sl_node_child(group, dt->key, (int) len - 3);
		if (from == NULL || from->shape != SL_SCALAR || from->type != PQ_COL_INT64)
			continue;
		if (group->fill_from == NULL)
		{
			group->fill_from = palloc(sizeof(SlNode *) * group->nchildren);
			group->fill_dt = palloc(sizeof(SlNode *) * group->nchildren);
		}
		group->fill_from[group->nfill] = from;
		group->fill_dt[group->nfill] = dt;
		group->nfill++;
	}
}

/*
 * Give every group the list of its children that must exist (the shredder's
 * required check) and its *_dt twins.
 */
void
sl_columns_index(SlNode *node)
{
	int			i;

	if (node->shape != SL_GROUP)
	{
		for (i = 0; i < node->nchildren; i++)
			sl_columns_index(node->children[i]);
		return;
	}
	node->must = palloc(sizeof(SlNode *) * Max(node->nchildren, 1));
	node->nmust = 0;
	for (i = 0; i < node->nchildren; i++)
	{
		if (node->children[i]->must_exist)
			node->must[node->nmust++] = node->children[i];
		sl_columns_index(node->children[i]);
	}
	index_dt_twins(node);
}

/* ---- the Parquet schema of a tree (tag schemas; OCSF builds its own) ---- */

static void
check_pq(pq_schema *schema, int rc, const char *name)
{
	if (rc != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not build the Parquet schema"),
				 errdetail("%s: %s", name, pq_schema_error(schema))));
}

static pq_repetition
repetition_of(const SlNode *node)
{
	return node->required ? PQ_REQUIRED : PQ_OPTIONAL;
}

static void add_node(pq_schema *schema, pq_field parent, SlNode *node, const char *name);

static void
add_children(pq_schema *schema, SlNode *group)
{
	int			i;

	for (i = 0; i < group->nchildren; i++)
		add_node(schema, group->pq, group->children[i], group->children[i]->name);
}

/* Add NODE under PARENT as NAME; LIST elements and MAP values get their standard names. */
static void
add_node(pq_schema *schema, pq_field parent, SlNode *node, const char *name)
{
	pq_field	field;
	pq_field	repeated;
	pq_field	key;

	switch (node->shape)
	{
		case SL_GROUP:
			check_pq(schema, pq_schema_add_group(schema, parent, name, repetition_of(node), &field), name);
			node->pq = field;
			add_children(schema, node);
			break;
		case SL_LIST:
			check_pq(schema, pq_schema_add_list(schema, parent, name, repetition_of(node), &field, &repeated), name);
			node->pq = field;
			add_node(schema, repeated, node->children[0], "element");
			break;
		case SL_MAP:
			check_pq(schema, pq_schema_add_map(schema, parent, name, repetition_of(node),
											   PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, &field, &repeated, &key), name);
			node->pq = field;
			node->pq_key = key;
			node->children[0]->pq = key;
			add_node(schema, repeated, node->children[1], "value");
			break;
		case SL_SCALAR:
			check_pq(schema, pq_schema_add_column(schema, parent, name, repetition_of(node), node->type, &field), name);
			node->pq = field;
			break;
	}
}

/* Build the Parquet schema of ROOT's children (allocated through ALLOC); sets every node's pq. */
pq_schema *
sl_columns_to_parquet(SlNode *root, const pq_allocator *alloc)
{
	pq_schema  *schema = pq_schema_new(alloc);

	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building a Parquet schema")));
	root->pq = PQ_ROOT;
	add_children(schema, root);
	return schema;
}
