/*
 * ocsf.c — look-ups over the generated OCSF tables (ocsf_schema_<ver>.c).
 */
#include "ocsf/ocsf.h"

#include <string.h>

/* Defined in the generated files. */
extern const ocsf_version ocsf_schema_1_1_0;
extern const ocsf_version ocsf_schema_1_3_0;

static const ocsf_version *const all_versions[] = {&ocsf_schema_1_1_0, &ocsf_schema_1_3_0};

const ocsf_version *const *
ocsf_versions(int *count)
{
	*count = (int) (sizeof(all_versions) / sizeof(all_versions[0]));
	return all_versions;
}

const ocsf_version *
ocsf_find_version(const char *version)
{
	size_t		i;

	if (version == NULL)
		return NULL;
	for (i = 0; i < sizeof(all_versions) / sizeof(all_versions[0]); i++)
		if (strcmp(all_versions[i]->version, version) == 0)
			return all_versions[i];
	return NULL;
}

const ocsf_class *
ocsf_find_class(const ocsf_version *v, int32_t class_uid)
{
	int32_t		lo = 0,
				hi;

	if (v == NULL)
		return NULL;
	hi = v->num_classes - 1;
	while (lo <= hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;
		int32_t		uid = v->classes[mid].uid;

		if (uid == class_uid)
			return &v->classes[mid];
		if (uid < class_uid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* strcmp of a NUL-terminated table name against a (name, len) key. */
static int
compare_name(const char *table_name, const char *name, size_t len)
{
	int			c = strncmp(table_name, name, len);

	if (c != 0)
		return c;
	return table_name[len] == '\0' ? 0 : 1;
}

/* Binary search in an array of attributes sorted by name. */
static const ocsf_attr *
find_attr(const ocsf_attr *attrs, int32_t n, const char *name, size_t len)
{
	int32_t		lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;
		int			c = compare_name(attrs[mid].name, name, len);

		if (c == 0)
			return &attrs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const ocsf_object *
ocsf_find_object(const ocsf_version *v, const char *name)
{
	int32_t		lo = 0,
				hi;
	size_t		len;

	if (v == NULL || name == NULL)
		return NULL;
	len = strlen(name);
	hi = v->num_objects - 1;
	while (lo <= hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;
		int			c = compare_name(v->objects[mid].name, name, len);

		if (c == 0)
			return &v->objects[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const ocsf_attr *
ocsf_class_attr(const ocsf_class *c, const char *name, size_t len)
{
	return c ? find_attr(c->attrs, c->num_attrs, name, len) : NULL;
}

const ocsf_attr *
ocsf_object_attr(const ocsf_object *o, const char *name, size_t len)
{
	return o ? find_attr(o->attrs, o->num_attrs, name, len) : NULL;
}

const ocsf_object *
ocsf_attr_object(const ocsf_version *v, const ocsf_attr *a)
{
	if (v == NULL || a == NULL || a->coltype != OCSF_COL_OBJECT)
		return NULL;
	if (a->object_index < 0 || a->object_index >= v->num_objects)
		return NULL;
	return &v->objects[a->object_index];
}

const char *
ocsf_coltype_name(ocsf_coltype t)
{
	switch (t)
	{
		case OCSF_COL_BOOLEAN:
			return "BOOLEAN";
		case OCSF_COL_INT32:
			return "INT32";
		case OCSF_COL_INT64:
			return "INT64";
		case OCSF_COL_TIMESTAMP_MS:
			return "TIMESTAMP_MS";
		case OCSF_COL_DOUBLE:
			return "DOUBLE";
		case OCSF_COL_STRING:
			return "STRING";
		case OCSF_COL_JSON:
			return "JSON";
		case OCSF_COL_OBJECT:
			return "OBJECT";
		case OCSF_COL_MAP:
			return "MAP";
	}
	return "?";
}

const char *
ocsf_requirement_name(ocsf_requirement r)
{
	switch (r)
	{
		case OCSF_OPTIONAL:
			return "optional";
		case OCSF_RECOMMENDED:
			return "recommended";
		case OCSF_REQUIRED:
			return "required";
	}
	return "?";
}

bool
ocsf_class_has_profile(const ocsf_class *c, const char *profile)
{
	const char *const *p;

	if (c == NULL || profile == NULL)
		return false;
	for (p = c->profiles; *p != NULL; p++)
		if (strcmp(*p, profile) == 0)
			return true;
	return false;
}
