/*
 * record.c — the record/event API and lazy Dremel levels.
 *
 * Each node keeps a slot log (runs of (rep, def)). When a node is given in the
 * current occurrence of its parent, it first copies the parent's slots it has not
 * accounted for yet (the stretches where it was absent: same rep, def no deeper than
 * the parent's), skips the parent's current slot, and appends its own slot. Nodes that
 * are never given cost nothing until the row group closes, when each copies what is
 * left of its parent's log — a handful of runs, not one entry per record.
 */
#include "parquet/writer_private.h"

#include <string.h>

#define PQ_DICT_PROBE 32768

static int
append_run(pq_writer *w, pq_node_state *s, int rep, int def, uint64_t count)
{
	while (count > 0)
	{
		uint32_t	n = count > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t) count;
		pq_level_run *last = s->nruns ? &s->runs[s->nruns - 1] : NULL;

		if (last && last->rep == rep && last->def == def && last->count <= UINT32_MAX / 2)
			last->count += n;
		else
		{
			int			rc = pq_grow(&w->alloc, (void **) &s->runs, &s->cap, s->nruns + 1, sizeof(pq_level_run));

			if (rc != PQ_OK)
				return pq_fail(w, rc, "out of memory for definition levels");
			s->runs[s->nruns].rep = (uint8_t) rep;
			s->runs[s->nruns].def = (uint8_t) def;
			s->runs[s->nruns].count = n;
			s->nruns++;
			/* runs are row-group memory too (many for a column present every other record) */
			w->level_bytes += sizeof(pq_level_run);
		}
		s->nslots += n;
		count -= n;
	}
	return PQ_OK;
}

/* Account for COUNT more slots of F's parent; copy them into F's log when EMIT. */
static int
consume_parent(pq_writer *w, pq_field f, uint64_t count, bool emit)
{
	pq_node_state *s = &w->st[f];
	const pq_node_state *ps = &w->st[w->nodes[f].parent];

	while (count > 0)
	{
		const pq_level_run *r = &ps->runs[s->cur_run];
		uint64_t	take;

		if (s->cur_off == r->count)
		{
			s->cur_run++;
			s->cur_off = 0;
			continue;
		}
		take = r->count - s->cur_off;
		if (take > count)
			take = count;
		if (emit)
		{
			int			rc = append_run(w, s, r->rep, r->def, take);

			if (rc != PQ_OK)
				return rc;
		}
		s->cur_off += (uint32_t) take;
		s->consumed += take;
		count -= take;
	}
	return PQ_OK;
}

/*
 * A node never given in this row group: its log is exactly its parent's
 * (absent under every parent slot), so it shares it. With wide schemas most
 * columns are absent most of the time; copying the parent's runs into each
 * of them cost more time and memory at the close than the values did.
 */
static void
borrow_parent_log(pq_writer *w, pq_field f)
{
	pq_node_state *s = &w->st[f];
	const pq_node_state *ps = &w->st[w->nodes[f].parent];

	s->own_runs = s->runs;
	s->own_cap = s->cap;
	s->runs = ps->runs;
	s->nruns = ps->nruns;
	s->cap = 0;
	s->nslots = ps->nslots;
	s->consumed = ps->nslots;
	s->cur_run = ps->nruns;
	s->cur_off = 0;
	s->borrowed = true;
}

int
pq_catch_up_all(pq_writer *w)
{
	/* parents always have smaller ids than their children */
	for (size_t f = 1; f < w->nnodes; f++)
	{
		pq_node_state *s = &w->st[f];
		uint64_t	target = w->st[w->nodes[f].parent].nslots;
		int			rc;

		if (s->nruns == 0 && s->consumed == 0 && target > 0)
		{
			borrow_parent_log(w, (pq_field) f);
			continue;
		}
		rc = consume_parent(w, (pq_field) f, target - s->consumed, true);
		if (rc != PQ_OK)
			return rc;
	}
	return PQ_OK;
}

/* A node's own run buffer (the one to grow or free), whether or not it borrowed. */
pq_level_run *
pq_own_runs(pq_node_state *s)
{
	return s->borrowed ? s->own_runs : s->runs;
}

void
pq_reset_levels(pq_writer *w)
{
	for (size_t f = 0; f < w->nnodes; f++)
	{
		pq_node_state *s = &w->st[f];

		if (s->borrowed)
		{
			s->runs = s->own_runs;
			s->cap = s->own_cap;
			s->own_runs = NULL;
			s->own_cap = 0;
			s->borrowed = false;
		}

		s->nruns = 0;
		s->nslots = 0;
		s->consumed = 0;
		s->cur_run = 0;
		s->cur_off = 0;
	}
}

static void
save_undo(pq_writer *w, pq_field f)
{
	pq_node_state *s = &w->st[f];
	pq_undo    *u;
	int32_t		ci;

	if (s->epoch == w->epoch)
		return;
	/* capacity is reserved at begin_record: one entry per field at most */
	s->epoch = w->epoch;
	u = &w->undo[w->nundo++];
	u->field = f;
	u->nruns = s->nruns;
	u->last_count = s->nruns ? s->runs[s->nruns - 1].count : 0;
	u->nslots = s->nslots;
	u->consumed = s->consumed;
	u->cur_run = s->cur_run;
	u->cur_off = s->cur_off;
	ci = w->col_of_field[f];
	if (ci >= 0)
	{
		u->nvalues = w->cols[ci].nvalues;
		u->plain_len = w->cols[ci].plain.len;
		u->nidx = w->cols[ci].nidx;
	}
}

static void
rollback(pq_writer *w)
{
	while (w->nundo > 0)
	{
		const pq_undo *u = &w->undo[--w->nundo];
		pq_node_state *s = &w->st[u->field];
		int32_t		ci = w->col_of_field[u->field];

		s->nruns = u->nruns;
		if (s->nruns)
			s->runs[s->nruns - 1].count = u->last_count;
		s->nslots = u->nslots;
		s->consumed = u->consumed;
		s->cur_run = u->cur_run;
		s->cur_off = u->cur_off;
		if (ci >= 0)
		{
			w->cols[ci].nvalues = u->nvalues;
			w->cols[ci].plain.len = u->plain_len;
			w->cols[ci].nidx = u->nidx;
		}
	}
	w->buffered = w->buffered_at_begin;
	w->level_bytes = w->level_bytes_at_begin;
}

static int
record_fail(pq_writer *w, int status, const char *fmt, const char *name)
{
	if (w->in_record)
		w->record_failed = true;
	return pq_fail(w, status, fmt, name);
}

/* Give field F in the current occurrence of its parent, with definition level DEF. */
static int
touch(pq_writer *w, pq_field f, int def)
{
	const pq_node *n = &w->nodes[f];
	pq_node_state *s = &w->st[f];
	const pq_node_state *ps = &w->st[n->parent];
	int			rep,
				rc;

	save_undo(w, f);
	if (s->consumed == ps->nslots)
	{
		if (n->repetition != PQ_REPEATED)
			return record_fail(w, PQ_ERR_SCHEMA, "field \"%s\" is given twice", n->name);
		rep = n->max_rep;
	}
	else
	{
		if ((rc = consume_parent(w, f, ps->nslots - 1 - s->consumed, true)) != PQ_OK)
			return rc;
		rep = ps->runs[ps->nruns - 1].rep;
		if ((rc = consume_parent(w, f, 1, false)) != PQ_OK)
			return rc;
	}
	return append_run(w, s, rep, def, 1);
}

/* The event may name F: inside a record, F a child of the current group. */
static int
check_event(pq_writer *w, pq_field f)
{
	const pq_frame *top;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (w->broken)
		return PQ_ERR_STATE;
	if (!w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "a value was given outside a record");
	if (f <= PQ_ROOT || (size_t) f >= w->nnodes)
		return record_fail(w, PQ_ERR_ARG, "unknown field%s", "");
	top = &w->stack[w->depth - 1];
	if (top->kind == PQ_FRAME_LIST)
		return record_fail(w, PQ_ERR_STATE, "field \"%s\" was given in a list without pq_list_element", w->nodes[f].name);
	if (w->nodes[f].parent != top->group)
		return record_fail(w, PQ_ERR_ARG, "field \"%s\" is not a child of the current group", w->nodes[f].name);
	return PQ_OK;
}

static int
push_frame(pq_writer *w, pq_field group, pq_frame_kind kind)
{
	int			rc = pq_grow(&w->alloc, (void **) &w->stack, &w->stack_cap, w->depth + 1, sizeof(pq_frame));

	if (rc != PQ_OK)
		return pq_fail(w, rc, "out of memory");
	w->stack[w->depth].group = group;
	w->stack[w->depth].kind = kind;
	w->depth++;
	return PQ_OK;
}

/* REQUIRED children of GROUP must have been given in its current occurrence. */
static int
check_required(pq_writer *w, pq_field group)
{
	uint64_t	current = w->st[group].nslots;

	for (size_t i = 0; i < w->nrequired[group]; i++)
	{
		pq_field	c = w->required[group][i];

		if (w->st[c].consumed != current)
			return record_fail(w, PQ_ERR_SCHEMA, "required field \"%s\" is missing", w->nodes[c].name);
	}
	return PQ_OK;
}

int
pq_begin_record(pq_writer *w)
{
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (w->broken || w->closed)
		return pq_fail(w, PQ_ERR_STATE, "the writer can no longer be used");
	if (w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_begin_record inside a record");
	if (++w->epoch == 0)
	{
		for (size_t f = 0; f < w->nnodes; f++)
			w->st[f].epoch = 0;
		w->epoch = 1;
	}
	w->nundo = 0;
	w->depth = 0;
	w->buffered_at_begin = w->buffered;
	w->level_bytes_at_begin = w->level_bytes;
	if ((rc = push_frame(w, PQ_ROOT, PQ_FRAME_ROOT)) != PQ_OK)
		return rc;
	save_undo(w, PQ_ROOT);
	if ((rc = append_run(w, &w->st[PQ_ROOT], 0, 0, 1)) != PQ_OK)
		return rc;
	w->in_record = true;
	w->record_failed = false;
	return PQ_OK;
}

/*
 * Past its size limit a dictionary goes; so does one that, after its first 32768
 * values, holds nearly as many entries as values (times, uids): hashing every value of
 * a column that will not compress by dictionary only costs cache misses.
 */
static bool
dictionary_not_worth_it(const pq_writer *w, pq_column *c)
{
	if (c->dict.len > w->opt.dictionary_limit)
		return true;
	if (c->dict_probed || c->nvalues < PQ_DICT_PROBE)
		return false;
	c->dict_probed = true;
	return c->ndict * 8 > c->nvalues * 7;
}

/* After a committed record: columns whose dictionary is not worth keeping go PLAIN. */
static int
check_dictionaries(pq_writer *w)
{
	for (size_t i = 0; i < w->nundo; i++)
	{
		int32_t		ci = w->col_of_field[w->undo[i].field];

		if (ci >= 0 && w->cols[ci].dict_on && dictionary_not_worth_it(w, &w->cols[ci]))
		{
			int			rc = pq_column_fallback_to_plain(w, &w->cols[ci]);

			if (rc != PQ_OK)
				return rc;
		}
	}
	return PQ_OK;
}

int
pq_end_record(pq_writer *w)
{
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (!w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_end_record outside a record");
	if (w->record_failed)
		return pq_fail(w, PQ_ERR_STATE, "the record had an error: abandon it with pq_abandon_record");
	if (w->depth != 1)
		return record_fail(w, PQ_ERR_STATE, "pq_end_record with %s still open",
						   w->stack[w->depth - 1].kind == PQ_FRAME_GROUP ? "a group" : "a list");
	if ((rc = check_required(w, PQ_ROOT)) != PQ_OK)
		return rc;
	w->in_record = false;
	w->depth = 0;
	w->rg_rows++;
	w->total_rows++;
	if ((rc = check_dictionaries(w)) != PQ_OK)
		return rc;
	if (w->buffered >= w->opt.row_group_size ||
		w->buffered + w->level_bytes >= w->opt.memory_limit ||
		(w->opt.row_group_max_rows > 0 && w->rg_rows >= w->opt.row_group_max_rows))
		return pq_writer_flush_row_group(w);
	return PQ_OK;
}

int
pq_check_record(pq_writer *w)
{
	int			rc = PQ_OK;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (!w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_check_record outside a record");
	if (w->record_failed)
		rc = pq_fail(w, PQ_ERR_STATE, "the record had an error");
	else if (w->depth != 1)
		rc = record_fail(w, PQ_ERR_STATE, "pq_check_record with %s still open",
						 w->stack[w->depth - 1].kind == PQ_FRAME_GROUP ? "a group" : "a list");
	else
		rc = check_required(w, PQ_ROOT);
	rollback(w);
	w->in_record = false;
	w->record_failed = false;
	w->depth = 0;
	return rc;
}

int
pq_abandon_record(pq_writer *w)
{
	if (w == NULL)
		return PQ_ERR_ARG;
	if (!w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_abandon_record outside a record");
	rollback(w);
	w->in_record = false;
	w->record_failed = false;
	w->depth = 0;
	return PQ_OK;
}

int
pq_begin_group(pq_writer *w, pq_field f)
{
	int			rc = check_event(w, f);

	if (rc != PQ_OK)
		return rc;
	if (w->nodes[f].is_leaf || w->nodes[f].kind == PQ_KIND_LIST || w->nodes[f].kind == PQ_KIND_MAP)
		return record_fail(w, PQ_ERR_ARG, "field \"%s\" is not a plain group (use pq_begin_list for lists and maps)", w->nodes[f].name);
	if ((rc = touch(w, f, w->nodes[f].max_def)) != PQ_OK)
		return rc;
	return push_frame(w, f, PQ_FRAME_GROUP);
}

int
pq_end_group(pq_writer *w)
{
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (!w->in_record || w->stack[w->depth - 1].kind != PQ_FRAME_GROUP)
		return record_fail(w, PQ_ERR_STATE, "pq_end_group without a matching pq_begin_group%s", "");
	if ((rc = check_required(w, w->stack[w->depth - 1].group)) != PQ_OK)
		return rc;
	w->depth--;
	return PQ_OK;
}

int
pq_begin_list(pq_writer *w, pq_field f)
{
	int			rc = check_event(w, f);

	if (rc != PQ_OK)
		return rc;
	if (w->nodes[f].kind != PQ_KIND_LIST && w->nodes[f].kind != PQ_KIND_MAP)
		return record_fail(w, PQ_ERR_ARG, "field \"%s\" is not a LIST or MAP group", w->nodes[f].name);
	if ((rc = touch(w, f, w->nodes[f].max_def)) != PQ_OK)
		return rc;
	return push_frame(w, f, PQ_FRAME_LIST);
}

static int
end_element(pq_writer *w)
{
	int			rc;

	if (w->stack[w->depth - 1].kind != PQ_FRAME_ELEMENT)
		return PQ_OK;
	if ((rc = check_required(w, w->stack[w->depth - 1].group)) != PQ_OK)
		return rc;
	w->depth--;
	return PQ_OK;
}

int
pq_list_element(pq_writer *w)
{
	pq_field	list,
				repeated;
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (!w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_list_element outside a record");
	if ((rc = end_element(w)) != PQ_OK)
		return rc;
	if (w->stack[w->depth - 1].kind != PQ_FRAME_LIST)
		return record_fail(w, PQ_ERR_STATE, "pq_list_element outside a list%s", "");
	list = w->stack[w->depth - 1].group;
	repeated = w->nodes[list].children[0];
	if ((rc = touch(w, repeated, w->nodes[repeated].max_def)) != PQ_OK)
		return rc;
	return push_frame(w, repeated, PQ_FRAME_ELEMENT);
}

int
pq_end_list(pq_writer *w)
{
	int			rc;

	if (w == NULL)
		return PQ_ERR_ARG;
	if (!w->in_record)
		return pq_fail(w, PQ_ERR_STATE, "pq_end_list outside a record");
	if ((rc = end_element(w)) != PQ_OK)
		return rc;
	if (w->stack[w->depth - 1].kind != PQ_FRAME_LIST)
		return record_fail(w, PQ_ERR_STATE, "pq_end_list without a matching pq_begin_list%s", "");
	w->depth--;
	return PQ_OK;
}

int
pq_null(pq_writer *w, pq_field f)
{
	int			rc = check_event(w, f);

	if (rc != PQ_OK)
		return rc;
	switch (w->nodes[f].repetition)
	{
		case PQ_REQUIRED:
			return record_fail(w, PQ_ERR_SCHEMA, "required field \"%s\" is null", w->nodes[f].name);
		case PQ_REPEATED:
			return PQ_OK;		/* no occurrence */
		case PQ_OPTIONAL:
			break;
	}
	return touch(w, f, w->nodes[f].max_def - 1);
}

/* ---- values ---- */

static uint32_t
hash_bytes(const uint8_t *p, size_t len)
{
	uint64_t	h = 0x9e3779b97f4a7c15ull ^ len;

	while (len >= 8)
	{
		uint64_t	k;

		memcpy(&k, p, 8);
		h = (h ^ k) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		p += 8;
		len -= 8;
	}
	if (len)
	{
		uint64_t	k = 0;

		memcpy(&k, p, len);
		h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 32;
	return (uint32_t) h;
}

static const uint8_t *
dict_entry(const pq_column *c, size_t i, size_t *len)
{
	const uint8_t *p = c->dict.data + c->dict_off[i];

	if (c->value_size)
	{
		*len = (size_t) c->value_size;
		return p;
	}
	*len = (size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16 | (size_t) p[3] << 24;
	return p + 4;
}

/* The slot holds the hash too: one cache line visited per probe, not three. */
static int
dict_table_grow(pq_writer *w, pq_column *c)
{
	size_t		nsize = c->table_size ? c->table_size * 2 : 64;
	uint64_t   *nt = pq_alloc(&w->alloc, nsize * sizeof(uint64_t));

	if (nt == NULL)
		return PQ_ERR_NOMEM;
	memset(nt, 0, nsize * sizeof(uint64_t));
	for (size_t i = 0; i < c->table_size; i++)
	{
		uint64_t	e = c->table[i];
		size_t		j;

		if (e == 0)
			continue;
		for (j = (e >> 32) & (nsize - 1); nt[j]; j = (j + 1) & (nsize - 1))
			;
		nt[j] = e;
	}
	pq_free(&w->alloc, c->table);
	c->table = nt;
	c->table_size = nsize;
	return PQ_OK;
}

/* Index of the value in the column's dictionary, adding it if new. */
static int
dict_index(pq_writer *w, pq_column *c, const uint8_t *v, size_t len, uint32_t *out)
{
	uint32_t	h = hash_bytes(v, len);
	size_t		j;
	int			rc;

	if ((c->ndict + 1) * 2 > c->table_size && (rc = dict_table_grow(w, c)) != PQ_OK)
		return rc;
	for (j = h & (c->table_size - 1); c->table[j]; j = (j + 1) & (c->table_size - 1))
	{
		uint64_t	e = c->table[j];
		size_t		i,
					elen;
		const uint8_t *p;

		if ((uint32_t) (e >> 32) != h)
			continue;
		i = (size_t) (uint32_t) e - 1;
		p = dict_entry(c, i, &elen);
		if (elen == len && memcmp(p, v, len) == 0)
		{
			*out = (uint32_t) i;
			return PQ_OK;
		}
	}
	if ((rc = pq_grow(&w->alloc, (void **) &c->dict_off, &c->dict_cap, c->ndict + 1, sizeof(uint32_t))) != PQ_OK)
		return rc;
	c->dict_off[c->ndict] = (uint32_t) c->dict.len;
	if (c->value_size == 0 && (rc = pqb_u32le(&c->dict, (uint32_t) len)) != PQ_OK)
		return rc;
	if ((rc = pqb_append(&c->dict, v, len)) != PQ_OK)
		return rc;
	c->table[j] = (uint64_t) h << 32 | (uint64_t) (c->ndict + 1);
	*out = (uint32_t) c->ndict++;
	return PQ_OK;
}

static int
add_value(pq_writer *w, pq_field f, const void *v, size_t len)
{
	pq_column  *c = &w->cols[w->col_of_field[f]];
	int			rc;

	if (c->dict_on)
	{
		uint32_t	idx;
		size_t		dict_before = c->dict.len;

		if ((rc = pq_grow(&w->alloc, (void **) &c->idx, &c->idx_cap, c->nidx + 1, sizeof(uint32_t))) != PQ_OK ||
			(rc = dict_index(w, c, v, len, &idx)) != PQ_OK)
			return pq_fail(w, rc, "out of memory for the dictionary of \"%s\"", c->node->name);
		c->idx[c->nidx++] = idx;
		/* the row group will hold the index and, for a new value, its dictionary entry */
		w->buffered += 4 + (c->dict.len - dict_before);
	}
	else
	{
		if ((c->value_size == 0 && (rc = pqb_u32le(&c->plain, (uint32_t) len)) != PQ_OK) ||
			(rc = pqb_append(&c->plain, v, len)) != PQ_OK)
			return pq_fail(w, rc, "out of memory for the values of \"%s\"", c->node->name);
		w->buffered += len + (c->value_size == 0 ? 4 : 0);
	}
	c->nvalues++;
	w->buffered += 1;
	return PQ_OK;
}

static int
value_event(pq_writer *w, pq_field f, pq_physical expected, const void *v, size_t len)
{
	int			rc = check_event(w, f);

	if (rc != PQ_OK)
		return rc;
	if (!w->nodes[f].is_leaf || w->nodes[f].physical != expected)
		return record_fail(w, PQ_ERR_ARG, "field \"%s\" does not take a value of this type", w->nodes[f].name);
	if ((rc = touch(w, f, w->nodes[f].max_def)) != PQ_OK)
		return rc;
	return add_value(w, f, v, len);
}

/* PLAIN is little-endian; so is every machine we build for (x86-64, arm64). */
int
pq_value_bool(pq_writer *w, pq_field f, bool v)
{
	uint8_t		b = v ? 1 : 0;

	return value_event(w, f, PQ_BOOLEAN, &b, 1);
}

int
pq_value_int32(pq_writer *w, pq_field f, int32_t v)
{
	return value_event(w, f, PQ_INT32, &v, 4);
}

int
pq_value_int64(pq_writer *w, pq_field f, int64_t v)
{
	return value_event(w, f, PQ_INT64, &v, 8);
}

int
pq_value_float(pq_writer *w, pq_field f, float v)
{
	return value_event(w, f, PQ_FLOAT, &v, 4);
}

int
pq_value_double(pq_writer *w, pq_field f, double v)
{
	return value_event(w, f, PQ_DOUBLE, &v, 8);
}

int
pq_value_bytes(pq_writer *w, pq_field f, const void *data, size_t len)
{
	int			rc = check_event(w, f);

	if (rc != PQ_OK)
		return rc;
	if (len > INT32_MAX)
		return record_fail(w, PQ_ERR_LIMIT, "a value of field \"%s\" is larger than 2 GiB", w->nodes[f].name);
	if (data == NULL && len > 0)
		return record_fail(w, PQ_ERR_ARG, "NULL data for field%s", "");
	return value_event(w, f, PQ_BYTE_ARRAY, data ? data : "", len);
}
