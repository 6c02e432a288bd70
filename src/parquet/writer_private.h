/*
 * writer_private.h — the writer's state. Private to writer.c, record.c, encode.c.
 *
 * Levels are kept lazily (see record.c): every node (group or leaf) has a "slot log",
 * a list of runs (rep, def, count). A leaf's slot log is its column's level stream; a
 * group's is what its children copy, run by run, for the stretches in which they were
 * not given. A child remembers how far it has consumed its parent's log.
 */
#ifndef SECURITYLAKE_PQ_WRITER_PRIVATE_H
#define SECURITYLAKE_PQ_WRITER_PRIVATE_H

#include "parquet/schema_private.h"

#include <zstd.h>

typedef struct pq_level_run
{
	uint8_t		rep;
	uint8_t		def;
	uint32_t	count;
} pq_level_run;

typedef struct pq_node_state
{
	pq_level_run *runs;
	size_t		nruns;
	size_t		cap;
	uint64_t	nslots;			/* sum of counts */
	uint64_t	consumed;		/* slots of the parent's log accounted for */
	size_t		cur_run;		/* position in the parent's log */
	uint32_t	cur_off;
	uint32_t	epoch;			/* record in which the undo entry was saved */
	/*
	 * At a row group's close, a node never given in it shares its parent's
	 * log (runs points there) instead of copying it; its own buffer waits
	 * here until the next row group.
	 */
	bool		borrowed;
	pq_level_run *own_runs;
	size_t		own_cap;
} pq_node_state;

typedef struct pq_undo
{
	pq_field	field;
	size_t		nruns;
	uint32_t	last_count;
	uint64_t	nslots;
	uint64_t	consumed;
	size_t		cur_run;
	uint32_t	cur_off;
	size_t		nvalues;
	size_t		plain_len;
	size_t		nidx;
} pq_undo;

typedef struct pq_column
{
	pq_field	field;
	const pq_node *node;
	int			value_size;		/* PLAIN bytes of a fixed-size value; 0 for BYTE_ARRAY */
	size_t		nvalues;		/* non-null values in the row group */
	pq_bytes	plain;			/* PLAIN values (BOOLEAN: one byte per value) */
	bool		dict_on;
	bool		dict_probed;	/* the near-unique check has run this row group */
	uint32_t   *idx;			/* dictionary indices, when dict_on */
	size_t		nidx;
	size_t		idx_cap;
	pq_bytes	dict;			/* PLAIN-encoded dictionary entries */
	uint32_t   *dict_off;		/* entry start in dict (BYTE_ARRAY: at its length) */
	size_t		ndict;
	size_t		dict_cap;
	uint64_t   *table;			/* open addressing: hash << 32 | (entry + 1); 0 = empty */
	size_t		table_size;
} pq_column;

typedef struct pq_chunk_meta
{
	int64_t		num_values;
	int64_t		uncompressed;
	int64_t		compressed;
	int64_t		data_page_offset;
	int64_t		dictionary_page_offset; /* -1: none */
	int64_t		null_count;
	bool		has_minmax;
	uint8_t    *min;
	uint8_t    *max;
	size_t		min_len;
	size_t		max_len;
} pq_chunk_meta;

typedef struct pq_row_group_meta
{
	pq_chunk_meta *cols;
	int64_t		num_rows;
	int64_t		file_offset;
	int64_t		uncompressed;
	int64_t		compressed;
} pq_row_group_meta;

typedef enum pq_frame_kind
{
	PQ_FRAME_ROOT,
	PQ_FRAME_GROUP,
	PQ_FRAME_LIST,
	PQ_FRAME_ELEMENT
} pq_frame_kind;

typedef struct pq_frame
{
	pq_field	group;
	pq_frame_kind kind;
} pq_frame;

struct pq_writer
{
	pq_allocator alloc;
	const pq_schema *schema;
	const pq_node *nodes;
	size_t		nnodes;
	pq_options	opt;
	char	   *created_by;
	pq_key_value *kv;
	size_t		nkv;
	pq_sink		sink;
	uint64_t	offset;			/* bytes written to the sink */

	pq_node_state *st;			/* per field */
	int32_t    *col_of_field;	/* per field: column index or -1 */
	pq_field   *preorder;		/* all fields, schema order (root first) */
	pq_column  *cols;			/* in schema (preorder) order */
	int32_t		ncols;
	pq_field  **required;		/* per group: children that must be given */
	size_t	   *nrequired;

	pq_frame   *stack;
	size_t		depth;
	size_t		stack_cap;
	bool		in_record;
	bool		record_failed;
	bool		broken;			/* sink / memory / zstd failure: no way on */
	bool		closed;
	uint32_t	epoch;
	pq_undo    *undo;
	size_t		nundo;
	size_t		undo_cap;

	size_t		buffered;		/* encoded-size estimate of the open row group */
	size_t		buffered_at_begin;
	size_t		level_bytes;	/* memory held by level runs */
	size_t		level_bytes_at_begin;
	int64_t		rg_rows;
	int64_t		total_rows;
	pq_row_group_meta *rgs;
	size_t		nrgs;
	size_t		rgs_cap;

	ZSTD_CCtx  *zctx;
	pq_bytes	page;			/* scratch: one uncompressed page */
	pq_bytes	comp;			/* scratch: compressed page */
	pq_bytes	header;			/* scratch: page header */
	uint8_t    *used;			/* scratch: dictionary entries referenced */
	size_t		used_cap;
	char		error[512];
};

int			pq_fail(pq_writer *w, int status, const char *fmt,...);
int			pq_sink_write(pq_writer *w, const void *data, size_t len);

/* record.c */
int			pq_catch_up_all(pq_writer *w);
void		pq_reset_levels(pq_writer *w);
pq_level_run *pq_own_runs(pq_node_state *s);
/* encode.c */
int			pq_encode_row_group(pq_writer *w);
void		pq_column_reset(pq_writer *w, pq_column *c);
int			pq_column_fallback_to_plain(pq_writer *w, pq_column *c);
int			pq_write_footer(pq_writer *w);

#endif
