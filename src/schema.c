/*-------------------------------------------------------------------------
 *
 * schema.c
 *		Parse the reference connector's "Parquet format": a parquet-go JSON
 *		schema of tags, e.g.
 *
 *		{"Tag": "name=my_schema, repetitiontype=REQUIRED",
 *		 "Fields": [{"Tag": "name=Activity_id, type=INT64, convertedtype=INT_64, repetitiontype=OPTIONAL"},
 *		            {"Tag": "name=metadata, repetitiontype=OPTIONAL", "Fields": [...]},
 *		            {"Tag": "name=tags, type=LIST, repetitiontype=OPTIONAL",
 *		             "Fields": [{"Tag": "name=element, type=BYTE_ARRAY, convertedtype=UTF8"}]},
 *		            {"Tag": "name=unmapped, type=MAP, repetitiontype=OPTIONAL",
 *		             "Fields": [{"Tag": "name=key, type=BYTE_ARRAY, convertedtype=UTF8"},
 *		                        {"Tag": "name=value, type=BYTE_ARRAY, convertedtype=UTF8"}]}]}
 *
 *		Column names match event keys case-insensitively (the seed's
 *		`Activity_id` reads OCSF `activity_id`); `inname=` names the JSON key
 *		explicitly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "schema.h"

typedef struct TagFields
{
	char	   *name;
	char	   *inname;
	char	   *type;
	char	   *convertedtype;
	char	   *logicaltype;
	char	   *repetitiontype;
} TagFields;

static void
schema_error(const char *path, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid Parquet schema at \"%s\"", path),
			 errdetail("%s", detail),
			 errhint("The schema uses the reference connector's parquet-go form: {\"Tag\": \"name=..., type=..., repetitiontype=...\", \"Fields\": [...]}.")));
}

static char *
trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Split "k=v, k=v" into the fields we know; unknown keys are ignored like parquet-go does. */
static TagFields
parse_tag(const char *tag, const char *path)
{
	TagFields	f = {0};
	char	   *copy = pstrdup(tag);
	char	   *save = NULL;
	char	   *part;

	for (part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save))
	{
		char	   *eq = strchr(part, '=');
		char	   *k,
				   *v;

		if (eq == NULL)
			schema_error(path, psprintf("Tag part \"%s\" is not key=value.", trim(part)));
		*eq = '\0';
		k = trim(part);
		v = trim(eq + 1);
		if (pg_strcasecmp(k, "name") == 0)
			f.name = v;
		else if (pg_strcasecmp(k, "inname") == 0)
			f.inname = v;
		else if (pg_strcasecmp(k, "type") == 0)
			f.type = v;
		else if (pg_strcasecmp(k, "convertedtype") == 0)
			f.convertedtype = v;
		else if (pg_strcasecmp(k, "logicaltype") == 0)
			f.logicaltype = v;
		else if (pg_strcasecmp(k, "repetitiontype") == 0)
			f.repetitiontype = v;
	}
	if (f.name == NULL || f.name[0] == '\0')
		schema_error(path, "Every Tag needs name=.");
	return f;
}

static bool
eq(const char *a, const char *b)
{
	return a != NULL && pg_strcasecmp(a, b) == 0;
}

static void
set_leaf_kind(SlNode *node, TagFields *f, const char *path)
{
	const char *ct = f->convertedtype;

	if (eq(f->type, "BOOLEAN"))
		node->kind = SL_BOOLEAN;
	else if (eq(f->type, "INT32"))
	{
		node->kind = SL_INT32;
		node->int_bits = eq(ct, "INT_8") ? 8 : eq(ct, "INT_16") ? 16 : 32;
		if (ct && !eq(ct, "INT_8") && !eq(ct, "INT_16") && !eq(ct, "INT_32"))
			schema_error(path, psprintf("convertedtype=%s is not supported for INT32 (use INT_8, INT_16 or INT_32).", ct));
	}
	else if (eq(f->type, "INT64"))
	{
		node->kind = eq(ct, "TIMESTAMP_MILLIS") ? SL_TIMESTAMP_MS : SL_INT64;
		node->int_bits = 64;
		if (ct && !eq(ct, "INT_64") && !eq(ct, "TIMESTAMP_MILLIS"))
			schema_error(path, psprintf("convertedtype=%s is not supported for INT64 (use INT_64 or TIMESTAMP_MILLIS).", ct));
	}
	else if (eq(f->type, "FLOAT"))
		node->kind = SL_FLOAT;
	else if (eq(f->type, "DOUBLE"))
		node->kind = SL_DOUBLE;
	else if (eq(f->type, "BYTE_ARRAY"))
		node->kind = eq(ct, "UTF8") ? SL_STRING : eq(ct, "JSON") ? SL_JSON : SL_BYTES;
	else
		schema_error(path, psprintf("type=%s is not supported; use BOOLEAN, INT32, INT64, FLOAT, DOUBLE, BYTE_ARRAY, LIST, MAP or a group.",
									f->type ? f->type : "(none)"));
}

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

static SlNode *node_from_json(JsonbContainer *obj, const char *parent_path, bool is_root);

/* The Fields array of a tag object, as nodes. */
static void
add_fields(SlNode *node, JsonbContainer *obj, const char *path)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	int			cap = 8;

	if (getKeyJsonValueFromContainer(obj, "Fields", 6, &v) == NULL)
		return;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		schema_error(path, "Fields must be an array.");
	node->children = palloc(sizeof(SlNode *) * cap);
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			schema_error(path, "Every element of Fields must be an object with a Tag.");
		if (node->nchildren == cap)
		{
			cap *= 2;
			node->children = repalloc(node->children, sizeof(SlNode *) * cap);
		}
		node->children[node->nchildren++] = node_from_json(v.val.binary.data, path, false);
	}
}

static void
check_unique_keys(SlNode *group, const char *path)
{
	int			i;

	for (i = 1; i < group->nchildren; i++)
		if (strcmp(group->children[i - 1]->key, group->children[i]->key) == 0)
			schema_error(path, psprintf("Two fields read the same key \"%s\" (names match keys case-insensitively).",
										group->children[i]->key));
}

static SlNode *
node_from_json(JsonbContainer *obj, const char *parent_path, bool is_root)
{
	JsonbValue	v;
	TagFields	f;
	SlNode	   *node = palloc0(sizeof(SlNode));
	char	   *path;

	if (getKeyJsonValueFromContainer(obj, "Tag", 3, &v) == NULL || v.type != jbvString)
		schema_error(parent_path, "Every schema node needs a string Tag.");
	f = parse_tag(pnstrdup(v.val.string.val, v.val.string.len), parent_path);
	path = is_root ? pstrdup("") : psprintf("%s%s%s", parent_path, parent_path[0] ? "." : "", f.name);
	node->name = f.name;
	node->key = sl_ascii_lower(f.inname ? f.inname : f.name);
	node->required = f.repetitiontype == NULL ? is_root : eq(f.repetitiontype, "REQUIRED");
	node->must_exist = node->required && !is_root;
	node->repeated = eq(f.repetitiontype, "REPEATED");
	if (f.repetitiontype && !node->required && !node->repeated && !eq(f.repetitiontype, "OPTIONAL"))
		schema_error(path, psprintf("repetitiontype=%s is not REQUIRED, OPTIONAL or REPEATED.", f.repetitiontype));
	add_fields(node, obj, path);

	if (eq(f.type, "LIST"))
	{
		node->kind = SL_LIST;
		if (node->nchildren != 1)
			schema_error(path, "A LIST has exactly one field, its element.");
	}
	else if (eq(f.type, "MAP"))
	{
		node->kind = SL_MAP;
		if (node->nchildren != 2 || node->children[0]->kind != SL_STRING)
			schema_error(path, "A MAP has two fields, a UTF8 key and a value.");
	}
	else if (f.type == NULL || node->nchildren > 0)
	{
		node->kind = SL_GROUP;
		if (node->nchildren == 0)
			schema_error(path, "A group needs at least one field (empty structs break Glue).");
		sl_sort_children(node);
		check_unique_keys(node, path);
	}
	else
		set_leaf_kind(node, &f, path);
	return node;
}

/* Build the column tree of a parquet-go tag schema; raises a clear error if it is malformed. */
SlNode *
sl_schema_from_tags(Jsonb *schema)
{
	SlNode	   *root;
	SlNode	   *unmapped;

	if (!JB_ROOT_IS_OBJECT(schema))
		schema_error("", "The schema must be a JSON object.");
	root = node_from_json(&schema->root, "", true);
	if (root->kind != SL_GROUP)
		schema_error("", "The root of the schema must be a group with Fields.");
	unmapped = sl_node_child(root, "unmapped", 8);
	if (unmapped && unmapped->kind == SL_MAP)
		root->unmapped = unmapped;
	sl_schema_index_required(root);
	return root;
}

/* Give every group the list of its children that must exist, for the shredder's check. */
void
sl_schema_index_required(SlNode *node)
{
	int			i;

	if (node->kind != SL_GROUP)
	{
		for (i = 0; i < node->nchildren; i++)
			sl_schema_index_required(node->children[i]);
		return;
	}
	node->must = palloc(sizeof(SlNode *) * Max(node->nchildren, 1));
	node->nmust = 0;
	for (i = 0; i < node->nchildren; i++)
	{
		if (node->children[i]->must_exist)
			node->must[node->nmust++] = node->children[i];
		sl_schema_index_required(node->children[i]);
	}
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
sl_schema_leaf_count(const SlNode *node)
{
	int			n = 0;
	int			i;

	if (node->kind != SL_GROUP && node->kind != SL_LIST && node->kind != SL_MAP)
		return 1;
	for (i = 0; i < node->nchildren; i++)
		n += sl_schema_leaf_count(node->children[i]);
	return n;
}
