/*-------------------------------------------------------------------------
 *
 * route_key.c
 *		securitylake.route_key(source text, event jsonb): the queue's
 *		generated routing key (sql/install/00-tables.sql says what it is).
 *
 * In C because every producer's row computes it: the same expression in SQL
 * was inlined and planned again for every INSERT statement (about a tenth of
 * an autocommit INSERT's time), and read the event's class_uid twice.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/*
 * The source when the row names one; otherwise '#' and the event's
 * top-level class_uid as trim_scale(numeric)::text, or '#' alone when there
 * is none, it is not a number, or there is no event (as the SQL expression
 * said; the queue's event is NOT NULL anyway).
 */
PG_FUNCTION_INFO_V1(securitylake_route_key);
Datum
securitylake_route_key(PG_FUNCTION_ARGS)
{
	Jsonb	   *event;
	JsonbValue *class_uid = NULL;
	char	   *digits = "";

	if (!PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	event = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	if (event != NULL && JB_ROOT_IS_OBJECT(event))
		class_uid = getKeyJsonValueFromContainer(&event->root, "class_uid", strlen("class_uid"), NULL);
	if (class_uid != NULL && class_uid->type == jbvNumeric)
	{
		Datum		trimmed = DirectFunctionCall1(numeric_trim_scale, NumericGetDatum(class_uid->val.numeric));

		digits = DatumGetCString(DirectFunctionCall1(numeric_out, trimmed));
	}
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("#%s", digits)));
}
