/*-------------------------------------------------------------------------
 *
 * validate.c
 *		securitylake.validate(event jsonb, source text) → NULL, or exactly the
 *		dead-letter reason the worker would give that event in that source.
 *
 * The same rules in the same order as the worker: the claim's size rule
 * (sl_event_size_reason, on the stored size, before decompressing), its
 * event rules (sl_classify_event), then the encoder's walk of the event
 * (sl_encoder_add) on a check-only encoder of the source's columns: the same
 * code, limits and reasons, the record dropped instead of kept.
 *
 * Encoders are kept between calls, one per source (a class schema has
 * hundreds of columns to build), and rebuilt when the source's columns or
 * options change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "event_rules.h"
#include "shred.h"
#include "sources.h"

#define VALIDATE_CACHE_SIZE 32

typedef struct CachedEncoder
{
	MemoryContext cxt;			/* the source copy and the encoder */
	SlSource   *source;
	SlEncoder  *enc;
	uint64		last_used;
} CachedEncoder;

static CachedEncoder cache[VALIDATE_CACHE_SIZE];
static uint64 cache_clock;

/*
 * The source row read for the current command: a statement that validates a
 * million events reads it once. Within one command the snapshot is the same,
 * so the row is too (the look-up is read-only, on the statement's snapshot).
 */
static MemoryContext row_cxt;
static SlSource *row_source;
static LocalTransactionId row_lxid = InvalidLocalTransactionId;
static CommandId row_cid;

static SlSource *
source_row(const char *name)
{
	int			rc;

	if (row_source != NULL && row_lxid == MyProc->lxid && row_cid == GetCurrentCommandId(false) &&
		strcmp(row_source->name, name) == 0)
		return row_source;
	if (row_cxt == NULL)
		row_cxt = AllocSetContextCreate(TopMemoryContext, "securitylake validate source", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(row_cxt);
	row_source = NULL;
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "securitylake: SPI_connect failed: %s", SPI_result_code_string(rc));
	row_source = sl_source_lookup(name, row_cxt);
	SPI_finish();
	row_lxid = MyProc->lxid;
	row_cid = GetCurrentCommandId(false);
	return row_source;
}

static bool
same_jsonb(Jsonb *a, Jsonb *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE(a) == VARSIZE(b) && memcmp(a, b, VARSIZE(a)) == 0;
}

static bool
same_columns(SlSource *a, SlSource *b)
{
	return strcmp(a->name, b->name) == 0 &&
		a->class_uid == b->class_uid &&
		strcmp(a->ocsf_version, b->ocsf_version) == 0 &&
		same_jsonb(a->schema, b->schema) &&
		same_jsonb(a->options, b->options) &&
		strcmp(a->region, b->region) == 0 &&
		strcmp(a->account_id, b->account_id) == 0;
}

static SlSource *
copy_source(SlSource *s)
{
	SlSource   *c = palloc(sizeof(SlSource));

	*c = *s;
#define DUP(f) c->f = s->f ? pstrdup(s->f) : NULL
	DUP(name);
	DUP(location);
	DUP(bucket);
	DUP(prefix);
	DUP(role_arn);
	DUP(external_id);
	DUP(region);
	DUP(account_id);
	DUP(ocsf_version);
#undef DUP
	c->schema = s->schema ? palloc(VARSIZE(s->schema)) : NULL;
	if (s->schema)
		memcpy(c->schema, s->schema, VARSIZE(s->schema));
	c->options = s->options ? palloc(VARSIZE(s->options)) : NULL;
	if (s->options)
		memcpy(c->options, s->options, VARSIZE(s->options));
	return c;
}

/* The check-only encoder of this source, built or taken from the cache. */
static CachedEncoder *
encoder_for(SlSource *source)
{
	CachedEncoder *slot = NULL;
	MemoryContext old;
	int			i;

	for (i = 0; i < VALIDATE_CACHE_SIZE; i++)
	{
		if (cache[i].cxt != NULL && strcmp(cache[i].source->name, source->name) == 0)
		{
			if (same_columns(cache[i].source, source))
			{
				cache[i].last_used = ++cache_clock;
				return &cache[i];
			}
			slot = &cache[i];
			break;
		}
	}
	if (slot == NULL)
	{
		for (i = 0; i < VALIDATE_CACHE_SIZE && slot == NULL; i++)
			if (cache[i].cxt == NULL)
				slot = &cache[i];
		if (slot == NULL)
		{
			/* all taken: the least recently used goes */
			slot = &cache[0];
			for (i = 1; i < VALIDATE_CACHE_SIZE; i++)
				if (cache[i].last_used < slot->last_used)
					slot = &cache[i];
		}
	}
	if (slot->cxt != NULL)
	{
		MemoryContextDelete(slot->cxt);
		slot->cxt = NULL;
	}
	slot->cxt = AllocSetContextCreate(TopMemoryContext, "securitylake validate encoder",
									  ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		old = MemoryContextSwitchTo(slot->cxt);
		slot->source = copy_source(source);
		slot->enc = sl_encoder_begin_check(slot->source);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		MemoryContextDelete(slot->cxt);
		slot->cxt = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	slot->last_used = ++cache_clock;
	return slot;
}

/*
 * The reason the worker would dead-letter EVENT (stored size RAW) with in
 * SOURCE, or NULL. The queue row gives no region or account of its own.
 */
char *
sl_validate_event(SlSource *source, Jsonb *event, Size raw_size)
{
	char	   *reason = sl_event_size_reason(source, raw_size);
	SlPartition part;
	CachedEncoder *slot;

	if (reason != NULL)
		return reason;
	if (!sl_classify_event(source, event, NULL, NULL, &part, &reason))
		return reason;
	slot = encoder_for(source);
	if (!sl_encoder_add(slot->enc, event, &reason))
		return reason;
	return NULL;
}

PG_FUNCTION_INFO_V1(securitylake_validate);
Datum
securitylake_validate(PG_FUNCTION_ARGS)
{
	Size		raw_size;
	Jsonb	   *event;
	char	   *name;
	SlSource   *source;
	char	   *reason;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("securitylake.validate() needs an event and a source name"),
				 errhint("Call it as securitylake.validate(event, 'source_name').")));
	/* the stored size, before the event is decompressed (as the claim sees it) */
	raw_size = sl_event_datum_size(PG_GETARG_DATUM(0));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	source = source_row(name);
	if (source == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", name),
				 errhint("See securitylake.source for the configured sources.")));
	reason = sl_event_size_reason(source, raw_size);
	if (reason != NULL)
		PG_RETURN_TEXT_P(cstring_to_text(reason));	/* never decompressed */
	event = PG_GETARG_JSONB_P(0);
	reason = sl_validate_event(source, event, raw_size);
	if (reason == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}
