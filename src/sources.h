/*-------------------------------------------------------------------------
 *
 * sources.h
 *		The configured sources, loaded once a cycle, and their delivery state
 *		(source_state): failures, the backoff before the next attempt, the
 *		error status shows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_SOURCES_H
#define SECURITYLAKE_SOURCES_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "source.h"

/* Every source, allocated in the current memory context (runs its own step). */
extern List *sl_load_sources(void);
extern SlSource *sl_find_source(List *sources, const char *name);

/*
 * A delivery of the source failed: its state shows the error, the log names
 * the source. With backoff, the next attempt waits (exponential, jittered,
 * capped by securitylake.max_backoff); without, it only counts and shows.
 */
extern void sl_record_failure(SlSource *source, const char *error, bool backoff);

/* The source delivered again: its failures are forgotten (within the caller's step). */
extern void sl_clear_failures_sql(SlSource *source, bool uploaded);
extern void sl_note_recovered(SlSource *source);

#endif							/* SECURITYLAKE_SOURCES_H */
