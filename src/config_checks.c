/*-------------------------------------------------------------------------
 *
 * config_checks.c
 *		What only the superuser decides.
 *
 * A source's endpoint and sts_endpoint receive requests signed with the
 * server's AWS identity (or the source's assumed role). securitylake_admin may
 * configure sources, but may point them only at AWS's own S3/STS/Security
 * Lake host names over https, or at endpoints the superuser listed in
 * securitylake.allowed_endpoints (postgresql.conf). The check applies to every
 * caller and to the worker itself: the superuser's consent is the list. The
 * CA file a source trusts is settable by a superuser only (10-config.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "aws/aws.h"
#include "config_checks.h"
#include "securitylake.h"

char *
sl_endpoint_refused(const char *url)
{
	char		why[512];

	if (aws_endpoint_check(url, sl_allowed_endpoints ? sl_allowed_endpoints : "", why, sizeof(why)) == 0)
		return NULL;
	/* A sentence, as a DETAIL is. */
	if (why[0] >= 'a' && why[0] <= 'z')
		why[0] = why[0] - 'a' + 'A';
	return pstrdup(why);
}

/* securitylake._check_endpoint(url, what): raises unless url is allowed. */
PG_FUNCTION_INFO_V1(securitylake_check_endpoint);
Datum
securitylake_check_endpoint(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *why = sl_endpoint_refused(url);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" is not allowed", what, url),
				 errdetail("%s", why),
				 errhint("Use AWS's own https endpoint, or ask a superuser to list it in securitylake.allowed_endpoints.")));
	PG_RETURN_VOID();
}

/*
 * securitylake._caller_is_superuser(): is the role that called the SECURITY
 * DEFINER function asking (its outer user, as SET ROLE left it) a superuser?
 */
PG_FUNCTION_INFO_V1(securitylake_caller_is_superuser);
Datum
securitylake_caller_is_superuser(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(superuser_arg(GetOuterUserId()));
}
