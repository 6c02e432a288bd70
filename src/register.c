/*-------------------------------------------------------------------------
 *
 * register.c
 *		Security Lake's control plane from SQL: the two AWS calls behind
 *		securitylake.register_custom_source and deregister_custom_source
 *		(sql/install/70-register.sql builds the requests and reads the answers
 *		with jsonb; nothing here knows what a custom source is).
 *
 *   _aws_account(region, sts_endpoint, ca_file)
 *		STS GetCallerIdentity: the account of the server's own AWS identity
 *		(CreateCustomLogSource's providerIdentity.principal).
 *   _securitylake_request(operation, method, path, body, region,
 *						   securitylake_endpoint, sts_endpoint, ca_file)
 *		one SigV4-signed REST-JSON call to the securitylake service; the answer
 *		as jsonb, or an ERROR whose SQLSTATE follows the AWS error type.
 *
 * The identity is the worker's: the static keys of securitylake.credential if
 * set, else the AWS credential chain of the server process. An endpoint other
 * than AWS's own must be in securitylake.allowed_endpoints. The functions are
 * internal (granted to no one): the SECURITY DEFINER wrappers call them, as
 * the extension's owner, who alone may read securitylake.credential. The keys
 * are copied out of SPI's tuple (which is wiped), live for one call, and are
 * wiped before anything is reported.
 *
 * The client is built here rather than through upload.c: upload.c keeps one
 * client per source for the worker; these are single calls of a backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/pmsignal.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "aws/aws.h"
#include "config_checks.h"
#include "securitylake.h"

/* Where the control-plane calls go; NULL members mean AWS's own endpoints. */
typedef struct SlControlPlane
{
	const char *region;
	const char *securitylake_endpoint;
	const char *sts_endpoint;
	const char *ca_file;
} SlControlPlane;

/* Static base keys of securitylake.credential (malloc'd; all NULL: use the chain). */
typedef struct SlBaseKeys
{
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;
} SlBaseKeys;

static char *
arg_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

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

static void
wipe_keys(SlBaseKeys *keys)
{
	wipe_free(&keys->access_key_id);
	wipe_free(&keys->secret_access_key);
	wipe_free(&keys->session_token);
}

/* A column of the credential row, copied for our own use; SPI's text copy is wiped. */
static char *
take_secret(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *spi_copy = SPI_getvalue(tup, desc, col);
	char	   *ours;

	if (spi_copy == NULL)
		return NULL;
	ours = strdup(spi_copy);
	OPENSSL_cleanse(spi_copy, strlen(spi_copy));
	pfree(spi_copy);
	if (ours == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return ours;
}

/* The static base keys, if set (as the caller: the extension's owner). */
static void
load_static_keys(SlBaseKeys *keys)
{
	HeapTuple	tup;

	memset(keys, 0, sizeof(*keys));
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("securitylake: SPI_connect failed")));
	if (SPI_execute("SELECT c.access_key_id, c.secret_access_key, c.session_token"
					"  FROM securitylake.credential c WHERE c.id OPERATOR(pg_catalog.=) 1", true, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("securitylake: could not read the static credentials")));
	if (SPI_processed == 1)
	{
		tup = SPI_tuptable->vals[0];
		keys->access_key_id = take_secret(tup, SPI_tuptable->tupdesc, 1);
		keys->secret_access_key = take_secret(tup, SPI_tuptable->tupdesc, 2);
		keys->session_token = take_secret(tup, SPI_tuptable->tupdesc, 3);
		/* The row SPI copied holds the keys too. */
		OPENSSL_cleanse(tup->t_data, tup->t_len);
	}
	SPI_finish();
}

/* Signed requests go only where the superuser allowed (securitylake.allowed_endpoints). */
static void
check_endpoint(const char *what, const char *url)
{
	char	   *why;

	if (url == NULL)
		return;
	why = sl_endpoint_refused(url);
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" is not allowed", what, url),
				 errdetail("%s", why),
				 errhint("Use AWS's own https endpoint, or ask a superuser to list it in securitylake.allowed_endpoints.")));
}

/*
 * Polled by the AWS client while a call waits: a cancel (statement_timeout,
 * pg_cancel_backend), a terminate or the postmaster's death ends it. Runs
 * under libcurl: it only reads flags.
 */
static bool
interrupted(void *ctx)
{
	(void) ctx;
	return QueryCancelPending || ProcDiePending || !PostmasterIsAlive();
}

/* NULL with *err when the configuration is unusable. */
static aws_client *
new_client(const SlControlPlane *cp, const SlBaseKeys *keys, aws_error *err)
{
	aws_config	cfg;

	aws_config_init(&cfg);
	cfg.region = cp->region;
	cfg.securitylake_endpoint = cp->securitylake_endpoint;
	cfg.sts_endpoint = cp->sts_endpoint;
	cfg.ca_file = cp->ca_file;
	cfg.access_key_id = keys->access_key_id;
	cfg.secret_access_key = keys->secret_access_key;
	cfg.session_token = keys->session_token;
	cfg.interrupt_fn = interrupted;
	/* An admin waits at the prompt: give up sooner than the worker does. */
	cfg.max_elapsed_ms = 30000;
#ifdef SL_TEST_HOOKS
	if (sl_test_connect_to && sl_test_connect_to[0])
		cfg.connect_to = sl_test_connect_to;
#endif
	return aws_client_new(&cfg, err);
}

/* The SQLSTATE of an AWS error: what the caller can do about it. */
static int
sqlstate_for(const aws_error *err)
{
	static const struct
	{
		const char *code;
		int			sqlstate;
	}			map[] = {
		{"AccessDeniedException", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"AccessDenied", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"ConflictException", ERRCODE_DUPLICATE_OBJECT},
		{"BadRequestException", ERRCODE_INVALID_PARAMETER_VALUE},
		{"ValidationException", ERRCODE_INVALID_PARAMETER_VALUE},
		{"ValidationError", ERRCODE_INVALID_PARAMETER_VALUE},
		{"ResourceNotFoundException", ERRCODE_UNDEFINED_OBJECT},
		{"UnrecognizedClientException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"InvalidSignatureException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"SignatureDoesNotMatch", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"InvalidClientTokenId", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"ExpiredToken", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"ExpiredTokenException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"NoCredentials", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"InvalidConfig", ERRCODE_INVALID_PARAMETER_VALUE},
		{"Interrupted", ERRCODE_QUERY_CANCELED},
	};
	size_t		i;

	for (i = 0; i < lengthof(map); i++)
		if (strcmp(err->code, map[i].code) == 0)
			return map[i].sqlstate;
	/* No answer, a 5xx or throttling (after the client's retries): try again later. */
	if (err->http_status == 0 || err->http_status >= 500 || err->http_status == 429 || err->retryable)
		return ERRCODE_CONNECTION_FAILURE;
	return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
}

static const char *
hint_for(const aws_error *err)
{
	if (strcmp(err->code, "ConflictException") == 0)
		return "A custom source of this name and version already exists in Security Lake: use another name or version, or remove it with securitylake.deregister_custom_source.";
	if (strcmp(err->code, "AccessDeniedException") == 0 || strcmp(err->code, "AccessDenied") == 0)
		return "The server's AWS identity needs the Security Lake permissions listed in docs/aws-setup.md.";
	if (strcmp(err->code, "ResourceNotFoundException") == 0)
		return "Check the region: Security Lake must be enabled there, and a custom source to remove must exist there.";
	if (strcmp(err->code, "BadRequestException") == 0)
		return "Check the source name (at most 20 characters), version, event class, crawler role ARN and principal.";
	if (sqlstate_for(err) == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION)
		return "Check the server's AWS credentials (securitylake.set_credentials, or the credential chain of the server's OS user).";
	if (sqlstate_for(err) == ERRCODE_CONNECTION_FAILURE)
		return "Security Lake or STS could not be reached or failed; try again later.";
	return NULL;
}

/* ERROR for a failed call; *err holds nothing secret (src/aws guarantees it). */
static void
report_aws_error(const char *operation, const aws_error *err)
{
	char		detail[1024];
	const char *hint = hint_for(err);

	if (strcmp(err->code, "Interrupted") == 0)
		CHECK_FOR_INTERRUPTS();
	aws_error_format(err, detail, sizeof(detail));
	ereport(ERROR,
			(errcode(sqlstate_for(err)),
			 errmsg("%s failed: %s", operation, err->code),
			 errdetail("%s", detail),
			 hint ? errhint("%s", hint) : 0));
}

/* The answer as jsonb ('{}' for an empty body). */
static Datum
answer_jsonb(const char *operation, const char *body)
{
	const char *p = body;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p == '\0')
		return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	if (*p != '{')
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s answered with something other than a JSON object", operation)));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(body));
}

static void
read_plane(FunctionCallInfo fcinfo, int first, SlControlPlane *cp)
{
	cp->region = arg_text(fcinfo, first);
	cp->securitylake_endpoint = arg_text(fcinfo, first + 1);
	cp->sts_endpoint = arg_text(fcinfo, first + 2);
	cp->ca_file = arg_text(fcinfo, first + 3);
	if (cp->region == NULL)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the region may not be null")));
	check_endpoint("securitylake_endpoint", cp->securitylake_endpoint);
	check_endpoint("sts_endpoint", cp->sts_endpoint);
}

/*
 * securitylake._securitylake_request(operation, method, path, body, region,
 *		securitylake_endpoint, sts_endpoint, ca_file) RETURNS jsonb
 */
PG_FUNCTION_INFO_V1(securitylake_securitylake_request);
Datum
securitylake_securitylake_request(PG_FUNCTION_ARGS)
{
	char	   *operation = arg_text(fcinfo, 0);
	char	   *method = arg_text(fcinfo, 1);
	char	   *path = arg_text(fcinfo, 2);
	Jsonb	   *request = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	char	   *body = request ? JsonbToCString(NULL, &request->root, VARSIZE(request)) : NULL;
	SlControlPlane cp;
	SlBaseKeys	keys;
	aws_client *client;
	aws_error	err;
	long		status = 0;
	char	   *answer = NULL;
	char		error_type[128];
	int			rc = -1;
	char	   *copy;

	if (operation == NULL || method == NULL || path == NULL)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("operation, method and path may not be null")));
	read_plane(fcinfo, 4, &cp);
	load_static_keys(&keys);
	client = new_client(&cp, &keys, &err);
	if (client != NULL)
	{
		rc = aws_rest_json(client, "securitylake", method, path, body, &status, &answer,
						   error_type, sizeof(error_type), &err);
		aws_client_free(client);
	}
	wipe_keys(&keys);
	if (client == NULL || rc != 0)
	{
		free(answer);
		report_aws_error(operation, &err);
	}
	copy = pstrdup(answer ? answer : "");
	free(answer);
	PG_RETURN_DATUM(answer_jsonb(operation, copy));
}

/* securitylake._aws_account(region, sts_endpoint, ca_file) RETURNS text */
PG_FUNCTION_INFO_V1(securitylake_aws_account);
Datum
securitylake_aws_account(PG_FUNCTION_ARGS)
{
	SlControlPlane cp;
	SlBaseKeys	keys;
	aws_client *client;
	aws_error	err;
	char		account[32];
	int			rc = -1;

	cp.region = arg_text(fcinfo, 0);
	cp.securitylake_endpoint = NULL;
	cp.sts_endpoint = arg_text(fcinfo, 1);
	cp.ca_file = arg_text(fcinfo, 2);
	if (cp.region == NULL)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the region may not be null")));
	check_endpoint("sts_endpoint", cp.sts_endpoint);
	load_static_keys(&keys);
	client = new_client(&cp, &keys, &err);
	if (client != NULL)
	{
		rc = aws_get_caller_identity(client, account, sizeof(account), NULL, 0, &err);
		aws_client_free(client);
	}
	wipe_keys(&keys);
	if (client == NULL || rc != 0)
		report_aws_error("GetCallerIdentity", &err);
	PG_RETURN_TEXT_P(cstring_to_text(account));
}
