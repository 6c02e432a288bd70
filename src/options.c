/*-------------------------------------------------------------------------
 *
 * options.c
 *		A source's options (its jsonb `options`), read with defaults.
 *		create_source/alter_source validated them (sql/install/10-config.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/jsonb.h"

#include "event_rules.h"
#include "source.h"

static bool
option_value(SlSource *source, const char *name, JsonbValue *v)
{
	return source->options != NULL &&
		getKeyJsonValueFromContainer(&source->options->root, name, strlen(name), v) != NULL;
}

/* A string option (palloc'd), or NULL. */
char *
sl_option_text(SlSource *source, const char *name)
{
	JsonbValue	v;

	if (option_value(source, name, &v) && v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	return NULL;
}

/* The option is given as false (not merely absent). */
bool
sl_option_false(SlSource *source, const char *name)
{
	JsonbValue	v;

	return option_value(source, name, &v) && v.type == jbvBool && !v.val.boolean;
}

bool
sl_option_bool(SlSource *source, const char *name)
{
	JsonbValue	v;

	return option_value(source, name, &v) && v.type == jbvBool && v.val.boolean;
}

/* A boolean option, or dflt when it is absent. */
bool
sl_option_bool_default(SlSource *source, const char *name, bool dflt)
{
	JsonbValue	v;

	if (option_value(source, name, &v) && v.type == jbvBool)
		return v.val.boolean;
	return dflt;
}

/* An integer option within int range, or dflt (create_source validated it). */
int
sl_option_int(SlSource *source, const char *name, int dflt)
{
	JsonbValue	v;
	int64		x;

	if (option_value(source, name, &v) && v.type == jbvNumeric &&
		sl_numeric_int64(v.val.numeric, &x) == SL_NUM_OK && x >= INT_MIN && x <= INT_MAX)
		return (int) x;
	return dflt;
}

/* An integer option within int64 range, or dflt. */
int64
sl_option_int64(SlSource *source, const char *name, int64 dflt)
{
	JsonbValue	v;
	int64		x;

	if (option_value(source, name, &v) && v.type == jbvNumeric &&
		sl_numeric_int64(v.val.numeric, &x) == SL_NUM_OK)
		return x;
	return dflt;
}
