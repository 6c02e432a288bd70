/*-------------------------------------------------------------------------
 *
 * sources.c
 *		A source's row → SlSource (sources.h), shared by the worker's cycle and
 *		validate().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "sources.h"

static char *
text_or_null(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

SlSource *
sl_source_from_tuple(HeapTuple tup, TupleDesc desc)
{
	SlSource   *s = palloc0(sizeof(SlSource));
	bool		isnull;
	Datum		d;

	s->name = text_or_null(tup, desc, 1);
	s->location = text_or_null(tup, desc, 2);
	s->bucket = text_or_null(tup, desc, 3);
	s->prefix = text_or_null(tup, desc, 4);
	s->role_arn = text_or_null(tup, desc, 5);
	s->external_id = text_or_null(tup, desc, 6);
	s->region = text_or_null(tup, desc, 7);
	s->account_id = text_or_null(tup, desc, 8);
	s->ocsf_version = text_or_null(tup, desc, 9);
	s->class_uid = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
	s->route_by_class = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	s->batch_record_count = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
	s->batch_data_size = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
	s->publish_rate_ms = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
	d = SPI_getbinval(tup, desc, 15, &isnull);
	s->schema = isnull ? NULL : DatumGetJsonbPCopy(d);
	d = SPI_getbinval(tup, desc, 16, &isnull);
	s->options = isnull ? NULL : DatumGetJsonbPCopy(d);
	s->enabled = DatumGetBool(SPI_getbinval(tup, desc, 17, &isnull));
	s->next_attempt_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 18, &isnull));
	if (isnull)
		s->next_attempt_at = 0;
	s->failures = DatumGetInt32(SPI_getbinval(tup, desc, 19, &isnull));
	return s;
}

SlSource *
sl_source_lookup(const char *name, MemoryContext into)
{
	static SPIPlanPtr plan = NULL;
	Datum		values[1];
	SlSource   *source = NULL;

	if (plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		SPIPlanPtr	p = SPI_prepare("SELECT " SL_SOURCE_COLUMNS SL_SOURCE_FROM
									" WHERE s.name OPERATOR(pg_catalog.=) $1", 1, types);

		if (p == NULL)
			elog(ERROR, "securitylake: could not prepare the source look-up: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "securitylake: could not read source \"%s\"", name);
	if (SPI_processed == 1)
	{
		MemoryContext spi = MemoryContextSwitchTo(into);

		source = sl_source_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		MemoryContextSwitchTo(spi);
	}
	return source;
}
