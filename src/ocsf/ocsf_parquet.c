/*
 * ocsf_parquet.c — build the Parquet schema of an OCSF class (see ocsf_parquet.h).
 */
#include "ocsf/ocsf_parquet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct builder
{
	ocsf_pq_schema *out;
	const ocsf_shape *shape;
	int32_t		cap;			/* allocated entries of out->field_attr */
	int16_t		path[OCSF_MAX_DEPTH_LIMIT + 1];	/* object indexes, root to current */
	int			path_len;
	char	   *errbuf;
	size_t		errbuf_len;
} builder;

static void *
libc_malloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size);
}

static void *
libc_realloc(void *ctx, void *ptr, size_t size)
{
	(void) ctx;
	return realloc(ptr, size);
}

static void
libc_free(void *ctx, void *ptr)
{
	(void) ctx;
	free(ptr);
}

static void
set_error(char *errbuf, size_t len, const char *fmt,...)
{
	va_list		ap;

	if (errbuf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, len, fmt, ap);
	va_end(ap);
}

void
ocsf_shape_init(ocsf_shape *shape)
{
	shape->max_depth = OCSF_DEFAULT_MAX_DEPTH;
	shape->max_same_object = OCSF_DEFAULT_MAX_SAME_OBJECT;
}

static int
occurrences_on_path(const builder *b, int16_t object_index)
{
	int			i,
				n = 0;

	for (i = 0; i < b->path_len; i++)
		if (b->path[i] == object_index)
			n++;
	return n;
}

/* May an object attribute be expanded one level below the current path? */
static bool
may_expand(const builder *b, const ocsf_attr *a)
{
	if (b->path_len + 1 > b->shape->max_depth)
		return false;
	return occurrences_on_path(b, a->object_index) < b->shape->max_same_object;
}

/* Would OBJECT, expanded at the next level, have at least one leaf? */
static bool
object_has_leaf(builder *b, const ocsf_object *object, int16_t object_index)
{
	int32_t		i;
	bool		found = false;

	b->path[b->path_len++] = object_index;
	for (i = 0; i < object->num_attrs && !found; i++)
	{
		const ocsf_attr *a = &object->attrs[i];

		if (a->coltype != OCSF_COL_OBJECT)
			found = true;
		else if (may_expand(b, a))
			found = object_has_leaf(b, &b->out->version->objects[a->object_index],
									a->object_index);
	}
	b->path_len--;
	return found;
}

/* Make room in field_attr for FIELD (new entries are NULL). */
static int
reserve_field(builder *b, pq_field field)
{
	ocsf_pq_schema *s = b->out;

	if (field >= b->cap)
	{
		int32_t		cap = b->cap ? b->cap * 2 : 256;
		const ocsf_attr **grown;

		while (cap <= field)
			cap *= 2;
		grown = s->alloc.realloc_fn(s->alloc.ctx, (void *) s->field_attr,
									(size_t) cap * sizeof(*grown));
		if (grown == NULL)
		{
			set_error(b->errbuf, b->errbuf_len, "out of memory building the OCSF schema");
			return PQ_ERR_NOMEM;
		}
		memset((void *) (grown + b->cap), 0, (size_t) (cap - b->cap) * sizeof(*grown));
		s->field_attr = grown;
		b->cap = cap;
	}
	return PQ_OK;
}

/* Remember which attribute FIELD stands for. */
static int
note_field(builder *b, pq_field field, const ocsf_attr *a)
{
	int			rc = reserve_field(b, field);

	if (rc == PQ_OK)
		b->out->field_attr[field] = a;
	return rc;
}

static int
schema_failed(builder *b, int rc, const char *what, const char *name)
{
	set_error(b->errbuf, b->errbuf_len, "cannot add %s \"%s\" to the Parquet schema: %s",
			  what, name, pq_schema_error(b->out->schema));
	return rc;
}

static int	add_attrs(builder *b, pq_field parent, const ocsf_attr *attrs, int32_t n);

bool
ocsf_attr_column_type(const ocsf_attr *a, pq_column_type *out)
{
	switch ((ocsf_coltype) a->coltype)
	{
		case OCSF_COL_BOOLEAN:
			*out = PQ_COL_BOOLEAN;
			return true;
		case OCSF_COL_INT32:
			*out = PQ_COL_INT32;
			return true;
		case OCSF_COL_INT64:
			*out = PQ_COL_INT64;
			return true;
		case OCSF_COL_TIMESTAMP_MS:
			*out = PQ_COL_TIMESTAMP_MILLIS;
			return true;
		case OCSF_COL_DOUBLE:
			*out = PQ_COL_DOUBLE;
			return true;
		case OCSF_COL_STRING:
			*out = PQ_COL_STRING;
			return true;
		case OCSF_COL_JSON:
			*out = PQ_COL_JSON;
			return true;
		case OCSF_COL_OBJECT:
		case OCSF_COL_MAP:
			break;
	}
	return false;
}

bool
ocsf_pq_leaf_column_type(const ocsf_pq_schema *s, pq_field field, pq_column_type *out)
{
	const ocsf_attr *a;

	if (s == NULL || field <= PQ_ROOT || field >= s->num_fields || !pq_field_is_leaf(s->schema, field))
		return false;
	a = s->field_attr[field];
	if (a != NULL && a->coltype != OCSF_COL_MAP)
		return ocsf_attr_column_type(a, out);
	*out = PQ_COL_STRING;		/* a MAP<STRING,STRING>'s key or value */
	return true;
}

/* A scalar leaf of attribute A (or the element of its list) named NAME. */
static int
add_scalar(builder *b, pq_field parent, const char *name, const ocsf_attr *a,
		   pq_field *out)
{
	pq_column_type type;
	int			rc;

	if (!ocsf_attr_column_type(a, &type))
	{
		set_error(b->errbuf, b->errbuf_len, "attribute \"%s\" is not a scalar", a->name);
		return PQ_ERR_ARG;
	}
	rc = pq_schema_add_column(b->out->schema, parent, name, PQ_OPTIONAL, type, out);
	return rc == PQ_OK ? PQ_OK : schema_failed(b, rc, "column", a->name);
}

/* MAP<STRING,STRING> named NAME. */
static int
add_map(builder *b, pq_field parent, const char *name, const ocsf_attr *a, pq_field *out)
{
	pq_field	key_value,
				key,
				value;
	int			rc;

	rc = pq_schema_add_map(b->out->schema, parent, name, PQ_OPTIONAL, PQ_BYTE_ARRAY,
						   PQ_LOGICAL_STRING, out, &key_value, &key);
	if (rc == PQ_OK)
		rc = pq_schema_add_column(b->out->schema, key_value, "value", PQ_OPTIONAL,
								  PQ_COL_STRING, &value);
	return rc == PQ_OK ? PQ_OK : schema_failed(b, rc, "map", a->name);
}

/* The group of an object attribute, with its attributes below it. */
static int
add_object(builder *b, pq_field parent, const char *name, const ocsf_attr *a)
{
	const ocsf_object *object = &b->out->version->objects[a->object_index];
	pq_field	group;
	int			rc;

	rc = pq_schema_add_group(b->out->schema, parent, name, PQ_OPTIONAL, &group);
	if (rc != PQ_OK)
		return schema_failed(b, rc, "group", a->name);
	rc = note_field(b, group, a);
	if (rc != PQ_OK)
		return rc;
	b->path[b->path_len++] = a->object_index;
	rc = add_attrs(b, group, object->attrs, object->num_attrs);
	b->path_len--;
	return rc;
}

/* The element of a list (or the field itself when not an array). */
static int
add_value(builder *b, pq_field parent, const char *name, const ocsf_attr *a)
{
	pq_field	field;
	int			rc;

	if (a->coltype == OCSF_COL_OBJECT)
		return add_object(b, parent, name, a);
	if (a->coltype == OCSF_COL_MAP)
		rc = add_map(b, parent, name, a, &field);
	else
		rc = add_scalar(b, parent, name, a, &field);
	if (rc == PQ_OK)
		rc = note_field(b, field, a);
	return rc;
}

static int
add_attr(builder *b, pq_field parent, const ocsf_attr *a)
{
	pq_field	list,
				repeated;
	int			rc;

	if (a->coltype == OCSF_COL_OBJECT)
	{
		if (a->object_index < 0 || a->object_index >= b->out->version->num_objects)
		{
			set_error(b->errbuf, b->errbuf_len, "attribute \"%s\" names no object", a->name);
			return PQ_ERR_ARG;
		}
		if (!may_expand(b, a) ||
			!object_has_leaf(b, &b->out->version->objects[a->object_index], a->object_index))
			return PQ_OK;		/* cut: the shredder keeps such values in unmapped */
	}
	if (!a->is_array)
		return add_value(b, parent, a->name, a);
	rc = pq_schema_add_list(b->out->schema, parent, a->name, PQ_OPTIONAL, &list, &repeated);
	if (rc != PQ_OK)
		return schema_failed(b, rc, "list", a->name);
	rc = note_field(b, list, a);
	if (rc == PQ_OK)
		rc = add_value(b, repeated, "element", a);
	return rc;
}

static int
add_attrs(builder *b, pq_field parent, const ocsf_attr *attrs, int32_t n)
{
	int32_t		i;
	int			rc = PQ_OK;

	for (i = 0; i < n && rc == PQ_OK; i++)
		rc = add_attr(b, parent, &attrs[i]);
	return rc;
}

static int
check_arguments(const ocsf_version *version, const ocsf_class *cls, int32_t class_uid,
				const ocsf_shape *shape, char *errbuf, size_t errbuf_len)
{
	if (version == NULL)
	{
		set_error(errbuf, errbuf_len, "no OCSF version given");
		return PQ_ERR_ARG;
	}
	if (cls == NULL)
	{
		set_error(errbuf, errbuf_len, "OCSF %s has no event class %d",
				  version->version, (int) class_uid);
		return PQ_ERR_ARG;
	}
	if (shape->max_depth < 0 || shape->max_depth > OCSF_MAX_DEPTH_LIMIT ||
		shape->max_same_object < 1)
	{
		set_error(errbuf, errbuf_len,
				  "max_depth must be between 0 and %d and max_same_object at least 1",
				  OCSF_MAX_DEPTH_LIMIT);
		return PQ_ERR_ARG;
	}
	return PQ_OK;
}

int
ocsf_pq_schema_build(ocsf_pq_schema *out, const ocsf_version *version, int32_t class_uid,
					 const ocsf_shape *shape, const pq_allocator *alloc,
					 char *errbuf, size_t errbuf_len)
{
	ocsf_shape	defaults;
	builder		b;
	int			rc;

	memset(out, 0, sizeof(*out));
	if (shape == NULL)
	{
		ocsf_shape_init(&defaults);
		shape = &defaults;
	}
	out->version = version;
	out->cls = ocsf_find_class(version, class_uid);
	rc = check_arguments(version, out->cls, class_uid, shape, errbuf, errbuf_len);
	if (rc != PQ_OK)
		return rc;
	if (alloc)
		out->alloc = *alloc;
	else
	{
		out->alloc.malloc_fn = libc_malloc;
		out->alloc.realloc_fn = libc_realloc;
		out->alloc.free_fn = libc_free;
	}
	out->schema = pq_schema_new(&out->alloc);
	if (out->schema == NULL)
	{
		set_error(errbuf, errbuf_len, "out of memory creating a Parquet schema");
		return PQ_ERR_NOMEM;
	}
	memset(&b, 0, sizeof(b));
	b.out = out;
	b.shape = shape;
	b.errbuf = errbuf;
	b.errbuf_len = errbuf_len;
	rc = note_field(&b, PQ_ROOT, NULL);
	if (rc == PQ_OK)
		rc = add_attrs(&b, PQ_ROOT, out->cls->attrs, out->cls->num_attrs);
	if (rc != PQ_OK)
	{
		ocsf_pq_schema_free(out);
		return rc;
	}
	out->num_fields = pq_schema_num_fields(out->schema);
	out->num_leaves = pq_schema_num_leaves(out->schema);
	/* The inner nodes of a trailing LIST/MAP were never noted: cover every field. */
	rc = reserve_field(&b, out->num_fields - 1);
	if (rc != PQ_OK)
		ocsf_pq_schema_free(out);
	return rc;
}

void
ocsf_pq_schema_free(ocsf_pq_schema *s)
{
	if (s == NULL)
		return;
	if (s->schema)
		pq_schema_free(s->schema);
	if (s->field_attr)
		s->alloc.free_fn(s->alloc.ctx, (void *) s->field_attr);
	s->schema = NULL;
	s->field_attr = NULL;
}

const ocsf_attr *
ocsf_pq_field_attr(const ocsf_pq_schema *s, pq_field field)
{
	if (s == NULL || field < 0 || field >= s->num_fields)
		return NULL;
	return s->field_attr[field];
}
