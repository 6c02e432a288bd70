/*
 * schema.c — the schema tree: groups, leaves, LIST / MAP helpers, lookup by name.
 */
#include "parquet/schema_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int
schema_fail(pq_schema *s, int status, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	return status;
}

static uint32_t
lower_hash(const char *name, size_t len, pq_field parent)
{
	uint32_t	h = 2166136261u ^ (uint32_t) parent * 16777619u;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char) (c + 32);
		h = (h ^ c) * 16777619u;
	}
	return h;
}

pq_schema *
pq_schema_new(const pq_allocator *alloc)
{
	const pq_allocator *a = alloc ? alloc : &pq_libc_allocator;
	pq_schema  *s = pq_alloc(a, sizeof(pq_schema));

	if (s == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->alloc = *a;
	if (pq_grow(&s->alloc, (void **) &s->nodes, &s->cap, 1, sizeof(pq_node)) != PQ_OK)
	{
		pq_free(a, s);
		return NULL;
	}
	memset(&s->nodes[0], 0, sizeof(pq_node));
	s->nodes[0].parent = PQ_NO_FIELD;
	s->nodes[0].repetition = PQ_REQUIRED;
	s->nnodes = 1;
	return s;
}

void
pq_schema_free(pq_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nnodes; i++)
	{
		pq_free(&s->alloc, s->nodes[i].name);
		pq_free(&s->alloc, s->nodes[i].children);
	}
	pq_free(&s->alloc, s->nodes);
	pq_free(&s->alloc, s->table);
	pq_free(&s->alloc, s);
}

const char *
pq_schema_error(const pq_schema *s)
{
	return s ? s->error : "no schema";
}

static bool
valid_field(const pq_schema *s, pq_field f)
{
	return s && f >= 0 && (size_t) f < s->nnodes;
}

static int
table_insert(pq_schema *s, pq_field f)
{
	size_t		mask = s->table_size - 1;
	size_t		i = s->nodes[f].name_hash & mask;

	while (s->table[i] != 0)
		i = (i + 1) & mask;
	s->table[i] = f + 1;
	return PQ_OK;
}

static int
table_make_room(pq_schema *s)
{
	size_t		nsize;
	int32_t    *nt;

	if (s->table_size && s->nnodes * 2 < s->table_size)
		return PQ_OK;
	nsize = s->table_size ? s->table_size * 2 : 64;
	nt = pq_alloc(&s->alloc, nsize * sizeof(int32_t));
	if (nt == NULL)
		return PQ_ERR_NOMEM;
	memset(nt, 0, nsize * sizeof(int32_t));
	pq_free(&s->alloc, s->table);
	s->table = nt;
	s->table_size = nsize;
	for (size_t f = 1; f < s->nnodes; f++)
		table_insert(s, (pq_field) f);
	return PQ_OK;
}

static pq_field
lookup(const pq_schema *s, pq_field group, const char *name, size_t len, bool ci)
{
	uint32_t	h;
	size_t		mask,
				i;
	pq_field	first_ci = PQ_NO_FIELD;

	if (!valid_field(s, group) || s->table_size == 0 || name == NULL)
		return PQ_NO_FIELD;
	h = lower_hash(name, len, group);
	mask = s->table_size - 1;
	for (i = h & mask; s->table[i] != 0; i = (i + 1) & mask)
	{
		const pq_node *n = &s->nodes[s->table[i] - 1];

		if (n->name_hash != h || n->parent != group || n->name_len != len)
			continue;
		if (memcmp(n->name, name, len) == 0)
			return s->table[i] - 1;
		if (ci && first_ci == PQ_NO_FIELD)
		{
			size_t		k;

			for (k = 0; k < len; k++)
			{
				unsigned char a = (unsigned char) n->name[k],
							b = (unsigned char) name[k];

				if (a >= 'A' && a <= 'Z')
					a = (unsigned char) (a + 32);
				if (b >= 'A' && b <= 'Z')
					b = (unsigned char) (b + 32);
				if (a != b)
					break;
			}
			if (k == len)
				first_ci = s->table[i] - 1;
		}
	}
	return first_ci;
}

pq_field
pq_schema_child(const pq_schema *s, pq_field group, const char *name, size_t len)
{
	return lookup(s, group, name, len, false);
}

pq_field
pq_schema_child_ci(const pq_schema *s, pq_field group, const char *name, size_t len)
{
	return lookup(s, group, name, len, true);
}

/* Add a node under PARENT; fills name, links and levels. */
static int
add_node(pq_schema *s, pq_field parent, const char *name, pq_repetition rep, pq_field *out)
{
	pq_node    *p,
			   *n;
	size_t		len;
	int			rc;
	pq_field	f;

	if (out)
		*out = PQ_NO_FIELD;
	if (s == NULL || name == NULL || out == NULL)
		return PQ_ERR_ARG;
	if (!valid_field(s, parent) || s->nodes[parent].is_leaf)
		return schema_fail(s, PQ_ERR_SCHEMA, "parent of field \"%s\" is not a group", name);
	if (rep != PQ_REQUIRED && rep != PQ_OPTIONAL && rep != PQ_REPEATED)
		return schema_fail(s, PQ_ERR_ARG, "field \"%s\" has an invalid repetition", name);
	len = strlen(name);
	if (len == 0)
		return schema_fail(s, PQ_ERR_SCHEMA, "a field name is empty");
	if (pq_schema_child(s, parent, name, len) != PQ_NO_FIELD)
		return schema_fail(s, PQ_ERR_SCHEMA, "field \"%s\" is defined twice in its group", name);
	if (s->nnodes >= INT32_MAX / 2)
		return schema_fail(s, PQ_ERR_LIMIT, "too many fields");
	if ((rc = pq_grow(&s->alloc, (void **) &s->nodes, &s->cap, s->nnodes + 1, sizeof(pq_node))) != PQ_OK ||
		(rc = table_make_room(s)) != PQ_OK)
		return schema_fail(s, rc, "out of memory");
	p = &s->nodes[parent];
	if ((rc = pq_grow(&s->alloc, (void **) &p->children, &p->children_cap, p->nchildren + 1, sizeof(pq_field))) != PQ_OK)
		return schema_fail(s, rc, "out of memory");
	f = (pq_field) s->nnodes;
	n = &s->nodes[f];
	memset(n, 0, sizeof(*n));
	n->name = pq_alloc(&s->alloc, len + 1);
	if (n->name == NULL)
		return schema_fail(s, PQ_ERR_NOMEM, "out of memory");
	memcpy(n->name, name, len + 1);
	n->name_len = len;
	n->parent = parent;
	n->repetition = rep;
	n->max_def = p->max_def + (rep != PQ_REQUIRED);
	n->max_rep = p->max_rep + (rep == PQ_REPEATED);
	n->name_hash = lower_hash(name, len, parent);
	p->children[p->nchildren++] = f;
	s->nnodes++;
	table_insert(s, f);
	*out = f;
	return PQ_OK;
}

int
pq_schema_add_group(pq_schema *s, pq_field parent, const char *name,
					pq_repetition rep, pq_field *out)
{
	return add_node(s, parent, name, rep, out);
}

static bool
logical_fits(pq_physical phys, pq_logical logical)
{
	switch (logical)
	{
		case PQ_LOGICAL_NONE:
			return true;
		case PQ_LOGICAL_STRING:
		case PQ_LOGICAL_JSON:
			return phys == PQ_BYTE_ARRAY;
		case PQ_LOGICAL_INT8:
		case PQ_LOGICAL_INT16:
		case PQ_LOGICAL_INT32:
			return phys == PQ_INT32;
		case PQ_LOGICAL_INT64:
		case PQ_LOGICAL_TIMESTAMP_MILLIS:
			return phys == PQ_INT64;
	}
	return false;
}

int
pq_schema_add_leaf(pq_schema *s, pq_field parent, const char *name, pq_repetition rep,
				   pq_physical phys, pq_logical logical, pq_field *out)
{
	int			rc;

	if (s == NULL)
		return PQ_ERR_ARG;
	if (phys != PQ_BOOLEAN && phys != PQ_INT32 && phys != PQ_INT64 && phys != PQ_FLOAT &&
		phys != PQ_DOUBLE && phys != PQ_BYTE_ARRAY)
		return schema_fail(s, PQ_ERR_ARG, "field \"%s\" has an unsupported physical type", name ? name : "");
	if (!logical_fits(phys, logical))
		return schema_fail(s, PQ_ERR_SCHEMA, "field \"%s\": the logical type does not suit its physical type", name ? name : "");
	if ((rc = add_node(s, parent, name, rep, out)) != PQ_OK)
		return rc;
	s->nodes[*out].is_leaf = true;
	s->nodes[*out].physical = phys;
	s->nodes[*out].logical = logical;
	s->nleaves++;
	return PQ_OK;
}

int
pq_schema_add_list(pq_schema *s, pq_field parent, const char *name, pq_repetition rep,
				   pq_field *list_out, pq_field *repeated_out)
{
	int			rc;

	if (list_out == NULL || repeated_out == NULL)
		return PQ_ERR_ARG;
	if (rep == PQ_REPEATED)
		return schema_fail(s, PQ_ERR_SCHEMA, "list \"%s\" must be REQUIRED or OPTIONAL", name ? name : "");
	if ((rc = add_node(s, parent, name, rep, list_out)) != PQ_OK)
		return rc;
	s->nodes[*list_out].kind = PQ_KIND_LIST;
	return add_node(s, *list_out, "list", PQ_REPEATED, repeated_out);
}

int
pq_schema_add_map(pq_schema *s, pq_field parent, const char *name, pq_repetition rep,
				  pq_physical key_physical, pq_logical key_logical, pq_field *map_out,
				  pq_field *key_value_out, pq_field *key_out)
{
	int			rc;

	if (map_out == NULL || key_value_out == NULL || key_out == NULL)
		return PQ_ERR_ARG;
	if (rep == PQ_REPEATED)
		return schema_fail(s, PQ_ERR_SCHEMA, "map \"%s\" must be REQUIRED or OPTIONAL", name ? name : "");
	if ((rc = add_node(s, parent, name, rep, map_out)) != PQ_OK)
		return rc;
	s->nodes[*map_out].kind = PQ_KIND_MAP;
	if ((rc = add_node(s, *map_out, "key_value", PQ_REPEATED, key_value_out)) != PQ_OK)
		return rc;
	s->nodes[*key_value_out].kind = PQ_KIND_KEY_VALUE;
	return pq_schema_add_leaf(s, *key_value_out, "key", PQ_REQUIRED, key_physical, key_logical, key_out);
}

int
pq_schema_set_field_id(pq_schema *s, pq_field f, int32_t field_id)
{
	if (!valid_field(s, f) || f == PQ_ROOT)
		return PQ_ERR_ARG;
	s->nodes[f].has_field_id = true;
	s->nodes[f].field_id = field_id;
	return PQ_OK;
}

int32_t
pq_schema_num_fields(const pq_schema *s)
{
	return s ? (int32_t) s->nnodes : 0;
}

int32_t
pq_schema_num_leaves(const pq_schema *s)
{
	return s ? s->nleaves : 0;
}

const char *
pq_field_name(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) ? (f == PQ_ROOT ? "schema" : s->nodes[f].name) : NULL;
}

pq_field
pq_field_parent(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) ? s->nodes[f].parent : PQ_NO_FIELD;
}

int32_t
pq_field_num_children(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) ? (int32_t) s->nodes[f].nchildren : 0;
}

pq_field
pq_field_child(const pq_schema *s, pq_field f, int32_t i)
{
	if (!valid_field(s, f) || i < 0 || (size_t) i >= s->nodes[f].nchildren)
		return PQ_NO_FIELD;
	return s->nodes[f].children[i];
}

bool
pq_field_is_leaf(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) && s->nodes[f].is_leaf;
}

pq_repetition
pq_field_repetition(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) ? s->nodes[f].repetition : PQ_REQUIRED;
}

pq_physical
pq_field_physical(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) ? s->nodes[f].physical : PQ_BOOLEAN;
}

pq_logical
pq_field_logical(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) ? s->nodes[f].logical : PQ_LOGICAL_NONE;
}

bool
pq_field_is_list(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) && s->nodes[f].kind == PQ_KIND_LIST;
}

bool
pq_field_is_map(const pq_schema *s, pq_field f)
{
	return valid_field(s, f) && s->nodes[f].kind == PQ_KIND_MAP;
}

pq_field
pq_field_repeated_group(const pq_schema *s, pq_field f)
{
	if (!valid_field(s, f) || (s->nodes[f].kind != PQ_KIND_LIST && s->nodes[f].kind != PQ_KIND_MAP) ||
		s->nodes[f].nchildren != 1)
		return PQ_NO_FIELD;
	return s->nodes[f].children[0];
}

const char *
pq_status_name(int status)
{
	switch (status)
	{
		case PQ_OK:
			return "PQ_OK";
		case PQ_ERR_ARG:
			return "PQ_ERR_ARG";
		case PQ_ERR_STATE:
			return "PQ_ERR_STATE";
		case PQ_ERR_SCHEMA:
			return "PQ_ERR_SCHEMA";
		case PQ_ERR_NOMEM:
			return "PQ_ERR_NOMEM";
		case PQ_ERR_IO:
			return "PQ_ERR_IO";
		case PQ_ERR_ZSTD:
			return "PQ_ERR_ZSTD";
		case PQ_ERR_LIMIT:
			return "PQ_ERR_LIMIT";
	}
	return "PQ_ERR_UNKNOWN";
}

/* ---- column types (parquet.h says why each maps as it does) ---- */

static const struct
{
	const char *name;
	pq_physical physical;
	pq_logical	logical;
}			column_types[PQ_COL_NUM_TYPES] = {
	[PQ_COL_BOOLEAN] = {"BOOLEAN", PQ_BOOLEAN, PQ_LOGICAL_NONE},
	[PQ_COL_INT8] = {"INT8", PQ_INT32, PQ_LOGICAL_INT8},
	[PQ_COL_INT16] = {"INT16", PQ_INT32, PQ_LOGICAL_INT16},
	[PQ_COL_INT32] = {"INT32", PQ_INT32, PQ_LOGICAL_NONE},
	[PQ_COL_INT64] = {"INT64", PQ_INT64, PQ_LOGICAL_NONE},
	[PQ_COL_TIMESTAMP_MILLIS] = {"TIMESTAMP_MILLIS", PQ_INT64, PQ_LOGICAL_TIMESTAMP_MILLIS},
	[PQ_COL_FLOAT] = {"FLOAT", PQ_FLOAT, PQ_LOGICAL_NONE},
	[PQ_COL_DOUBLE] = {"DOUBLE", PQ_DOUBLE, PQ_LOGICAL_NONE},
	[PQ_COL_STRING] = {"STRING", PQ_BYTE_ARRAY, PQ_LOGICAL_STRING},
	[PQ_COL_JSON] = {"JSON", PQ_BYTE_ARRAY, PQ_LOGICAL_STRING},
	[PQ_COL_BYTES] = {"BYTES", PQ_BYTE_ARRAY, PQ_LOGICAL_NONE},
};

bool
pq_column_type_parquet(pq_column_type type, pq_physical *physical, pq_logical *logical)
{
	if ((int) type < 0 || (int) type >= PQ_COL_NUM_TYPES)
		return false;
	*physical = column_types[type].physical;
	*logical = column_types[type].logical;
	return true;
}

const char *
pq_column_type_name(pq_column_type type)
{
	if ((int) type < 0 || (int) type >= PQ_COL_NUM_TYPES)
		return NULL;
	return column_types[type].name;
}

int
pq_schema_add_column(pq_schema *s, pq_field parent, const char *name, pq_repetition rep,
					 pq_column_type type, pq_field *out)
{
	pq_physical physical;
	pq_logical	logical;

	if (s == NULL)
		return PQ_ERR_ARG;
	if (!pq_column_type_parquet(type, &physical, &logical))
		return schema_fail(s, PQ_ERR_ARG, "field \"%s\" has an unknown column type", name ? name : "");
	return pq_schema_add_leaf(s, parent, name, rep, physical, logical, out);
}
