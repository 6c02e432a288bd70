/*-------------------------------------------------------------------------
 *
 * securitylake.c
 *		Module entry point: GUCs, shared memory hooks, worker registration.
 *
 * The extension is layered: this file and its siblings in src/ are the
 * PostgreSQL glue; src/parquet, src/aws and src/ocsf are plain C libraries
 * that know nothing of PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "securitylake.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

char	   *sl_database = NULL;
int			sl_naptime_ms = 1000;
int			sl_max_backoff_s = 300;
int			sl_workers = 1;
char	   *sl_allowed_endpoints = NULL;
#ifdef SL_TEST_HOOKS
char	   *sl_test_fault = NULL;
char	   *sl_test_connect_to = NULL;
#endif

static void
define_gucs(void)
{
	DefineCustomStringVariable("securitylake.database",
							   "Databases whose queues the background workers drain (comma-separated).",
							   "Each listed database gets securitylake.workers workers of its own.",
							   &sl_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("securitylake.workers",
							"Number of background workers draining the queue.",
							"Workers claim disjoint batches; more than one helps with many sources or busy ones.",
							&sl_workers, 1, 0, SL_MAX_WORKERS,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("securitylake.naptime",
							"Time the worker sleeps between checks of the queue when not woken.",
							NULL, &sl_naptime_ms, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("securitylake.max_backoff",
							"Longest wait between delivery attempts of a failing source.",
							NULL, &sl_max_backoff_s, 300, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("securitylake.allowed_endpoints",
							   "Endpoints other than AWS's own that sources may send signed requests to.",
							   "Comma-separated scheme://host[:port] entries (no port: any port of that host). "
							   "AWS's S3, STS and Security Lake host names over https need no entry.",
							   &sl_allowed_endpoints, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
#ifdef SL_TEST_HOOKS
	DefineCustomStringVariable("securitylake.test_fault",
							   "Test hook: fail at a named step of the delivery protocol.",
							   "For the tests only: abort:<step>[:<token>], error:<step>[:<token>] or sleep:<step>:<ms>; steps are claim-begun, page-read, shred, claimed, uploaded, committed-before, committed. With a token it fires once. nothread:part: no thread can be started for a multipart part.",
							   &sl_test_fault, "",
							   PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	DefineCustomStringVariable("securitylake.test_connect_to",
							   "Test hook: route AWS host names to a local endpoint (curl's CONNECT_TO list).",
							   NULL, &sl_test_connect_to, "",
							   PGC_SIGHUP, GUC_NOT_IN_SAMPLE | GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
#endif
	MarkGUCPrefixReserved("securitylake");
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	define_gucs();
	if (!process_shared_preload_libraries_in_progress)
	{
		/*
		 * Loaded on demand (a SQL function was called): flush() then uses a
		 * dynamic worker, so the extension works, but nothing drains the
		 * queue between flushes.
		 */
		return;
	}
	sl_shmem_request();
	sl_register_workers();
}

PG_FUNCTION_INFO_V1(securitylake_version);
Datum
securitylake_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text("securitylake version " EXTVERSION " (build " BUILD_ID ")"));
}

/* The databases listed in securitylake.database, trimmed. */
static List *
database_list(void)
{
	char	   *copy = pstrdup(sl_database ? sl_database : "postgres");
	List	   *names = NIL;

	if (!SplitIdentifierString(copy, ',', &names) || names == NIL)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid securitylake.database: \"%s\"", sl_database),
				 errhint("List database names separated by commas.")));
	return names;
}

int
sl_database_count(void)
{
	return list_length(database_list());
}

char *
sl_database_name(int i)
{
	List	   *names = database_list();

	return list_nth(names, Min(i, list_length(names) - 1));
}

#ifdef SL_TEST_HOOKS
/* "sleep:<step>:<ms>": hold the worker there, interruptibly, to open a race window. */
static void
test_fault_sleep(const char *step, int ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	elog(LOG, "securitylake: test fault: sleeping %d ms at step \"%s\"", ms, step);
	while (GetCurrentTimestamp() < until)
	{
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
}

/*
 * The crash tests' hook (compiled into test builds only: make TEST_HOOKS=1). securitylake.test_fault = "abort:<step>[:<token>]",
 * "error:<step>[:<token>]" or "sleep:<step>:<ms>". With a token the fault fires once: a marker file
 * named after it in the data directory remembers that it fired, so the worker
 * the postmaster restarts after the crash does not crash again.
 */
void
sl_test_fault_point(const char *step)
{
	char	   *spec;
	char	   *kind;
	char	   *at;
	char	   *token;
	char	   *save = NULL;

	if (sl_test_fault == NULL || sl_test_fault[0] == '\0')
		return;
	spec = pstrdup(sl_test_fault);
	kind = strtok_r(spec, ":", &save);
	at = strtok_r(NULL, ":", &save);
	token = strtok_r(NULL, ":", &save);
	if (kind == NULL || at == NULL || strcmp(at, step) != 0)
		return;
	if (strcmp(kind, "sleep") == 0)
	{
		test_fault_sleep(step, token ? atoi(token) : 1000);
		return;
	}
	if (token != NULL)
	{
		char	   *marker = psprintf("%s/securitylake_fault_%s", DataDir, token);
		FILE	   *f;

		if (access(marker, F_OK) == 0)
			return;
		f = fopen(marker, "w");
		if (f)
			fclose(f);
	}
	if (strcmp(kind, "abort") == 0)
	{
		elog(LOG, "securitylake: test fault: abort at step \"%s\"", step);
		abort();
	}
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("securitylake test fault at step \"%s\"", step)));
}

/*
 * A fault that is a state rather than an ERROR or abort, asked for where it applies:
 * "nothread:part" (no thread can be started for a multipart part).
 */
bool
sl_test_fault_is(const char *kind, const char *step)
{
	size_t		klen = strlen(kind);

	return sl_test_fault != NULL && strncmp(sl_test_fault, kind, klen) == 0 &&
		sl_test_fault[klen] == ':' && strcmp(sl_test_fault + klen + 1, step) == 0;
}

/*
 * "error:event:<uid>": raise an ERROR of the batch (outside the encoder's
 * per-event containment) while the event whose metadata.uid is <uid> is
 * encoded — how the tests make a batch fail for one event's sake.
 */
void
sl_test_fault_event(Jsonb *event)
{
	const char *prefix = "error:event:";
	JsonbValue	meta;
	JsonbValue	uid;

	if (sl_test_fault == NULL || strncmp(sl_test_fault, prefix, strlen(prefix)) != 0)
		return;
	if (getKeyJsonValueFromContainer(&event->root, "metadata", 8, &meta) == NULL ||
		meta.type != jbvBinary || !JsonContainerIsObject(meta.val.binary.data) ||
		getKeyJsonValueFromContainer(meta.val.binary.data, "uid", 3, &uid) == NULL ||
		uid.type != jbvString)
		return;
	if ((size_t) uid.val.string.len == strlen(sl_test_fault + strlen(prefix)) &&
		memcmp(uid.val.string.val, sl_test_fault + strlen(prefix), uid.val.string.len) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("securitylake test fault while encoding event %s", sl_test_fault + strlen(prefix))));
}
#endif							/* SL_TEST_HOOKS */
