/*-------------------------------------------------------------------------
 *
 * securitylake.c
 *		Module entry point: GUCs, background worker registration, version.
 *
 * The extension is layered: this file and its siblings in src/ are the
 * PostgreSQL glue; src/parquet and src/aws are plain C libraries that know
 * nothing of PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(securitylake_version);

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	MarkGUCPrefixReserved("securitylake");
}

Datum
securitylake_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text("securitylake version " EXTVERSION " (build " BUILD_ID ")"));
}
