/*-------------------------------------------------------------------------
 *
 * ocsf_sql.c
 *		SQL views of the built-in OCSF schemas: securitylake.ocsf_classes and
 *		securitylake.parquet_schema(class_uid, ocsf_version).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "ocsf/ocsf_parquet.h"
#include "parquet/parquet.h"

static void *
sql_malloc(void *ctx, size_t size)
{
	(void) ctx;
	return MemoryContextAllocExtended(CurrentMemoryContext, Max(size, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void *
sql_realloc(void *ctx, void *ptr, size_t size)
{
	(void) ctx;
	return ptr ? repalloc_huge(ptr, Max(size, 1)) : sql_malloc(ctx, size);
}

static void
sql_free(void *ctx, void *ptr)
{
	(void) ctx;
	if (ptr)
		pfree(ptr);
}

static const pq_allocator palloc_allocator = {sql_malloc, sql_realloc, sql_free, NULL};

static int
leaf_count(const ocsf_version *v, int32 class_uid)
{
	ocsf_pq_schema s;
	char		err[256];
	int			n;

	if (ocsf_pq_schema_build(&s, v, class_uid, NULL, &palloc_allocator, err, sizeof(err)) != PQ_OK)
		return 0;
	n = s.num_leaves;
	ocsf_pq_schema_free(&s);
	return n;
}

PG_FUNCTION_INFO_V1(securitylake_ocsf_classes);
Datum
securitylake_ocsf_classes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nversions;
	const ocsf_version *const *versions = ocsf_versions(&nversions);
	int			i,
				j;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < nversions; i++)
	{
		const ocsf_version *v = versions[i];

		for (j = 0; j < v->num_classes; j++)
		{
			const ocsf_class *c = &v->classes[j];
			Datum		values[6];
			bool		nulls[6] = {false};

			values[0] = CStringGetTextDatum(v->version);
			values[1] = Int32GetDatum(c->uid);
			values[2] = CStringGetTextDatum(c->caption);
			values[3] = CStringGetTextDatum(c->name);
			values[4] = CStringGetTextDatum(c->category_name ? c->category_name : "");
			values[5] = Int32GetDatum(leaf_count(v, c->uid));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

static const char *
physical_name(pq_physical p)
{
	switch (p)
	{
		case PQ_BOOLEAN:
			return "BOOLEAN";
		case PQ_INT32:
			return "INT32";
		case PQ_INT64:
			return "INT64";
		case PQ_FLOAT:
			return "FLOAT";
		case PQ_DOUBLE:
			return "DOUBLE";
		default:
			return "BYTE_ARRAY";
	}
}

static const char *
logical_name(pq_logical l)
{
	switch (l)
	{
		case PQ_LOGICAL_STRING:
			return "STRING";
		case PQ_LOGICAL_JSON:
			return "JSON";
		case PQ_LOGICAL_INT8:
			return "INT(8, signed)";
		case PQ_LOGICAL_INT16:
			return "INT(16, signed)";
		case PQ_LOGICAL_INT32:
			return "INT(32, signed)";
		case PQ_LOGICAL_INT64:
			return "INT(64, signed)";
		case PQ_LOGICAL_TIMESTAMP_MILLIS:
			return "TIMESTAMP(MILLIS, UTC)";
		default:
			return NULL;
	}
}

/* One row per schema node, depth first, with its dotted path. */
static void
emit_field(ReturnSetInfo *rsinfo, const ocsf_pq_schema *s, pq_field f, const char *parent, int depth)
{
	const pq_schema *schema = s->schema;
	const char *name = pq_field_name(schema, f);
	char	   *path = parent[0] ? psprintf("%s.%s", parent, name) : pstrdup(name);
	const ocsf_attr *attr = ocsf_pq_field_attr(s, f);
	bool		leaf = pq_field_is_leaf(schema, f);
	Datum		values[8];
	bool		nulls[8] = {false};
	const char *logical = leaf ? logical_name(pq_field_logical(schema, f)) : NULL;
	pq_repetition rep = pq_field_repetition(schema, f);
	int32		i;

	values[0] = CStringGetTextDatum(path);
	values[1] = Int32GetDatum(depth);
	values[2] = CStringGetTextDatum(rep == PQ_REQUIRED ? "REQUIRED" : rep == PQ_REPEATED ? "REPEATED" : "OPTIONAL");
	values[3] = CStringGetTextDatum(leaf ? physical_name(pq_field_physical(schema, f)) :
									pq_field_is_list(schema, f) ? "LIST" : pq_field_is_map(schema, f) ? "MAP" : "GROUP");
	nulls[4] = logical == NULL;
	values[4] = logical ? CStringGetTextDatum(logical) : (Datum) 0;
	nulls[5] = attr == NULL;
	values[5] = attr ? CStringGetTextDatum(attr->ocsf_type) : (Datum) 0;
	nulls[6] = attr == NULL;
	values[6] = attr ? CStringGetTextDatum(ocsf_requirement_name(attr->requirement)) : (Datum) 0;
	nulls[7] = attr == NULL || attr->profile == NULL;
	values[7] = (attr && attr->profile) ? CStringGetTextDatum(attr->profile) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	for (i = 0; i < pq_field_num_children(schema, f); i++)
		emit_field(rsinfo, s, pq_field_child(schema, f, i), path, depth + 1);
}

PG_FUNCTION_INFO_V1(securitylake_parquet_schema);
Datum
securitylake_parquet_schema(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		class_uid = PG_GETARG_INT32(0);
	char	   *version = PG_ARGISNULL(1) ? pstrdup(OCSF_DEFAULT_VERSION) : text_to_cstring(PG_GETARG_TEXT_PP(1));
	const ocsf_version *v = ocsf_find_version(version);
	ocsf_shape	shape;
	ocsf_pq_schema s;
	char		err[256];
	int32		i;

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("OCSF version \"%s\" is not built in", version),
				 errhint("Use 1.1.0 or 1.3.0.")));
	ocsf_shape_init(&shape);
	if (!PG_ARGISNULL(2))
		shape.max_depth = PG_GETARG_INT32(2);
	if (ocsf_pq_schema_build(&s, v, class_uid, &shape, &palloc_allocator, err, sizeof(err)) != PQ_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no built-in Parquet schema for OCSF class %d (version %s)", class_uid, version),
				 errdetail("%s", err),
				 errhint("See securitylake.ocsf_classes for the classes of each version.")));
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < pq_field_num_children(s.schema, PQ_ROOT); i++)
		emit_field(rsinfo, &s, pq_field_child(s.schema, PQ_ROOT, i), "", 1);
	ocsf_pq_schema_free(&s);
	return (Datum) 0;
}
