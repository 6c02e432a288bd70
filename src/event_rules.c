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

#include "access/detoast.h"
#include "common/int.h"
#include "lib/stringinfo.h"
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

/*
 * An AWS-shaped region name: <two letters>[-gov|-iso<letter>?]-<direction>-<number>,
 * the direction one of AWS's (central, north, south, east, west and their
 * combinations): us-east-1, eu-central-2, ap-southeast-4, us-gov-west-1,
 * cn-northwest-1, us-isob-east-1. Azure's westeurope, GCP's us-central1 or
 * europe-west4 and Oracle's us-ashburn-1 are not.
 */
bool
sl_valid_region(const char *region)
{
	static const char *const directions[] = {
		"central", "north", "south", "east", "west",
		"northeast", "northwest", "southeast", "southwest", NULL
	};
	const char *p = region;
	const char *dash;
	size_t		len;
	int			i;
	bool		known = false;

	if (strlen(region) > 32 || !islower((unsigned char) p[0]) || !islower((unsigned char) p[1]) || p[2] != '-')
		return false;
	p += 3;
	/* optional partition: gov, iso, isob, isoe, isof */
	if (strncmp(p, "gov-", 4) == 0)
		p += 4;
	else if (strncmp(p, "iso", 3) == 0 && (p[3] == '-' || (islower((unsigned char) p[3]) && p[4] == '-')))
		p += p[3] == '-' ? 4 : 5;
	dash = strchr(p, '-');
	if (dash == NULL)
		return false;
	len = dash - p;
	for (i = 0; directions[i] && !known; i++)
		known = strlen(directions[i]) == len && strncmp(p, directions[i], len) == 0;
	if (!known)
		return false;
	p = dash + 1;
	len = strlen(p);
	return (len == 1 || len == 2) && strspn(p, "0123456789") == len && p[0] != '0';
}

/* A 12-digit AWS account id. */
static bool
aws_account(const char *account)
{
	return strlen(account) == 12 && strspn(account, "0123456789") == 12;
}

/*
 * A 12-digit AWS account, or for events from outside AWS `external` or
 * `external_<id>` (AWS's custom-source guide), <id> 1-64 of [A-Za-z0-9-].
 */
bool
sl_valid_account(const char *account)
{
	size_t		len = strlen(account);
	size_t		i;

	if (aws_account(account))
		return true;
	if (strcmp(account, "external") == 0)
		return true;
	if (strncmp(account, "external_", 9) != 0 || len == 9 || len > 9 + SL_EXTERNAL_ID_MAX)
		return false;
	for (i = 9; i < len; i++)
	{
		char		c = account[i];

		if (!(isalnum((unsigned char) c) || c == '-'))
			return false;
	}
	return true;
}

/*
 * The accountId of data from outside AWS: external_<id>, id sanitised to
 * Security Lake's characters — every run of other bytes becomes one "-",
 * leading and trailing "-" are dropped, at most SL_EXTERNAL_ID_MAX kept —
 * or `external` when nothing is left (or no id was given). An id already
 * written external_<id> is sanitised the same way, not prefixed twice.
 */
char *
sl_external_account(const char *id)
{
	StringInfoData buf;
	const char *p;
	bool		dash = false;

	if (id == NULL)
		return pstrdup("external");
	if (strncmp(id, "external_", 9) == 0)
		id += 9;
	else if (strcmp(id, "external") == 0)
		return pstrdup("external");
	initStringInfo(&buf);
	appendStringInfoString(&buf, "external_");
	for (p = id; *p && buf.len < 9 + SL_EXTERNAL_ID_MAX; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c < 0x80 && (isalnum(c) || c == '-'))
		{
			if (c == '-' && buf.len == 9)
				continue;
			appendStringInfoChar(&buf, (char) c);
			dash = c == '-';
		}
		else if (buf.len > 9 && !dash)
		{
			appendStringInfoChar(&buf, '-');
			dash = true;
		}
	}
	while (buf.len > 9 && buf.data[buf.len - 1] == '-')
		buf.data[--buf.len] = '\0';
	if (buf.len == 9)
		return pstrdup("external");
	return buf.data;
}

/* True for cloud.provider naming AWS (any case): "AWS", "Amazon Web Services", "amazon". */
static bool
provider_is_aws(const char *provider)
{
	return pg_strcasecmp(provider, "aws") == 0 ||
		pg_strcasecmp(provider, "amazon") == 0 ||
		pg_strcasecmp(provider, "amazon web services") == 0;
}

static const char *const cloud_region_path[] = {"cloud", "region"};
static const char *const cloud_account_path[] = {"cloud", "account", "uid"};
static const char *const cloud_provider_path[] = {"cloud", "provider"};

/*
 * Work out an event's time and partition. False with *reason when the event
 * breaks a rule (it is then dead-lettered with that reason).
 *
 *   eventDay = the UTC day of time;
 *   region   = the queue row's ?? the event's cloud.region ?? the source's;
 *   account  = the queue row's ?? the event's cloud.account.uid ?? the source's.
 *
 * Data from outside AWS is never dead-lettered for where it comes from: an
 * event whose cloud.provider is given and is not AWS, or whose region or
 * account (as chosen above, before the source's defaults) is not AWS-shaped
 * (sl_valid_region; 12 digits, `external` or `external_<id>`), goes to
 * accountId=external_<its account, sanitised> (`external` without one) in the
 * source's region, as AWS's custom-source guide asks.
 */
bool
sl_classify_event(SlSource *source, Jsonb *event, const char *row_region, const char *row_account,
				  SlPartition *out, char **reason)
{
	const char *region;
	const char *account;
	const char *provider;
	bool		external;

	if (!sl_event_time_ms(event, &out->time_ms, reason) ||
		!sl_event_class_matches(event, source->class_uid, reason))
		return false;
	region = row_region ? row_region : sl_event_string_at(event, cloud_region_path, 2);
	account = row_account ? row_account : sl_event_string_at(event, cloud_account_path, 3);
	provider = sl_event_string_at(event, cloud_provider_path, 2);
	external = (provider != NULL && !provider_is_aws(provider)) ||
		(region != NULL && !sl_valid_region(region)) ||
		(account != NULL && !sl_valid_account(account));
	if (external)
	{
		out->region = pstrdup(source->region);
		out->account_id = sl_external_account(account);
	}
	else
	{
		out->region = pstrdup(region ? region : source->region);
		out->account_id = pstrdup(account ? account : source->account_id);
	}
	/* time is positive (sl_event_time_ms bounds it), so division floors. */
	out->event_day = (int32) (out->time_ms / (INT64CONST(1000) * SECS_PER_DAY));
	return true;
}

/*
 * The claim refuses an event whose stored size (before decompression: the
 * datum's raw size) is over the source option max_event_size, default 16 MiB:
 * a 2 MB compressed event can expand to 180 MB, and escaped to over 1 GB.
 * NULL when the size is within it.
 */
char *
sl_event_size_reason(SlSource *source, Size raw_size)
{
	int64		max = sl_option_int(source, "max_event_size", SL_DEFAULT_MAX_EVENT_SIZE);

	if ((int64) raw_size <= max)
		return NULL;
	return psprintf("event too large (%zu bytes; max_event_size is " INT64_FORMAT ")", (size_t) raw_size, max);
}

/* The size sl_event_size_reason takes: a stored event's jsonb bytes, read from its header. */
Size
sl_event_datum_size(Datum event)
{
	return toast_raw_datum_size(event) - VARHDRSZ;
}
