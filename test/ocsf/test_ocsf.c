/*
 * test_ocsf.c — TAP unit tests of the OCSF tables and the per-class Parquet schemas.
 */
#include "ocsf/ocsf.h"
#include "ocsf/ocsf_parquet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	test_number = 0;
static int	failures = 0;

static void
ok(int condition, const char *fmt,...)
{
	va_list		ap;

	test_number++;
	if (!condition)
		failures++;
	printf("%sok %d - ", condition ? "" : "not ", test_number);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int
valid_name(const char *name)
{
	const char *p;

	if (name == NULL || *name == '\0')
		return 0;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/* ---- tables ---------------------------------------------------------------------------- */

/* Sorted, valid names, object references that resolve; returns a problem or NULL. */
static const char *
check_attrs(const ocsf_version *v, const ocsf_attr *attrs, int32_t n)
{
	int32_t		i;

	for (i = 0; i < n; i++)
	{
		const ocsf_attr *a = &attrs[i];

		if (!valid_name(a->name))
			return a->name;
		if (i > 0 && strcmp(attrs[i - 1].name, a->name) >= 0)
			return a->name;
		if (a->coltype == OCSF_COL_OBJECT && ocsf_attr_object(v, a) == NULL)
			return a->name;
		if (a->coltype == OCSF_COL_OBJECT && strcmp(ocsf_attr_object(v, a)->name, a->object) != 0)
			return a->name;
		if (a->requirement > OCSF_REQUIRED || a->coltype > OCSF_COL_MAP)
			return a->name;
	}
	return NULL;
}

static void
test_tables(void)
{
	int			nversions,
				i;
	const ocsf_version *const *versions = ocsf_versions(&nversions);

	ok(nversions == 2, "two versions built in");
	ok(ocsf_find_version(OCSF_DEFAULT_VERSION) == versions[0], "default version 1.1.0 found");
	ok(ocsf_find_version("1.3.0") == versions[1], "1.3.0 found");
	ok(ocsf_find_version("1.2.0") == NULL && ocsf_find_version(NULL) == NULL,
	   "unknown versions are not found");
	for (i = 0; i < nversions; i++)
	{
		const ocsf_version *v = versions[i];
		const char *bad = NULL;
		int32_t		k;

		for (k = 0; k < v->num_objects && bad == NULL; k++)
			bad = check_attrs(v, v->objects[k].attrs, v->objects[k].num_attrs);
		ok(bad == NULL, "%s: object attributes sorted, named [a-z0-9_], resolvable (%s)",
		   v->version, bad ? bad : "all");
		bad = NULL;
		for (k = 0; k < v->num_classes && bad == NULL; k++)
		{
			bad = check_attrs(v, v->classes[k].attrs, v->classes[k].num_attrs);
			if (k > 0 && v->classes[k - 1].uid >= v->classes[k].uid)
				bad = v->classes[k].name;
			if (ocsf_find_class(v, v->classes[k].uid) != &v->classes[k])
				bad = v->classes[k].name;
		}
		ok(bad == NULL, "%s: %d classes sorted by uid, attributes valid (%s)",
		   v->version, (int) v->num_classes, bad ? bad : "all");
	}
	ok(versions[0]->num_classes >= 40 && versions[1]->num_classes > versions[0]->num_classes,
	   "class counts: 1.1.0 has %d, 1.3.0 has %d", (int) versions[0]->num_classes,
	   (int) versions[1]->num_classes);
}

/* The attribute NAME of class 3002 in VERSION. */
static const ocsf_attr *
auth_attr(const char *version, const char *name)
{
	const ocsf_class *c = ocsf_find_class(ocsf_find_version(version), 3002);

	return ocsf_class_attr(c, name, strlen(name));
}

static void
test_attribute_types(void)
{
	const ocsf_version *v11 = ocsf_find_version("1.1.0");
	const ocsf_attr *a;
	const ocsf_object *o;

	a = auth_attr("1.1.0", "time");
	ok(a && a->coltype == OCSF_COL_INT64 && strcmp(a->ocsf_type, "timestamp_t") == 0 &&
	   a->requirement == OCSF_REQUIRED && a->profile == NULL, "3002 time: timestamp_t, INT64, required");
	a = auth_attr("1.1.0", "time_dt");
	ok(a && a->coltype == OCSF_COL_TIMESTAMP_MS && a->profile && strcmp(a->profile, "datetime") == 0,
	   "3002 time_dt: TIMESTAMP_MS from the datetime profile");
	a = auth_attr("1.1.0", "user");
	ok(a && a->coltype == OCSF_COL_OBJECT && strcmp(a->object, "user") == 0, "3002 user: object user");
	a = auth_attr("1.1.0", "unmapped");
	ok(a && a->coltype == OCSF_COL_MAP, "3002 unmapped: MAP");
	a = auth_attr("1.1.0", "type_uid");
	ok(a && a->coltype == OCSF_COL_INT64, "3002 type_uid: INT64 (long_t)");
	a = auth_attr("1.1.0", "class_uid");
	ok(a && a->coltype == OCSF_COL_INT32 && a->requirement == OCSF_REQUIRED, "3002 class_uid: INT32, required");
	a = auth_attr("1.1.0", "device");
	ok(a && a->profile && strcmp(a->profile, "host") == 0, "3002 device comes from the host profile");
	a = auth_attr("1.1.0", "actor");
	ok(a && a->profile == NULL, "3002 actor is a class attribute (the class overrides the host profile)");
	a = auth_attr("1.1.0", "cloud");
	ok(a && a->profile && strcmp(a->profile, "cloud") == 0, "3002 cloud comes from the cloud profile");
	ok(auth_attr("1.1.0", "osint") == NULL && auth_attr("1.3.0", "osint") != NULL,
	   "osint exists in 1.3.0 only");
	o = ocsf_find_object(v11, "network_endpoint");
	a = ocsf_object_attr(o, "port", 4);
	ok(a && a->coltype == OCSF_COL_INT32 && strcmp(a->ocsf_type, "port_t") == 0, "network_endpoint.port: port_t INT32");
	a = ocsf_object_attr(o, "ip", 2);
	ok(a && a->coltype == OCSF_COL_STRING && strcmp(a->ocsf_type, "ip_t") == 0, "network_endpoint.ip: ip_t STRING");
	o = ocsf_find_object(v11, "metadata");
	a = ocsf_object_attr(o, "profiles", 8);
	ok(a && a->is_array && a->coltype == OCSF_COL_STRING, "metadata.profiles: array of STRING");
	a = ocsf_object_attr(o, "version", 7);
	ok(a && a->requirement == OCSF_REQUIRED, "metadata.version required");
	a = ocsf_object_attr(ocsf_find_object(v11, "user"), "name", 4);
	ok(a && strcmp(a->ocsf_type, "username_t") == 0 && a->coltype == OCSF_COL_STRING,
	   "user.name: the object's type override (username_t) wins");
	a = ocsf_object_attr(ocsf_find_object(v11, "enrichment"), "data", 4);
	ok(a && a->coltype == OCSF_COL_JSON, "enrichment.data: json_t JSON");
	ok(ocsf_class_has_profile(ocsf_find_class(v11, 2004), "security_control") &&
	   !ocsf_class_has_profile(ocsf_find_class(v11, 3002), "security_control"),
	   "security_control: detection finding yes, authentication no");
	ok(strcmp(ocsf_coltype_name(OCSF_COL_TIMESTAMP_MS), "TIMESTAMP_MS") == 0 &&
	   strcmp(ocsf_requirement_name(OCSF_RECOMMENDED), "recommended") == 0, "names of enums");
}

/* ---- Parquet schemas ------------------------------------------------------------------- */

/* Number of leaves below FIELD (FIELD itself if a leaf). */
static int
leaves_below(const pq_schema *s, pq_field field)
{
	int32_t		i,
				n = 0;

	if (pq_field_is_leaf(s, field))
		return 1;
	for (i = 0; i < pq_field_num_children(s, field); i++)
		n += leaves_below(s, pq_field_child(s, field, i));
	return n;
}

/* Every group has a leaf below it; every name is [a-z0-9_]. Returns the bad field. */
static pq_field
find_bad_field(const pq_schema *s)
{
	int32_t		f;

	for (f = 1; f < pq_schema_num_fields(s); f++)
	{
		if (!valid_name(pq_field_name(s, f)))
			return f;
		if (!pq_field_is_leaf(s, f) && leaves_below(s, f) == 0)
			return f;
	}
	return PQ_NO_FIELD;
}

/* Field at a dotted path of plain struct children (LIST/MAP inner names spelled out). */
static pq_field
field_at(const pq_schema *s, const char *path)
{
	pq_field	f = PQ_ROOT;
	const char *p = path;

	while (f != PQ_NO_FIELD && *p)
	{
		const char *dot = strchr(p, '.');
		size_t		len = dot ? (size_t) (dot - p) : strlen(p);

		f = pq_schema_child(s, f, p, len);
		p += len + (dot ? 1 : 0);
	}
	return f;
}

static void
test_every_class(void)
{
	int			nversions,
				i;
	const ocsf_version *const *versions = ocsf_versions(&nversions);

	for (i = 0; i < nversions; i++)
	{
		const ocsf_version *v = versions[i];
		int32_t		k,
					built = 0,
					clean = 0,
					min_leaves = 1 << 30,
					max_leaves = 0;
		char		first_error[300] = "";

		for (k = 0; k < v->num_classes; k++)
		{
			ocsf_pq_schema s;
			char		err[256];

			if (ocsf_pq_schema_build(&s, v, v->classes[k].uid, NULL, NULL, err, sizeof(err)) != PQ_OK)
			{
				if (!first_error[0])
					snprintf(first_error, sizeof(first_error), "%d: %s", (int) v->classes[k].uid, err);
				continue;
			}
			built++;
			if (find_bad_field(s.schema) == PQ_NO_FIELD && s.num_leaves == leaves_below(s.schema, PQ_ROOT))
				clean++;
			if (s.num_leaves < min_leaves)
				min_leaves = s.num_leaves;
			if (s.num_leaves > max_leaves)
				max_leaves = s.num_leaves;
			ocsf_pq_schema_free(&s);
		}
		ok(built == v->num_classes, "%s: all %d classes build a Parquet schema %s", v->version,
		   (int) v->num_classes, first_error);
		ok(clean == v->num_classes, "%s: no empty group, all names [a-z0-9_] (%d/%d)", v->version,
		   (int) clean, (int) v->num_classes);
		printf("# %s leaves per class: min %d, max %d\n", v->version, (int) min_leaves, (int) max_leaves);
	}
}

static void
test_authentication_shape(const char *version, int expected_leaves)
{
	ocsf_pq_schema s;
	const pq_schema *ps;
	pq_field	f;
	char		err[256];
	int			rc = ocsf_pq_schema_build(&s, ocsf_find_version(version), 3002, NULL, NULL,
										  err, sizeof(err));

	ok(rc == PQ_OK, "%s 3002 builds", version);
	if (rc != PQ_OK)
		return;
	ps = s.schema;
	f = field_at(ps, "time");
	ok(f > 0 && pq_field_physical(ps, f) == PQ_INT64 && pq_field_logical(ps, f) == PQ_LOGICAL_NONE &&
	   pq_field_repetition(ps, f) == PQ_OPTIONAL, "%s 3002 time: optional INT64", version);
	f = field_at(ps, "time_dt");
	ok(f > 0 && pq_field_physical(ps, f) == PQ_INT64 && pq_field_logical(ps, f) == PQ_LOGICAL_TIMESTAMP_MILLIS,
	   "%s 3002 time_dt: INT64 TIMESTAMP(MILLIS)", version);
	f = field_at(ps, "class_uid");
	ok(f > 0 && pq_field_physical(ps, f) == PQ_INT32 && ocsf_pq_field_attr(&s, f) == auth_attr(version, "class_uid"),
	   "%s 3002 class_uid: INT32, mapped back to its attribute", version);
	f = field_at(ps, "user");
	ok(f > 0 && !pq_field_is_leaf(ps, f) && !pq_field_is_list(ps, f), "%s 3002 user: a group", version);
	f = field_at(ps, "user.name");
	ok(f > 0 && pq_field_logical(ps, f) == PQ_LOGICAL_STRING, "%s 3002 user.name: STRING", version);
	f = field_at(ps, "metadata.profiles");
	ok(f > 0 && pq_field_is_list(ps, f) &&
	   pq_field_physical(ps, field_at(ps, "metadata.profiles.list.element")) == PQ_BYTE_ARRAY,
	   "%s 3002 metadata.profiles: LIST of STRING", version);
	f = field_at(ps, "observables");
	ok(f > 0 && pq_field_is_list(ps, f) && field_at(ps, "observables.list.element.name") > 0 &&
	   field_at(ps, "observables.list.element.type_id") > 0,
	   "%s 3002 observables: LIST of struct<name, type_id, ...>", version);
	f = field_at(ps, "unmapped");
	ok(f > 0 && pq_field_is_map(ps, f) && field_at(ps, "unmapped.key_value.key") > 0 &&
	   field_at(ps, "unmapped.key_value.value") > 0, "%s 3002 unmapped: MAP<STRING,STRING>", version);
	ok(field_at(ps, "actor.user.account.uid") > 0, "%s 3002 actor.user.account.uid kept (depth 3)", version);
	ok(field_at(ps, "actor.process.parent_process.name") > 0 &&
	   field_at(ps, "actor.process.parent_process.parent_process") == PQ_NO_FIELD,
	   "%s 3002 process nests itself once, not twice", version);
	ok(field_at(ps, "actor.process.file.owner") == PQ_NO_FIELD, "%s 3002 nothing below depth 3", version);
	ok(s.num_leaves == expected_leaves, "%s 3002 has %d leaf columns (expected %d)", version,
	   (int) s.num_leaves, expected_leaves);
	ocsf_pq_schema_free(&s);
}

static void
test_shapes(void)
{
	const ocsf_version *v = ocsf_find_version("1.1.0");
	ocsf_pq_schema s;
	ocsf_shape	shape;
	char		err[256];
	int			rc;

	shape.max_depth = 0;
	shape.max_same_object = 1;
	rc = ocsf_pq_schema_build(&s, v, 3002, &shape, NULL, err, sizeof(err));
	ok(rc == PQ_OK && field_at(s.schema, "user") == PQ_NO_FIELD && field_at(s.schema, "unmapped") > 0 &&
	   find_bad_field(s.schema) == PQ_NO_FIELD, "max_depth 0: no object groups, unmapped kept");
	if (rc == PQ_OK)
		ocsf_pq_schema_free(&s);
	shape.max_depth = 5;
	shape.max_same_object = 1;
	rc = ocsf_pq_schema_build(&s, v, 1007, &shape, NULL, err, sizeof(err));
	ok(rc == PQ_OK && field_at(s.schema, "process.parent_process") == PQ_NO_FIELD &&
	   field_at(s.schema, "process.file.name") > 0, "max_same_object 1 cuts process.parent_process");
	if (rc == PQ_OK)
		ocsf_pq_schema_free(&s);
	rc = ocsf_pq_schema_build(&s, v, 999999, NULL, NULL, err, sizeof(err));
	ok(rc == PQ_ERR_ARG && strstr(err, "999999") != NULL, "unknown class: PQ_ERR_ARG, \"%s\"", err);
	shape.max_depth = 17;
	rc = ocsf_pq_schema_build(&s, v, 3002, &shape, NULL, err, sizeof(err));
	ok(rc == PQ_ERR_ARG, "max_depth 17 refused: \"%s\"", err);
	rc = ocsf_pq_schema_build(&s, NULL, 3002, NULL, NULL, err, sizeof(err));
	ok(rc == PQ_ERR_ARG, "no version refused");
}

/*
 * Every class of every version has an Avro schema (the parquet.avro.schema entry of its
 * objects), and every json_t attribute is a STRING column (the one column-type mapping).
 */
static void
test_avro_and_column_types(void)
{
	int			nversions;
	const ocsf_version *const *versions = ocsf_versions(&nversions);
	int			classes = 0,
				good = 0,
				json_columns = 0,
				json_as_string = 0;

	for (int i = 0; i < nversions; i++)
		for (int j = 0; j < versions[i]->num_classes; j++)
		{
			ocsf_pq_schema s;
			char		err[256];
			char	   *text = NULL;

			classes++;
			if (ocsf_pq_schema_build(&s, versions[i], versions[i]->classes[j].uid, NULL, NULL, err, sizeof(err)) != PQ_OK)
				continue;
			if (pq_avro_schema(s.schema, versions[i]->classes[j].name, "securitylake", NULL, &text, NULL, err, sizeof(err)) == PQ_OK &&
				strstr(text, "\"name\":\"list\"") == NULL)
				good++;
			else
				printf("# %s %d: %s\n", versions[i]->version, versions[i]->classes[j].uid, err);
			free(text);
			for (pq_field f = 1; f < s.num_fields; f++)
			{
				pq_column_type type;

				if (ocsf_pq_leaf_column_type(&s, f, &type) && type == PQ_COL_JSON)
				{
					json_columns++;
					json_as_string += pq_field_logical(s.schema, f) == PQ_LOGICAL_STRING;
				}
			}
			ocsf_pq_schema_free(&s);
		}
	ok(good == classes, "every class of every version has an Avro schema, no record named \"list\" (%d of %d)", good, classes);
	ok(json_columns > 0 && json_as_string == json_columns,
	   "json_t columns are BYTE_ARRAY STRING, as Security Lake's own tables (%d of %d)", json_as_string, json_columns);
}

int
main(void)
{
	test_tables();
	test_attribute_types();
	test_every_class();
	/* Leaf counts cross-checked with tools/ocsf/gen.py --leaf-counts (independent code). */
	test_authentication_shape("1.1.0", 1140);
	test_authentication_shape("1.3.0", 1781);
	test_shapes();
	test_avro_and_column_types();
	printf("1..%d\n", test_number);
	return failures ? 1 : 0;
}
