/*-------------------------------------------------------------------------
 *
 * step.h
 *		One short transaction per worker step, and SPI conveniences.
 *
 * Every statement the workers run is written with schema-qualified
 * functions, types and operators (OPERATOR(pg_catalog.=)), and runs with
 * search_path = pg_catalog, pg_temp as securitylake_worker (loop.c): what a
 * database owner plants in public or on a search_path never runs here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_STEP_H
#define SECURITYLAKE_STEP_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "storage/itemptr.h"

extern void sl_begin_step(const char *activity);
extern void sl_end_step(void);
extern void sl_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected);
extern void sl_plan_index_probes(void);
extern void sl_plan_tid_scans(bool only);
extern ErrorData *sl_take_error(MemoryContext cxt);
extern char *sl_text_or_null(HeapTuple tup, TupleDesc desc, int col);
extern int64 sl_int8_col(HeapTuple tup, TupleDesc desc, int col, int64 if_null);
extern Datum sl_int8_array(const int64 *values, int n);
extern Datum sl_int4_array(const int32 *values, int n);
extern Datum sl_text_array(char **values, int n);
extern Datum sl_tid_array(const ItemPointerData *values, int n);
extern int32 *sl_int4_array_values(Datum array, int *n);
extern int64 *sl_int8_array_values(Datum array, int *n);

#endif							/* SECURITYLAKE_STEP_H */
