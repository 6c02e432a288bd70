/*-------------------------------------------------------------------------
 *
 * event_rules.h
 *		The rules a queued event must pass before it is shredded: its time,
 *		class, region and account, and the partition they put it in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_EVENT_RULES_H
#define SECURITYLAKE_EVENT_RULES_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "source.h"

/* Where an event goes: its partition and its time (the sort key). */
typedef struct SlPartition
{
	char	   *region;
	char	   *account_id;
	int32		event_day;		/* days since 1970-01-01 (UTC) */
	int64		time_ms;		/* the event's time, epoch milliseconds */
} SlPartition;

extern bool sl_classify_event(SlSource *source, Jsonb *event, const char *row_region,
							  const char *row_account, SlPartition *out, char **reason);

typedef enum SlNumResult
{
	SL_NUM_OK,
	SL_NUM_FRACTION,
	SL_NUM_RANGE
} SlNumResult;
extern SlNumResult sl_numeric_int64(Numeric num, int64 *out);
extern bool sl_event_time_ms(Jsonb *event, int64 *time_ms, char **reason);
extern bool sl_event_class_matches(Jsonb *event, int class_uid, char **reason);
extern char *sl_event_string_at(Jsonb *event, const char *const *path, int depth);
extern bool sl_valid_region(const char *region);
extern bool sl_valid_account(const char *account);

/* external_<id> for data from outside AWS (id sanitised, capped), or "external". */
#define SL_EXTERNAL_ID_MAX 64
extern char *sl_external_account(const char *id);

/*
 * The claim's size rule: NULL, or the dead-letter reason of an event whose
 * raw (stored, before decompression) size is over the source option
 * max_event_size (default SL_DEFAULT_MAX_EVENT_SIZE): "event too large (N
 * bytes; max_event_size is M)". validate() applies it too.
 */
#define SL_DEFAULT_MAX_EVENT_SIZE (16 * 1024 * 1024)
extern char *sl_event_size_reason(SlSource *source, Size raw_size);
/* raw_size of a queue row's event datum, from its (TOAST) header: nothing is decompressed. */
extern Size sl_event_datum_size(Datum event);

#endif							/* SECURITYLAKE_EVENT_RULES_H */
