/*-------------------------------------------------------------------------
 *
 * source.h
 *		A configured source as the worker sees it for one cycle, and its
 *		options (options.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SOURCE_H
#define SECURITYLAKE_SOURCE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* A configured source, as loaded from securitylake.source for one cycle. */
typedef struct SlSource
{
	char	   *name;
	char	   *location;
	char	   *bucket;
	char	   *prefix;
	char	   *role_arn;		/* NULL: base credentials directly */
	char	   *external_id;
	char	   *region;
	char	   *account_id;
	char	   *ocsf_version;
	int			class_uid;
	bool		route_by_class;
	char	   *route_keys[2];	/* the queue routing keys it takes (source_route_keys) */
	int			nroute_keys;
	int			batch_record_count; /* 0: no record-count threshold */
	int64		batch_data_size;
	int64		publish_rate_ms;
	Jsonb	   *schema;			/* parquet-go tag schema, or NULL (OCSF class) */
	Jsonb	   *options;
	bool		enabled;
	TimestampTz next_attempt_at;	/* from source_state; 0 = now */
	int			failures;
} SlSource;

/* options.c: a source's options with defaults */
extern char *sl_option_text(SlSource *source, const char *name);
extern bool sl_option_bool(SlSource *source, const char *name);
extern bool sl_option_false(SlSource *source, const char *name);
extern bool sl_option_bool_default(SlSource *source, const char *name, bool dflt);
extern int	sl_option_int(SlSource *source, const char *name, int dflt);
extern int64 sl_option_int64(SlSource *source, const char *name, int64 dflt);

#endif							/* SECURITYLAKE_SOURCE_H */
