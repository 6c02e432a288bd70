/*-------------------------------------------------------------------------
 *
 * shred.h
 *		jsonb events → one Parquet object, through src/parquet. The object's
 *		bytes go to a sink as row groups close (a multipart upload, or a
 *		buffer).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SHRED_H
#define SECURITYLAKE_SHRED_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "parquet/parquet.h"
#include "source.h"

typedef struct SlEncoder SlEncoder;

/* The default row group target (source option row_group_size). */
#define SL_DEFAULT_ROW_GROUP_SIZE ((int64) 64 * 1024 * 1024)

/* Open an encoder writing the source's schema to sink (the "PAR1" magic is written at once). */
extern SlEncoder *sl_encoder_begin(SlSource *source, pq_sink sink);

/*
 * An encoder that only checks (validate()): sl_encoder_add walks each event
 * exactly as a writing encoder does — the same columns, limits and reasons —
 * then drops the record, so nothing accumulates however many events it sees.
 */
extern SlEncoder *sl_encoder_begin_check(SlSource *source);

/*
 * Add one event as a record. False (with *reason, palloc'd) when it does not
 * fit the schema: the record is dropped and the encoder carries on. Every
 * ERROR raised while the event is shredded is contained and becomes its
 * reason ("could not encode: ..."), except query cancel / termination and a
 * failure of the sink or writer (the object is lost), which are re-thrown.
 */
extern bool sl_encoder_add(SlEncoder *enc, Jsonb *event, char **reason);

/* Bytes handed to the sink so far, and buffered in the open row group. */
extern uint64 sl_encoder_bytes_written(SlEncoder *enc);
extern size_t sl_encoder_bytes_buffered(SlEncoder *enc);

/* Close the object (last row group and footer go to the sink); frees the encoder. */
extern void sl_encoder_finish(SlEncoder *enc, int64 *rows);
extern void sl_encoder_abandon(SlEncoder *enc);

/*
 * validate.c: the dead-letter reason the worker would give EVENT (stored size
 * RAW_SIZE, see sl_event_datum_size) in SOURCE, or NULL. Same rules, same
 * order: size, event rules, the encoder's walk.
 */
extern char *sl_validate_event(SlSource *source, Jsonb *event, Size raw_size);

#endif							/* SECURITYLAKE_SHRED_H */
