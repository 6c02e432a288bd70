/*-------------------------------------------------------------------------
 *
 * columns_tags.c
 *		The columns of a source with a schema: the reference connector's
 *		"Parquet format", a parquet-go JSON schema of tags, e.g.
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
 *		explicitly. A schema whose names are not all Avro names
 *		([A-Za-z_][A-Za-z0-9_]*) is written without a parquet.avro.schema
 *		(shred.c): Avro cannot name such fields.
 *
 *		A REPEATED field outside a LIST or MAP (parquet-go's bare repeated
 *		field) is written as a standard 3-level LIST of OPTIONAL elements: a
 *		bare repeated field breaks OpenSearch Ingestion and Athena
 *		(falcosecurity/falcosidekick#728). Its JSON value is an array, or one
 *		scalar taken as a one-element list, as before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "columns.h"

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
set_leaf_type(SlNode *node, TagFields *f, const char *path)
{
	const char *ct = f->convertedtype;

	node->shape = SL_SCALAR;
	if (eq(f->type, "BOOLEAN"))
		node->type = PQ_COL_BOOLEAN;
	else if (eq(f->type, "INT32"))
	{
		node->type = eq(ct, "INT_8") ? PQ_COL_INT8 : eq(ct, "INT_16") ? PQ_COL_INT16 : PQ_COL_INT32;
		if (ct && !eq(ct, "INT_8") && !eq(ct, "INT_16") && !eq(ct, "INT_32"))
			schema_error(path, psprintf("convertedtype=%s is not supported for INT32 (use INT_8, INT_16 or INT_32).", ct));
	}
	else if (eq(f->type, "INT64"))
	{
		node->type = eq(ct, "TIMESTAMP_MILLIS") ? PQ_COL_TIMESTAMP_MILLIS : PQ_COL_INT64;
		if (ct && !eq(ct, "INT_64") && !eq(ct, "TIMESTAMP_MILLIS"))
			schema_error(path, psprintf("convertedtype=%s is not supported for INT64 (use INT_64 or TIMESTAMP_MILLIS).", ct));
	}
	else if (eq(f->type, "FLOAT"))
		node->type = PQ_COL_FLOAT;
	else if (eq(f->type, "DOUBLE"))
		node->type = PQ_COL_DOUBLE;
	else if (eq(f->type, "BYTE_ARRAY"))
		node->type = eq(ct, "UTF8") ? PQ_COL_STRING : eq(ct, "JSON") ? PQ_COL_JSON : PQ_COL_BYTES;
	else
		schema_error(path, psprintf("type=%s is not supported; use BOOLEAN, INT32, INT64, FLOAT, DOUBLE, BYTE_ARRAY, LIST, MAP or a group.",
									f->type ? f->type : "(none)"));
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

/*
 * A bare REPEATED field as a standard LIST: the field becomes the list, a
 * copy of it (OPTIONAL, named "element") its element.
 */
static SlNode *
repeated_as_list(SlNode *node)
{
	SlNode	   *list = palloc0(sizeof(SlNode));
	SlNode	   *element = palloc(sizeof(SlNode));

	*element = *node;
	element->name = pstrdup("element");
	element->required = false;
	element->must_exist = false;
	list->name = node->name;
	list->key = node->key;
	list->shape = SL_LIST;
	list->scalar_is_list = true;
	list->nchildren = 1;
	list->children = palloc(sizeof(SlNode *));
	list->children[0] = element;
	return list;
}

static SlNode *
node_from_json(JsonbContainer *obj, const char *parent_path, bool is_root)
{
	JsonbValue	v;
	TagFields	f;
	SlNode	   *node = palloc0(sizeof(SlNode));
	char	   *path;
	bool		repeated;

	if (getKeyJsonValueFromContainer(obj, "Tag", 3, &v) == NULL || v.type != jbvString)
		schema_error(parent_path, "Every schema node needs a string Tag.");
	f = parse_tag(pnstrdup(v.val.string.val, v.val.string.len), parent_path);
	path = is_root ? pstrdup("") : psprintf("%s%s%s", parent_path, parent_path[0] ? "." : "", f.name);
	node->name = f.name;
	node->key = sl_ascii_lower(f.inname ? f.inname : f.name);
	node->required = f.repetitiontype == NULL ? is_root : eq(f.repetitiontype, "REQUIRED");
	node->must_exist = node->required && !is_root;
	repeated = eq(f.repetitiontype, "REPEATED");
	if (f.repetitiontype && !node->required && !repeated && !eq(f.repetitiontype, "OPTIONAL"))
		schema_error(path, psprintf("repetitiontype=%s is not REQUIRED, OPTIONAL or REPEATED.", f.repetitiontype));
	if (repeated && is_root)
		schema_error(path, "The root of the schema cannot be REPEATED.");
	add_fields(node, obj, path);

	if (eq(f.type, "LIST"))
	{
		node->shape = SL_LIST;
		if (node->nchildren != 1)
			schema_error(path, "A LIST has exactly one field, its element.");
	}
	else if (eq(f.type, "MAP"))
	{
		node->shape = SL_MAP;
		if (node->nchildren != 2 || node->children[0]->shape != SL_SCALAR ||
			node->children[0]->type != PQ_COL_STRING)
			schema_error(path, "A MAP has two fields, a UTF8 key and a value.");
	}
	else if (f.type == NULL || node->nchildren > 0)
	{
		node->shape = SL_GROUP;
		if (node->nchildren == 0)
			schema_error(path, "A group needs at least one field (empty structs break Glue).");
		sl_sort_children(node);
		check_unique_keys(node, path);
	}
	else
		set_leaf_type(node, &f, path);
	if (repeated && (node->shape == SL_LIST || node->shape == SL_MAP))
		schema_error(path, "A LIST or MAP is REQUIRED or OPTIONAL; its elements repeat.");
	return repeated ? repeated_as_list(node) : node;
}

/* Build the column tree of a parquet-go tag schema; raises a clear error if it is malformed. */
SlNode *
sl_columns_from_tags(Jsonb *schema)
{
	SlNode	   *root;
	SlNode	   *unmapped;

	if (!JB_ROOT_IS_OBJECT(schema))
		schema_error("", "The schema must be a JSON object.");
	root = node_from_json(&schema->root, "", true);
	if (root->shape != SL_GROUP)
		schema_error("", "The root of the schema must be a group with Fields.");
	unmapped = sl_node_child(root, "unmapped", 8);
	if (unmapped && unmapped->shape == SL_MAP)
		root->unmapped = unmapped;
	sl_columns_index(root);
	return root;
}

/*
 * securitylake._check_tag_schema(schema jsonb): the builder above run for its
 * error, so that create_source and alter_source accept exactly the schemas
 * the worker can write (called from _validate_parquet_schema).
 */
PG_FUNCTION_INFO_V1(securitylake_check_tag_schema);
Datum
securitylake_check_tag_schema(PG_FUNCTION_ARGS)
{
	(void) sl_columns_from_tags(PG_GETARG_JSONB_P(0));
	PG_RETURN_VOID();
}
