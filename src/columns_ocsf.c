/*-------------------------------------------------------------------------
 *
 * columns_ocsf.c
 *		The columns of a source without a schema: the built-in OCSF class
 *		schema (src/ocsf) as the shredder's column tree. The Parquet schema is
 *		built by src/ocsf; this walks it to give each field its shape, column
 *		type (its OCSF attribute's, the mapping src/ocsf built it with), key
 *		and requirement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/builtins.h"

#include "ocsf/ocsf_parquet.h"
#include "columns.h"

static SlNode *node_from_field(const ocsf_pq_schema *s, pq_field f, int depth, bool in_metadata, bool strict_nested);

/*
 * Which attributes an event must carry. The class's own required attributes
 * (class_uid, category_uid, activity_id, type_uid, severity_id, time,
 * metadata, ...) and those of everything under metadata (version, product,
 * product.vendor_name, ...) always; a profile's only when the event declares
 * the profile (checked by the shredder, not here).
 * Required attributes of other nested objects only with the source option
 * strict_nested: producers routinely omit them (the OCSF examples do), and
 * rejecting those events would lose more than it protects.
 */
static bool
must_exist(const ocsf_attr *attr, int depth, bool in_metadata, bool strict_nested)
{
	if (attr == NULL || attr->requirement != OCSF_REQUIRED || attr->profile != NULL)
		return false;
	return depth == 1 || in_metadata || strict_nested;
}

static void
add_child(SlNode *node, SlNode *child)
{
	node->children = node->children
		? repalloc(node->children, sizeof(SlNode *) * (node->nchildren + 1))
		: palloc(sizeof(SlNode *));
	node->children[node->nchildren++] = child;
}

static SlNode *
node_from_field(const ocsf_pq_schema *s, pq_field f, int depth, bool in_metadata, bool strict_nested)
{
	const pq_schema *schema = s->schema;
	SlNode	   *node = palloc0(sizeof(SlNode));
	const ocsf_attr *attr = ocsf_pq_field_attr(s, f);
	int32		i;

	node->name = pstrdup(pq_field_name(schema, f));
	node->key = sl_ascii_lower(node->name);
	node->pq = f;
	node->required = pq_field_repetition(schema, f) == PQ_REQUIRED;
	if (depth == 1 && strcmp(pq_field_name(schema, f), "metadata") == 0)
		in_metadata = true;
	node->must_exist = depth > 0 && must_exist(attr, depth, in_metadata && depth > 1, strict_nested);
	if (pq_field_is_map(schema, f))
	{
		pq_field	kv = pq_field_repeated_group(schema, f);

		node->shape = SL_MAP;
		for (i = 0; i < pq_field_num_children(schema, kv); i++)
		{
			SlNode	   *child = node_from_field(s, pq_field_child(schema, kv, i), depth + 1, in_metadata, strict_nested);

			child->must_exist = false;
			add_child(node, child);
		}
		node->pq_key = node->children[0]->pq;
	}
	else if (pq_field_is_list(schema, f))
	{
		pq_field	rep = pq_field_repeated_group(schema, f);
		SlNode	   *element = node_from_field(s, pq_field_child(schema, rep, 0), depth + 1, in_metadata, strict_nested);

		node->shape = SL_LIST;
		element->must_exist = false;
		add_child(node, element);
	}
	else if (!pq_field_is_leaf(schema, f))
	{
		node->shape = SL_GROUP;
		for (i = 0; i < pq_field_num_children(schema, f); i++)
			add_child(node, node_from_field(s, pq_field_child(schema, f, i), depth + 1, in_metadata, strict_nested));
		sl_sort_children(node);
	}
	else
	{
		node->shape = SL_SCALAR;
		if (!ocsf_pq_leaf_column_type(s, f, &node->type))
			elog(ERROR, "securitylake: OCSF field \"%s\" has no column type", node->name);
	}
	return node;
}

/*
 * A profile's required attributes (e.g. `cloud` of the cloud profile) are
 * required only of events that declare the profile in metadata.profiles.
 */
static void
index_profile_required(SlNode *root, const ocsf_pq_schema *s)
{
	int			i;

	root->profiled = palloc(sizeof(SlNode *) * Max(root->nchildren, 1));
	for (i = 0; i < root->nchildren; i++)
	{
		SlNode	   *child = root->children[i];
		const ocsf_attr *attr = ocsf_pq_field_attr(s, child->pq);

		if (attr && attr->profile && attr->requirement == OCSF_REQUIRED)
		{
			child->profile = attr->profile;
			root->profiled[root->nprofiled++] = child;
		}
	}
}

/*
 * The column tree of an OCSF class. *out receives the built Parquet schema
 * (allocated through alloc); the tree's nodes carry its field ids.
 */
SlNode *
sl_columns_from_ocsf(const char *version, int class_uid, int max_depth, bool strict_nested,
					const pq_allocator *alloc, ocsf_pq_schema *out)
{
	const ocsf_version *v = ocsf_find_version(version);
	ocsf_shape	shape;
	char		err[256];
	SlNode	   *root;

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("OCSF version \"%s\" is not built in", version),
				 errhint("Use 1.1.0 or 1.3.0.")));
	ocsf_shape_init(&shape);
	if (max_depth > 0)
		shape.max_depth = max_depth;
	if (ocsf_pq_schema_build(out, v, class_uid, &shape, alloc, err, sizeof(err)) != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no built-in Parquet schema for OCSF class %d (version %s)", class_uid, version),
				 errdetail("%s", err),
				 errhint("See securitylake.ocsf_classes for the classes of each version, or give the source a schema.")));
	root = node_from_field(out, PQ_ROOT, 0, false, strict_nested);
	root->required = true;
	root->must_exist = false;
	index_profile_required(root, out);
	root->unmapped = sl_node_child(root, "unmapped", 8);
	if (root->unmapped && root->unmapped->shape != SL_MAP)
		root->unmapped = NULL;
	sl_columns_index(root);
	return root;
}
