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

#include <pthread.h>

#include <openssl/crypto.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "aws/aws.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "config_checks.h"
#include "event_rules.h"
#include "securitylake.h"
#include "upload.h"

/* Room for a 64-character source name and its terminator (NAMEDATALEN is 64 with it). */
#define SL_NAME_SIZE 72

typedef struct SlClientEntry
{
	char		name[SL_NAME_SIZE];
	char	   *fingerprint;	/* malloc'd: settings the client was built from */
	aws_client *client;
} SlClientEntry;

static HTAB *clients = NULL;

/*
 * The part in flight (parts.c): its thread uses the source's client until it is joined,
 * and client_for refuses to hand out any client meanwhile. abandon_part ends it early.
 */
static aws_part_sender *sender = NULL;
static volatile sig_atomic_t abandon_part = false;
static pthread_t worker_thread;	/* set with every client: interrupted() tells them apart */

/* A part sent on the worker's own thread (no thread could be started): its result. */
static bool sent_inline = false;
static SlPart inline_part;

/*
 * Static base credentials from securitylake.credential: in MADV_DONTDUMP pages of
 * their own (aws_secret_strdup), wiped when replaced.
 */
static char *static_akid = NULL;
static char *static_secret = NULL;
static char *static_token = NULL;
static char static_version[64] = "";

static void
wipe_free(char **p)
{
	aws_secret_free(*p);
	*p = NULL;
}

/*
 * Read the static credentials (if any) — called by the worker in a transaction
 * once per cycle. Only the workers' role and the extension owner can read that
 * table. The copies SPI made are wiped once ours are taken.
 */
/* A copy of a column for our own use, in a DONTDUMP page; SPI's text copy is wiped. */
static char *
take_secret(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *spi_copy = SPI_getvalue(tup, desc, col);
	char	   *ours;

	if (spi_copy == NULL)
		return NULL;
	ours = aws_secret_strdup(spi_copy);
	OPENSSL_cleanse(spi_copy, strlen(spi_copy));
	pfree(spi_copy);
	if (ours == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("securitylake: could not allocate memory for the static credentials")));
	return ours;
}

void
sl_load_static_credentials(void)
{
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *version;

	if (SPI_execute("SELECT c.access_key_id, c.secret_access_key, c.session_token,"
					"       CAST(c.updated_at AS pg_catalog.text)"
					"  FROM securitylake.credential c WHERE c.id OPERATOR(pg_catalog.=) 1", true, 1) != SPI_OK_SELECT)
		return;
	if (SPI_processed == 0)
		version = "";
	else
		version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	if (strcmp(version, static_version) != 0)
	{
		wipe_free(&static_akid);
		wipe_free(&static_secret);
		wipe_free(&static_token);
		if (SPI_processed)
		{
			tup = SPI_tuptable->vals[0];
			desc = SPI_tuptable->tupdesc;
			static_akid = take_secret(tup, desc, 1);
			static_secret = take_secret(tup, desc, 2);
			static_token = take_secret(tup, desc, 3);
		}
		strlcpy(static_version, version, sizeof(static_version));
	}
	/* The row SPI copied holds the keys too. */
	if (SPI_processed)
		OPENSSL_cleanse(SPI_tuptable->vals[0]->t_data, SPI_tuptable->vals[0]->t_len);
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

/*
 * What a client is built from. The allow-list is part of it: a client built
 * before the superuser shortened securitylake.allowed_endpoints is rebuilt, and
 * its endpoints checked again, before it sends anything more.
 */
static char *
fingerprint(SlSource *source)
{
	return psprintf("%s|%s|%s|%s|%s|%s|%s|%s", source->location, source->role_arn ? source->role_arn : "",
					source->external_id ? source->external_id : "", source->region,
					JsonbToCString(NULL, &source->options->root, VARSIZE(source->options)),
					static_version, static_akid ? static_akid : "",
					sl_allowed_endpoints ? sl_allowed_endpoints : "");
}

/*
 * The account that must own the bucket (x-amz-expected-bucket-owner: S3
 * refuses a look-alike bucket of another account): the source's option, or
 * by default the account of its role ARN (the Security Lake account); none
 * without a role, or when the option is false.
 */
static const char *
expected_bucket_owner(SlSource *source)
{
	const char *owner = sl_option_text(source, "expected_bucket_owner");
	const char *arn = source->role_arn;
	const char *p;

	if (owner != NULL)
		return owner;
	if (sl_option_false(source, "expected_bucket_owner") || arn == NULL)
		return NULL;
	/* arn:<partition>:iam::<account>:role/... */
	p = strstr(arn, ":iam::");
	if (p == NULL || strlen(p) < 6 + 12 || p[6 + 12] != ':')
		return NULL;
	return pnstrdup(p + 6, 12);
}

/*
 * Polled by the AWS client at least every 100 ms while a request or a backoff
 * runs: a shutdown request, a cancel or the postmaster's death ends it at once.
 * Runs under libcurl: it must not ereport (it only reads flags).
 */
static bool
interrupted(void *ctx)
{
	(void) ctx;
	if (abandon_part || ShutdownRequestPending || QueryCancelPending || ProcDiePending)
		return true;
	/*
	 * On the part's thread only the flag the postmaster-death signal sets is
	 * read: PostmasterIsAlive() would read the pipe and may elog.
	 */
	if (!pthread_equal(pthread_self(), worker_thread))
	{
#ifdef USE_POSTMASTER_DEATH_SIGNAL
		return postmaster_possibly_dead;
#else
		return false;
#endif
	}
	return !PostmasterIsAlive();
}

static aws_client *
build_client(SlSource *source, char **error)
{
	aws_config	cfg;
	aws_error	err;
	aws_client *client;
	aws_tag		tag;
	char	   *session = psprintf("securitylake-%s", source->name);
	char	   *why;

	worker_thread = pthread_self();
	aws_config_init(&cfg);
	cfg.region = bucket_region(source);
	cfg.s3_endpoint = sl_option_text(source, "endpoint");
	cfg.sts_endpoint = sl_option_text(source, "sts_endpoint");
	/* Checked again here: the superuser may have shortened the list since. */
	if ((cfg.s3_endpoint && (why = sl_endpoint_refused(cfg.s3_endpoint)) != NULL) ||
		(cfg.sts_endpoint && (why = sl_endpoint_refused(cfg.sts_endpoint)) != NULL))
	{
		*error = psprintf("source \"%s\" may not send requests to %s: %s (securitylake.allowed_endpoints)",
						  source->name, cfg.s3_endpoint && sl_endpoint_refused(cfg.s3_endpoint) ? cfg.s3_endpoint : cfg.sts_endpoint,
						  why);
		return NULL;
	}
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
	cfg.expected_bucket_owner = expected_bucket_owner(source);
	cfg.interrupt_fn = interrupted;
#ifdef SL_TEST_HOOKS
	/* Only sources on AWS's own endpoints are routed (a source with an endpoint option is not). */
	if (sl_test_connect_to && sl_test_connect_to[0] && cfg.s3_endpoint == NULL && cfg.sts_endpoint == NULL)
		cfg.connect_to = sl_test_connect_to;
#endif
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
	char		name[SL_NAME_SIZE];

	/* Its thread has the client: every call waits for the part (or abandons it) first. */
	if (aws_part_sender_busy(sender))
		elog(ERROR, "securitylake: an S3 call was made while a part was in flight");
	if (clients == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = SL_NAME_SIZE;
		ctl.entrysize = sizeof(SlClientEntry);
		clients = hash_create("securitylake clients", 16, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	memset(name, 0, sizeof(name));
	strlcpy(name, source->name, sizeof(name));
	entry = hash_search(clients, name, HASH_ENTER, &found);
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
		hash_search(clients, name, HASH_REMOVE, NULL);
	return entry->client;
}

static char *
describe(const aws_error *err, SlSource *source)
{
	char		buf[1024];

	aws_error_format(err, buf, sizeof(buf));
	return psprintf("%s (source \"%s\", bucket %s)", buf, source->name, source->bucket);
}

/* Parts of 16 MiB: few requests, and well under the row group in memory. */
size_t
sl_s3_part_size(void)
{
	return (size_t) 16 * 1024 * 1024;
}

#define PARQUET_CONTENT_TYPE "application/vnd.apache.parquet"

bool
sl_s3_put(SlSource *source, const char *key, const void *data, size_t len, char **error)
{
	aws_client *client = client_for(source, error);
	aws_error	err;

	if (client == NULL)
		return false;
	if (aws_put_object(client, source->bucket, key, data, len, PARQUET_CONTENT_TYPE, &err) != 0)
	{
		*error = describe(&err, source);
		return false;
	}
	return true;
}

/* CreateMultipartUpload with at most max_attempts tries (0: the client's own number). */
static bool
multipart_create(SlSource *source, const char *key, int max_attempts, char **upload_id, char **error)
{
	aws_client *client = client_for(source, error);
	aws_error	err;
	char	   *id = NULL;
	int			was = 0;
	int			rc;

	if (client == NULL)
		return false;
	if (max_attempts > 0)
		was = aws_client_set_max_attempts(client, max_attempts);
	rc = aws_multipart_create(client, source->bucket, key, PARQUET_CONTENT_TYPE, &id, &err);
	if (max_attempts > 0)
		aws_client_set_max_attempts(client, was);
	if (rc != 0)
	{
		*error = describe(&err, source);
		return false;
	}
	*upload_id = pstrdup(id);
	free(id);
	return true;
}

bool
sl_s3_multipart_create(SlSource *source, const char *key, char **upload_id, char **error)
{
	return multipart_create(source, key, 0, upload_id, error);
}

bool
sl_s3_multipart_create_once(SlSource *source, const char *key, char **upload_id, char **error)
{
	return multipart_create(source, key, 1, upload_id, error);
}

/*
 * Before the process exits (an ERROR's FATAL, proc_exit): the part's thread must not
 * run on while the process tears down the libraries it is in.
 */
static void
stop_part_in_flight(int code, Datum arg)
{
	(void) code;
	(void) arg;
	sl_s3_upload_part_abandon();
}

/*
 * Start sending a part; sl_s3_upload_part_wait gives its result. DATA must stay as it is
 * until then, and no other part may be started meanwhile.
 */
bool
sl_s3_upload_part_start(SlSource *source, const char *key, const char *upload_id, int number,
						const void *data, size_t len, char **error)
{
	aws_client *client = client_for(source, error);
	aws_error	err;

	if (client == NULL)
		return false;
	if (sender == NULL)
	{
		sender = aws_part_sender_new();
		if (sender == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("securitylake: out of memory")));
		on_proc_exit(stop_part_in_flight, (Datum) 0);
	}
	abandon_part = false;
	if (sl_test_fault_is("nothread", "part") ||
		aws_part_sender_start(sender, client, source->bucket, key, upload_id, number, data, len, &err) != 0)
	{
		/*
		 * No thread (a pids limit, RLIMIT_NPROC, the commit limit for its
		 * stack): the part goes on this one, as before there were threads.
		 */
		static bool told = false;
		char		why[256] = "test fault nothread:part";

		if (!sl_test_fault_is("nothread", "part"))
			aws_error_format(&err, why, sizeof(why));
		ereport(told ? DEBUG1 : LOG,
				(errmsg("securitylake: no thread for part %d of %s: %s; the worker sends it itself", number, key, why),
				 errdetail("Uploads overlap no more with encoding until a thread can be started.")));
		told = true;
		if (aws_multipart_upload_part(client, source->bucket, key, upload_id, number, data, len, &inline_part, &err) != 0)
		{
			*error = describe(&err, source);
			return false;
		}
		sent_inline = true;
	}
	return true;
}

/* The part started last: sent (true, *part filled) or not, or abandoned since (false). */
bool
sl_s3_upload_part_wait(SlSource *source, SlPart *part, char **error)
{
	aws_error	err;

	if (sent_inline)
	{
		*part = inline_part;
		sent_inline = false;
		return true;
	}
	if (!aws_part_sender_busy(sender))
	{
		/* Abandoned since it was started: it must not be counted as sent. */
		*error = psprintf("the part in flight was abandoned (source \"%s\", bucket %s)", source->name, source->bucket);
		return false;
	}
	if (aws_part_sender_wait(sender, part, &err) != 0)
	{
		*error = describe(&err, source);
		return false;
	}
	return true;
}

/* Give up the part in flight (an ERROR unwinds the delivery): ended at once, then joined. */
void
sl_s3_upload_part_abandon(void)
{
	sent_inline = false;
	if (!aws_part_sender_busy(sender))
		return;
	abandon_part = true;
	(void) aws_part_sender_wait(sender, NULL, NULL);
	abandon_part = false;
}

bool
sl_s3_multipart_complete(SlSource *source, const char *key, const char *upload_id,
						 const SlPart *parts, int nparts, char **error)
{
	aws_client *client = client_for(source, error);
	aws_error	err;

	if (client == NULL)
		return false;
	if (aws_multipart_complete(client, source->bucket, key, upload_id, parts, nparts, &err) != 0)
	{
		*error = describe(&err, source);
		return false;
	}
	return true;
}

const char *
sl_s3_bucket_region(SlSource *source)
{
	char	   *error = NULL;
	aws_client *client = client_for(source, &error);

	return client ? aws_client_bucket_region(client) : NULL;
}

bool
sl_s3_multipart_abort(SlSource *source, const char *key, const char *upload_id, char **error)
{
	aws_client *client;
	aws_error	err;

	/* A part of the upload being aborted has no use left. */
	sl_s3_upload_part_abandon();
	client = client_for(source, error);
	if (client == NULL)
		return false;
	if (aws_abort_multipart_upload(client, source->bucket, key, upload_id, &err) != 0)
	{
		/*
		 * Security Lake's provider role may not abort (its permissions
		 * boundary allows PutObject, GetObject, ListBucket and
		 * GetBucketLocation only). An upload never completed writes nothing
		 * at the key, so the delivery goes on without it: waiting for an
		 * abort that is never allowed would stall the source for good.
		 */
		if (err.http_status == 403 && strcmp(err.code, "AccessDenied") == 0)
		{
			ereport(LOG,
					(errmsg("securitylake: source \"%s\" may not abort the unfinished multipart upload of %s; it is left to the bucket's lifecycle rules",
							source->name, key),
					 errhint("A lifecycle rule with AbortIncompleteMultipartUpload removes such uploads' parts.")));
			return true;
		}
		*error = describe(&err, source);
		return false;
	}
	return true;
}
