/*-------------------------------------------------------------------------
 *
 * event_rules.c
 *		What an event says about where it goes: its time, class, region and
 *		account — the rules a queued event must pass before it is shredded.
 *		The claim applies them to every queued row; validate() applies the
 *		same ones, so it gives the reason the worker would.
 *
 * Security Lake's custom-source layout (AWS, "Collecting data from custom
 * sources"): <location>region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/
 * with eventDay the UTC day of the record's time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "event_rules.h"
#include "source.h"

/*
 * Bounds for a plausible OCSF `time` in epoch milliseconds: 1990-01-01 ..
 * 2200-01-01. A value outside is almost always seconds or microseconds sent
 * by mistake, which would land the event in a wrong eventDay.
 */
#define SL_MIN_TIME_MS INT64CONST(631152000000)
#define SL_MAX_TIME_MS INT64CONST(7258118400000)

/*
 * A JSON number as int64, strictly: integral (a zero fraction such as 5.0 is
 * accepted), finite, within int64.
 *
 * PostgreSQL 15 exports no non-throwing numeric → int8 conversion, and going
 * through numeric_out costs ~10× more than the rest of a value's shredding,
 * so this reads numeric's on-disk format (stable: pg_upgrade keeps it) —
 * base-10000 digits with a weight — directly.
 */
#define SL_NUMERIC_SIGN_MASK	0xC000
#define SL_NUMERIC_NEG			0x4000
#define SL_NUMERIC_SHORT		0x8000
#define SL_NUMERIC_SPECIAL		0xC000
#define SL_NUMERIC_SHORT_SIGN	0x2000
#define SL_NUMERIC_SHORT_WSIGN	0x0040
#define SL_NUMERIC_SHORT_WMASK	0x003F
#define SL_NBASE				10000

SlNumResult
sl_numeric_int64(Numeric num, int64 *out)
{
	const char *data = VARDATA_ANY(num);
	size_t		size = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	const int16 *digits;
	int			ndigits;
	int			weight;
	bool		negative;
	int64		value = 0;
	int			i;

	memcpy(&header, data, sizeof(uint16));
	if ((header & SL_NUMERIC_SIGN_MASK) == SL_NUMERIC_SPECIAL)
		return SL_NUM_RANGE;	/* NaN, ±Infinity */
	if ((header & SL_NUMERIC_SIGN_MASK) == SL_NUMERIC_SHORT)
	{
		negative = (header & SL_NUMERIC_SHORT_SIGN) != 0;
		weight = (header & SL_NUMERIC_SHORT_WMASK) |
			((header & SL_NUMERIC_SHORT_WSIGN) ? ~SL_NUMERIC_SHORT_WMASK : 0);
		digits = (const int16 *) (data + sizeof(uint16));
		ndigits = (int) ((size - sizeof(uint16)) / sizeof(int16));
	}
	else
	{
		int16		w;

		negative = (header & SL_NUMERIC_SIGN_MASK) == SL_NUMERIC_NEG;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		weight = w;
		digits = (const int16 *) (data + 2 * sizeof(uint16));
		ndigits = (int) ((size - 2 * sizeof(uint16)) / sizeof(int16));
	}
	/* Trailing zero digits are never stored: any digit past the units is a fraction. */
	if (ndigits > weight + 1)
		return SL_NUM_FRACTION;
	for (i = 0; i <= weight; i++)
	{
		int16		d = i < ndigits ? digits[i] : 0;

		/* Accumulate negatively: INT64_MIN has no positive twin. */
		if (pg_mul_s64_overflow(value, SL_NBASE, &value) ||
			pg_sub_s64_overflow(value, d, &value))
			return SL_NUM_RANGE;
	}
	if (!negative)
	{
		if (value == PG_INT64_MIN)
			return SL_NUM_RANGE;
		value = -value;
	}
	*out = value;
	return SL_NUM_OK;
}

static JsonbValue *
object_field(JsonbContainer *container, const char *key, JsonbValue *out)
{
	if (!JsonContainerIsObject(container))
		return NULL;
	return getKeyJsonValueFromContainer(container, key, strlen(key), out);
}

/*
 * The event's `time` as epoch milliseconds. Strict: an integer JSON number
 * within SL_MIN_TIME_MS..SL_MAX_TIME_MS; anything else is a reason.
 */
bool
sl_event_time_ms(Jsonb *event, int64 *time_ms, char **reason)
{
	JsonbValue	v;
	Numeric		num;
	int64		ms;

	if (!JB_ROOT_IS_OBJECT(event))
	{
		*reason = pstrdup("expected object: the event is not a JSON object");
		return false;
	}
	if (object_field(&event->root, "time", &v) == NULL || v.type == jbvNull)
	{
		*reason = pstrdup("missing required attribute time");
		return false;
	}
	if (v.type != jbvNumeric)
	{
		*reason = pstrdup("expected long at time (epoch milliseconds)");
		return false;
	}
	num = v.val.numeric;
	switch (sl_numeric_int64(num, &ms))
	{
		case SL_NUM_OK:
			break;
		case SL_NUM_FRACTION:
			*reason = pstrdup("expected long at time (a fractional number; time is epoch milliseconds)");
			return false;
		default:
			*reason = pstrdup("time is out of range (out of range at time)");
			return false;
	}
	if (ms < SL_MIN_TIME_MS || ms > SL_MAX_TIME_MS)
	{
		*reason = psprintf("time " INT64_FORMAT " is not epoch milliseconds between 1990 and 2200 (out of range at time)", ms);
		return false;
	}
	*time_ms = ms;
	return true;
}

/*
 * Security Lake takes one OCSF class per source: an event naming another
 * class is rejected, whichever way it was routed here. (An absent class_uid
 * is left to the schema's required-attribute check.)
 */
bool
sl_event_class_matches(Jsonb *event, int class_uid, char **reason)
{
	JsonbValue	v;
	int64		uid;

	if (object_field(&event->root, "class_uid", &v) == NULL || v.type == jbvNull)
		return true;				/* absent: the schema's required check says so */
	if (v.type != jbvNumeric || sl_numeric_int64(v.val.numeric, &uid) != SL_NUM_OK)
	{
		*reason = pstrdup("expected integer at class_uid");
		return false;
	}
	if (uid != class_uid)
	{
		*reason = psprintf("class_uid " INT64_FORMAT " does not match the source's class_uid %d", uid, class_uid);
		return false;
	}
	return true;
}

/*
 * The string at a path of object keys (e.g. {"cloud","account","uid"}), or
 * NULL when absent or not a string.
 */
char *
sl_event_string_at(Jsonb *event, const char *const *path, int depth)
{
	JsonbContainer *container = &event->root;
	JsonbValue	v;
	int			i;

	v.type = jbvNull;
	for (i = 0; i < depth; i++)
	{
		if (object_field(container, path[i], &v) == NULL)
			return NULL;
		if (i == depth - 1)
			break;
		if (v.type != jbvBinary)
			return NULL;
		container = v.val.binary.data;
	}
	if (v.type != jbvString || v.val.string.len == 0)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ... */
bool
sl_valid_region(const char *region)
{
	size_t		len = strlen(region);
	size_t		i;

	if (len < 6 || len > 32 || !isdigit((unsigned char) region[len - 1]))
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = region[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return region[0] != '-' && strstr(region, "--") == NULL;
}

/*
 * A 12-digit AWS account, or for events from outside AWS `external` or
 * `external_<id>` (AWS's custom-source guide), <id> of [A-Za-z0-9-].
 */
bool
sl_valid_account(const char *account)
{
	size_t		len = strlen(account);
	size_t		i;

	if (len == 12 && strspn(account, "0123456789") == 12)
		return true;
	if (strcmp(account, "external") == 0)
		return true;
	if (strncmp(account, "external_", 9) != 0 || len == 9 || len > 9 + 64)
		return false;
	for (i = 9; i < len; i++)
	{
		char		c = account[i];

		if (!(isalnum((unsigned char) c) || c == '-'))
			return false;
	}
	return true;
}

static const char *const cloud_region_path[] = {"cloud", "region"};
static const char *const cloud_account_path[] = {"cloud", "account", "uid"};

/*
 * Work out an event's time and partition: region = the queue row's ?? the
 * event's cloud.region ?? the source's; account likewise with
 * cloud.account.uid; eventDay = the UTC day of time. False with *reason when
 * the event breaks a rule (it is then dead-lettered with that reason).
 */
bool
sl_classify_event(SlSource *source, Jsonb *event, const char *row_region, const char *row_account,
				  SlPartition *out, char **reason)
{
	const char *region;
	const char *account;

	if (!sl_event_time_ms(event, &out->time_ms, reason) ||
		!sl_event_class_matches(event, source->class_uid, reason))
		return false;
	region = row_region ? row_region : sl_event_string_at(event, cloud_region_path, 2);
	if (region == NULL)
		region = source->region;
	account = row_account ? row_account : sl_event_string_at(event, cloud_account_path, 3);
	if (account == NULL)
		account = source->account_id;
	if (!sl_valid_region(region))
	{
		*reason = psprintf("region \"%s\" is not an AWS region name", region);
		return false;
	}
	if (!sl_valid_account(account))
	{
		*reason = psprintf("account \"%s\" is not a 12-digit AWS account id, \"external\" or \"external_<id>\"", account);
		return false;
	}
	out->region = pstrdup(region);
	out->account_id = pstrdup(account);
	/* time is positive (sl_event_time_ms bounds it), so division floors. */
	out->event_day = (int32) (out->time_ms / (INT64CONST(1000) * SECS_PER_DAY));
	return true;
}
