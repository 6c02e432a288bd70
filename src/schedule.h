/*-------------------------------------------------------------------------
 *
 * schedule.h
 *		When a source is due, and where its next claim starts. What the worker
 *		remembers of each source between cycles: rows and raw bytes that
 *		arrived since its last drain (counted incrementally per routing key),
 *		the last drain's time, how large its objects come out per raw byte,
 *		and per routing key the position claims continue from.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SCHEDULE_H
#define SECURITYLAKE_SCHEDULE_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "source.h"

/* Default object target: AWS asks for files of about 256 MB or for fewer deliveries. */
#define SL_DEFAULT_OBJECT_SIZE (INT64CONST(256) * 1024 * 1024)

extern int64 sl_object_size(SlSource *source);

/* Forget everything (the extension was dropped and created again: ids restart). */
extern void sl_schedule_forget(void);

/* Count the rows that arrived for the source's keys since the last look (runs its own step). */
extern void sl_count_arrivals(SlSource *source);

/* Is the source due for a drain now (flush: always, unless disabled)? */
extern bool sl_source_due(SlSource *source, TimestampTz now, bool flush);

/* When it next becomes due by its publish rate or backoff. */
extern TimestampTz sl_source_next_due(SlSource *source);

/* Where the next claim of a routing key starts; a claim from the head now and then. */
extern int64 sl_claim_start(SlSource *source, int key);
extern void sl_claim_continue_after(SlSource *source, int key, int64 last_id);
extern void sl_claim_from_head(SlSource *source, int key);
/* A claim of the key took rows up to last_id (the arrival count starts after them). */
extern void sl_note_claimed(SlSource *source, int key, int64 last_id);

/* A drain ended: counters restart. */
extern void sl_source_drained(SlSource *source);

/* An object was uploaded: what its raw input became (for the object-size estimate). */
extern void sl_note_object(SlSource *source, int64 raw_bytes, int64 object_bytes);

/* How many raw bytes make an object of the target size (the claim's bound). */
extern int64 sl_raw_bytes_per_object(SlSource *source);

#endif							/* SECURITYLAKE_SCHEDULE_H */
