/*-------------------------------------------------------------------------
 *
 * upload.c
 *		Objects to S3 through src/aws: one client per source (kept alive, its
 *		assumed-role session cached and refreshed), rebuilt when the source's
 *		settings or the static credentials change.
 *
 * The signing region is the lake bucket's (aws-security-data-lake-<region>-<id>),
 * not the events' partition region; the source's region when the bucket name
 * does not say.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "aws/aws.h"
#include "event_rules.h"
#include "securitylake.h"

typedef struct SlClientEntry
{
	char		name[NAMEDATALEN];
	char	   *fingerprint;	/* malloc'd: settings the client was built from */
	aws_client *client;
} SlClientEntry;

static HTAB *clients = NULL;

/* Static base credentials from securitylake.credential (malloc'd, wiped when replaced). */
static char *static_akid = NULL;
static char *static_secret = NULL;
static char *static_token = NULL;
static char static_version[64] = "";

static void
wipe_free(char **p)
{
	if (*p)
	{
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static char *
malloc_copy(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * Read the static credentials (if any) — called by the worker in a transaction
 * once per cycle. Only the extension owner can read that table; the worker runs
 * as the bootstrap superuser.
 */
void
sl_load_static_credentials(void)
{
	char	   *version;

	if (SPI_execute("SELECT access_key_id, secret_access_key, session_token, updated_at::text"
					"  FROM securitylake.credential WHERE id = 1", true, 1) != SPI_OK_SELECT)
		return;
	version = SPI_processed ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4) : "";
	if (strcmp(version, static_version) == 0)
		return;
	wipe_free(&static_akid);
	wipe_free(&static_secret);
	wipe_free(&static_token);
	if (SPI_processed)
	{
		static_akid = malloc_copy(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		static_secret = malloc_copy(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
		static_token = malloc_copy(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
	}
	strlcpy(static_version, version, sizeof(static_version));
}

/* aws-security-data-lake-<region>-<id> → <region>; else the source's region. */
static char *
bucket_region(SlSource *source)
{
	const char *prefix = "aws-security-data-lake-";
	size_t		plen = strlen(prefix);
	const char *rest;
	const char *last;

	if (strncmp(source->bucket, prefix, plen) != 0)
		return pstrdup(source->region);
	rest = source->bucket + plen;
	last = strrchr(rest, '-');
	if (last == NULL || last == rest)
		return pstrdup(source->region);
	{
		char	   *region = pnstrdup(rest, last - rest);

		return sl_valid_region(region) ? region : pstrdup(source->region);
	}
}

static char *
fingerprint(SlSource *source)
{
	return psprintf("%s|%s|%s|%s|%s|%s|%s", source->location, source->role_arn ? source->role_arn : "",
					source->external_id ? source->external_id : "", source->region,
					JsonbToCString(NULL, &source->options->root, VARSIZE(source->options)),
					static_version, static_akid ? static_akid : "");
}

static aws_client *
build_client(SlSource *source, char **error)
{
	aws_config	cfg;
	aws_error	err;
	aws_client *client;
	aws_tag		tag;
	char	   *session = psprintf("securitylake-%s", source->name);

	aws_config_init(&cfg);
	cfg.region = bucket_region(source);
	cfg.s3_endpoint = sl_option_text(source, "endpoint");
	cfg.sts_endpoint = sl_option_text(source, "sts_endpoint");
	cfg.force_path_style = sl_option_bool(source, "force_path_style");
	cfg.ca_file = sl_option_text(source, "ca_file");
	cfg.role_arn = source->role_arn;
	cfg.external_id = source->external_id;
	cfg.role_session_name = sl_option_text(source, "role_session_name");
	if (cfg.role_session_name == NULL)
		cfg.role_session_name = strlen(session) <= 64 ? session : "securitylake";
	cfg.duration_seconds = sl_option_int(source, "session_duration", 3600);
	if (sl_option_bool(source, "session_tags"))
	{
		/* Needs sts:TagSession in the role's trust policy (Security Lake does not add it). */
		tag.key = "securitylake-source";
		tag.value = source->name;
		cfg.session_tags = &tag;
		cfg.num_session_tags = 1;
	}
	cfg.access_key_id = static_akid;
	cfg.secret_access_key = static_secret;
	cfg.session_token = static_token;
	client = aws_client_new(&cfg, &err);
	if (client == NULL)
	{
		char		buf[1024];

		aws_error_format(&err, buf, sizeof(buf));
		*error = psprintf("cannot configure the S3 client of source \"%s\": %s", source->name, buf);
	}
	return client;
}

static aws_client *
client_for(SlSource *source, char **error)
{
	SlClientEntry *entry;
	bool		found;
	char	   *fp = fingerprint(source);

	if (clients == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(SlClientEntry);
		clients = hash_create("securitylake clients", 16, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	entry = hash_search(clients, source->name, HASH_ENTER, &found);
	if (found && entry->client && strcmp(entry->fingerprint, fp) == 0)
		return entry->client;
	if (found && entry->client)
	{
		aws_client_free(entry->client);
		free(entry->fingerprint);
	}
	entry->client = build_client(source, error);
	entry->fingerprint = entry->client ? strdup(fp) : NULL;
	if (entry->client == NULL)
		hash_search(clients, source->name, HASH_REMOVE, NULL);
	return entry->client;
}

/* Persist a multipart UploadId with its batch, so recovery can abort it. */
static void
save_upload_id(void *ctx, const char *upload_id)
{
	SlBatch    *b = ctx;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(b->id);
	values[1] = CStringGetTextDatum(upload_id);
	sl_begin_step("securitylake: recording a multipart upload");
	sl_exec("UPDATE securitylake.batch SET upload_id = $2 WHERE id = $1", 2, types, values, NULL, SPI_OK_UPDATE);
	sl_end_step();
}

static char *
describe(const aws_error *err, SlSource *source)
{
	char		buf[1024];

	aws_error_format(err, buf, sizeof(buf));
	return psprintf("%s (source \"%s\", bucket %s)", buf, source->name, source->bucket);
}

bool
sl_upload_object(SlSource *source, SlBatch *batch, const char *data, size_t len, char **error)
{
	aws_client *client = client_for(source, error);
	aws_error	err;

	if (client == NULL)
		return false;
	if (batch->upload_id)
	{
		/* A multipart upload of an earlier attempt: never leave its parts behind. */
		if (aws_abort_multipart_upload(client, source->bucket, batch->object_key, batch->upload_id, &err) != 0)
		{
			*error = describe(&err, source);
			return false;
		}
		batch->upload_id = NULL;
	}
	if (aws_upload(client, source->bucket, batch->object_key, data, len,
				   "application/vnd.apache.parquet", save_upload_id, batch, &err) != 0)
	{
		*error = describe(&err, source);
		return false;
	}
	return true;
}
