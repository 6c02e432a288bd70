/*
 * writer.c — opening and closing a writer, row groups, sinks, errors.
 */
#include "parquet/writer_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef EXTVERSION
#define EXTVERSION "unknown"
#endif
#ifndef BUILD_ID
#define BUILD_ID "unknown"
#endif

#define PQ_MiB ((size_t) 1024 * 1024)
#define PQ_MAX_ROW_GROUP (256 * PQ_MiB)
#define PQ_MAX_LEVEL 250

int
pq_fail(pq_writer *w, int status, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
	if (status == PQ_ERR_IO || status == PQ_ERR_NOMEM || status == PQ_ERR_ZSTD)
		w->broken = true;
	return status;
}

const char *
pq_writer_error(const pq_writer *w)
{
	return w ? w->error : "no writer";
}

int
pq_sink_write(pq_writer *w, const void *data, size_t len)
{
	if (len == 0)
		return PQ_OK;
	if (w->sink.write(w->sink.ctx, data, len) != 0)
		return pq_fail(w, PQ_ERR_IO, "the output sink failed after %llu bytes",
					   (unsigned long long) w->offset);
	w->offset += len;
	return PQ_OK;
}

void
pq_options_init(pq_options *o)
{
	memset(o, 0, sizeof(*o));
	o->compression = PQ_ZSTD;
	o->zstd_level = 3;
	o->page_size_limit = PQ_MiB;
	o->row_group_size = 128 * PQ_MiB;
	o->dictionary_limit = PQ_MiB;
	o->enable_dictionary = true;
	o->data_page_version = 1;
	o->memory_limit = 512 * PQ_MiB;
}

/* ---- buffer sink ---- */

static int
buffer_write(void *ctx, const void *data, size_t len)
{
	pq_buffer  *b = ctx;

	if (pq_grow(&b->alloc, (void **) &b->data, &b->cap, b->len + len, 1) != PQ_OK)
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void
pq_buffer_init(pq_buffer *b, const pq_allocator *alloc)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->alloc = alloc ? *alloc : pq_libc_allocator;
}

pq_sink
pq_buffer_sink(pq_buffer *b)
{
	pq_sink		s = {buffer_write, b};

	return s;
}

void
pq_buffer_free(pq_buffer *b)
{
	pq_free(&b->alloc, b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- open ---- */

static int
open_fail(char *errbuf, size_t errlen, int status, const char *msg)
{
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", msg);
	return status;
}

/* Parquet has no empty groups; lists and maps must have their standard shape. */
static const char *
schema_problem(const pq_schema *s)
{
	if (s->nleaves == 0)
		return "the schema has no columns";
	for (size_t f = 0; f < s->nnodes; f++)
	{
		const pq_node *n = &s->nodes[f];

		if (!n->is_leaf && n->nchildren == 0)
			return "a group of the schema has no fields";
		if (n->max_def > PQ_MAX_LEVEL || n->max_rep > PQ_MAX_LEVEL)
			return "the schema is nested too deeply";
		if ((n->kind == PQ_KIND_LIST || n->kind == PQ_KIND_MAP) && n->nchildren != 1)
			return "a LIST or MAP group holds only its repeated group";
		if ((n->kind == PQ_KIND_LIST && s->nodes[n->children[0]].nchildren != 1) ||
			(n->kind == PQ_KIND_MAP && s->nodes[n->children[0]].nchildren != 2))
			return "a LIST needs one element field and a MAP one value field";
	}
	return NULL;
}

static char *
copy_string(pq_writer *w, const char *s)
{
	size_t		len = strlen(s);
	char	   *d = pq_alloc(&w->alloc, len + 1);

	if (d)
		memcpy(d, s, len + 1);
	return d;
}

static int
copy_options(pq_writer *w, const pq_options *options)
{
	char		created[256];

	if (options)
		w->opt = *options;
	else
		pq_options_init(&w->opt);
	if (w->opt.page_size_limit < 64)
		w->opt.page_size_limit = 64;
	if (w->opt.row_group_size == 0 || w->opt.row_group_size > PQ_MAX_ROW_GROUP)
		w->opt.row_group_size = PQ_MAX_ROW_GROUP;
	if (w->opt.compression != PQ_ZSTD && w->opt.compression != PQ_UNCOMPRESSED)
		return PQ_ERR_ARG;
	if (w->opt.memory_limit == 0)
		w->opt.memory_limit = 512 * PQ_MiB;
	if (w->opt.data_page_version == 0)
		w->opt.data_page_version = 1;
	if (w->opt.data_page_version != 1 && w->opt.data_page_version != 2)
		return PQ_ERR_ARG;
	if (w->opt.created_by == NULL)
	{
		snprintf(created, sizeof(created), "securitylake version %s (build %s)", EXTVERSION, BUILD_ID);
		w->created_by = copy_string(w, created);
	}
	else
		w->created_by = copy_string(w, w->opt.created_by);
	if (w->created_by == NULL)
		return PQ_ERR_NOMEM;
	w->opt.created_by = NULL;
	if (w->opt.num_key_value_metadata)
	{
		w->kv = pq_alloc(&w->alloc, sizeof(pq_key_value) * w->opt.num_key_value_metadata);
		if (w->kv == NULL)
			return PQ_ERR_NOMEM;
		for (size_t i = 0; i < w->opt.num_key_value_metadata; i++)
		{
			const pq_key_value *kv = &w->opt.key_value_metadata[i];

			if (kv->key == NULL)
				return PQ_ERR_ARG;
			w->kv[i].key = copy_string(w, kv->key);
			w->kv[i].value = kv->value ? copy_string(w, kv->value) : NULL;
			w->nkv = i + 1;
			if (w->kv[i].key == NULL || (kv->value && w->kv[i].value == NULL))
				return PQ_ERR_NOMEM;
		}
	}
	w->opt.key_value_metadata = NULL;
	w->opt.num_key_value_metadata = 0;
	return PQ_OK;
}

/* Schema order (preorder) of all fields, the columns in it, REQUIRED children lists. */
static int
build_layout(pq_writer *w)
{
	size_t		n = w->nnodes,
				top = 0,
				k = 0;
	pq_field   *todo = pq_alloc(&w->alloc, sizeof(pq_field) * n);
	bool	   *must = pq_alloc(&w->alloc, n);
	int			rc = PQ_OK;

	if (todo == NULL || must == NULL)
		rc = PQ_ERR_NOMEM;
	else
		todo[top++] = PQ_ROOT;
	while (rc == PQ_OK && top > 0)
	{
		pq_field	f = todo[--top];
		const pq_node *nd = &w->nodes[f];

		w->preorder[k++] = f;
		if (nd->is_leaf)
		{
			w->col_of_field[f] = w->ncols;
			w->cols[w->ncols].field = f;
			w->cols[w->ncols].node = nd;
			w->cols[w->ncols].value_size = nd->physical == PQ_BYTE_ARRAY ? 0 :
				nd->physical == PQ_BOOLEAN ? 1 :
				(nd->physical == PQ_INT64 || nd->physical == PQ_DOUBLE) ? 8 : 4;
			pqb_init(&w->cols[w->ncols].plain, &w->alloc);
			pqb_init(&w->cols[w->ncols].dict, &w->alloc);
			pq_column_reset(w, &w->cols[w->ncols]);
			w->ncols++;
		}
		for (size_t i = nd->nchildren; i > 0; i--)
			todo[top++] = nd->children[i - 1];
	}
	/* a field must be given if REQUIRED and a leaf, or REQUIRED with such a child */
	for (size_t f = n; rc == PQ_OK && f-- > 1;)
	{
		const pq_node *nd = &w->nodes[f];

		must[f] = nd->repetition == PQ_REQUIRED && (nd->is_leaf || w->nrequired[f] > 0);
		if (must[f])
		{
			pq_field	p = nd->parent;

			if (w->required[p] == NULL)
				w->required[p] = pq_alloc(&w->alloc, sizeof(pq_field) * w->nodes[p].nchildren);
			if (w->required[p] == NULL)
				rc = PQ_ERR_NOMEM;
			else
				w->required[p][w->nrequired[p]++] = (pq_field) f;
		}
	}
	pq_free(&w->alloc, todo);
	pq_free(&w->alloc, must);
	return rc;
}

/* Zeroed memory, so that pq_writer_free can run on a half-built writer. */
static void *
zalloc(pq_writer *w, size_t size)
{
	void	   *p = pq_alloc(&w->alloc, size);

	if (p)
		memset(p, 0, size);
	return p;
}

static int
allocate_state(pq_writer *w)
{
	size_t		n = w->nnodes;

	if ((w->st = zalloc(w, sizeof(pq_node_state) * n)) == NULL ||
		(w->col_of_field = zalloc(w, sizeof(int32_t) * n)) == NULL ||
		(w->preorder = zalloc(w, sizeof(pq_field) * n)) == NULL ||
		(w->cols = zalloc(w, sizeof(pq_column) * (size_t) w->schema->nleaves)) == NULL ||
		(w->required = zalloc(w, sizeof(pq_field *) * n)) == NULL ||
		(w->nrequired = zalloc(w, sizeof(size_t) * n)) == NULL ||
		(w->undo = zalloc(w, sizeof(pq_undo) * n)) == NULL)
		return PQ_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		w->col_of_field[i] = -1;
	w->undo_cap = n;
	return PQ_OK;
}

int
pq_writer_open(pq_writer **out, const pq_schema *schema, const pq_options *options,
			   pq_sink sink, const pq_allocator *alloc, char *errbuf, size_t errlen)
{
	const pq_allocator *a = alloc ? alloc : &pq_libc_allocator;
	const char *problem;
	pq_writer  *w;
	int			rc;

	if (out == NULL)
		return open_fail(errbuf, errlen, PQ_ERR_ARG, "no place for the writer");
	*out = NULL;
	if (schema == NULL || sink.write == NULL)
		return open_fail(errbuf, errlen, PQ_ERR_ARG, "a schema and a sink are required");
	if ((problem = schema_problem(schema)) != NULL)
		return open_fail(errbuf, errlen, PQ_ERR_SCHEMA, problem);
	w = pq_alloc(a, sizeof(pq_writer));
	if (w == NULL)
		return open_fail(errbuf, errlen, PQ_ERR_NOMEM, "out of memory");
	memset(w, 0, sizeof(*w));
	w->alloc = *a;
	w->schema = schema;
	w->nodes = schema->nodes;
	w->nnodes = schema->nnodes;
	w->sink = sink;
	pqb_init(&w->page, &w->alloc);
	pqb_init(&w->comp, &w->alloc);
	pqb_init(&w->header, &w->alloc);
	rc = copy_options(w, options);
	if (rc == PQ_OK)
		rc = allocate_state(w);
	if (rc == PQ_OK)
		rc = build_layout(w);
	if (rc == PQ_OK && w->opt.compression == PQ_ZSTD && (w->zctx = ZSTD_createCCtx()) == NULL)
		rc = PQ_ERR_NOMEM;
	if (rc == PQ_OK)
		rc = pq_sink_write(w, "PAR1", 4);
	if (rc != PQ_OK)
	{
		open_fail(errbuf, errlen, rc, rc == PQ_ERR_IO ? "the output sink failed" :
				  rc == PQ_ERR_ARG ? "invalid writer options" : "out of memory opening the writer");
		pq_writer_free(w);
		return rc;
	}
	*out = w;
	return PQ_OK;
}

/* ---- row groups, close, free ---- */

int
pq_writer_flush_row_group(pq_writer *w)
{
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (w->broken || w->closed)
		return pq_fail(w, PQ_ERR_STATE, "the writer can no longer be used");
	if (w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "a row group cannot be closed inside a record");
	if (w->rg_rows == 0)
		return PQ_OK;
	if ((rc = pq_catch_up_all(w)) != PQ_OK)
		return rc;
	if ((rc = pq_encode_row_group(w)) != PQ_OK)
	{
		w->broken = true;
		return rc;
	}
	pq_reset_levels(w);
	for (int32_t i = 0; i < w->ncols; i++)
		pq_column_reset(w, &w->cols[i]);
	w->rg_rows = 0;
	w->buffered = 0;
	w->level_bytes = 0;
	return PQ_OK;
}

int
pq_writer_close(pq_writer *w)
{
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_writer_close inside a record");
	if ((rc = pq_writer_flush_row_group(w)) != PQ_OK)
		return rc;
	if ((rc = pq_write_footer(w)) != PQ_OK)
	{
		w->broken = true;
		return rc;
	}
	w->closed = true;
	return PQ_OK;
}

static void
free_column(pq_writer *w, pq_column *c)
{
	pqb_free(&c->plain);
	pqb_free(&c->dict);
	pq_free(&w->alloc, c->idx);
	pq_free(&w->alloc, c->dict_off);
	pq_free(&w->alloc, c->table);
}

void
pq_writer_free(pq_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; w->st && i < w->nnodes; i++)
		pq_free(&w->alloc, pq_own_runs(&w->st[i]));
	for (int32_t i = 0; i < w->ncols; i++)
		free_column(w, &w->cols[i]);
	for (size_t i = 0; w->required && i < w->nnodes; i++)
		pq_free(&w->alloc, w->required[i]);
	for (size_t i = 0; i < w->nrgs; i++)
	{
		for (int32_t j = 0; j < w->ncols; j++)
		{
			pq_free(&w->alloc, w->rgs[i].cols[j].min);
			pq_free(&w->alloc, w->rgs[i].cols[j].max);
		}
		pq_free(&w->alloc, w->rgs[i].cols);
	}
	for (size_t i = 0; i < w->nkv; i++)
	{
		pq_free(&w->alloc, (void *) w->kv[i].key);
		pq_free(&w->alloc, (void *) w->kv[i].value);
	}
	pq_free(&w->alloc, w->kv);
	pq_free(&w->alloc, w->created_by);
	pq_free(&w->alloc, w->rgs);
	pq_free(&w->alloc, w->st);
	pq_free(&w->alloc, w->col_of_field);
	pq_free(&w->alloc, w->preorder);
	pq_free(&w->alloc, w->cols);
	pq_free(&w->alloc, w->required);
	pq_free(&w->alloc, w->nrequired);
	pq_free(&w->alloc, w->undo);
	pq_free(&w->alloc, w->stack);
	pq_free(&w->alloc, w->used);
	pqb_free(&w->page);
	pqb_free(&w->comp);
	pqb_free(&w->header);
	ZSTD_freeCCtx(w->zctx);
	pq_free(&w->alloc, w);
}

int64_t
pq_writer_num_rows(const pq_writer *w)
{
	return w ? w->total_rows : 0;
}

int32_t
pq_writer_num_row_groups(const pq_writer *w)
{
	return w ? (int32_t) w->nrgs : 0;
}

uint64_t
pq_writer_bytes_written(const pq_writer *w)
{
	return w ? w->offset : 0;
}

size_t
pq_writer_buffered_bytes(const pq_writer *w)
{
	return w ? w->buffered : 0;
}

size_t
pq_writer_memory_bytes(const pq_writer *w)
{
	return w ? w->buffered + w->level_bytes : 0;
}

bool
pq_writer_in_record(const pq_writer *w)
{
	return w != NULL && w->in_record;
}
