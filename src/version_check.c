/*-------------------------------------------------------------------------
 *
 * version_check.c
 *		The installed extension's version against the library's EXTVERSION.
 *
 * Reads pg_extension directly (as commands/extension.c does): no SPI, so it
 * fits inside any step of the worker that already holds a transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "version_check.h"

#define SL_EXTENSION_NAME "securitylake"

/* extversion of the extension, palloc'd in the current context, or NULL if absent. */
static char *
installed_extension_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(SL_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

bool
sl_extension_version_ok(char *message, size_t message_size)
{
	char	   *installed = installed_extension_version();
	char	   *database = get_database_name(MyDatabaseId);
	bool		ok = installed != NULL && strcmp(installed, EXTVERSION) == 0;

	if (!ok && message_size > 0)
	{
		if (installed == NULL)
			snprintf(message, message_size,
					 "extension \"%s\" is not installed in database \"%s\" (the library is version %s)",
					 SL_EXTENSION_NAME, database ? database : "?", EXTVERSION);
		else
			snprintf(message, message_size,
					 "extension \"%s\" in database \"%s\" is version %s but its library is version %s",
					 SL_EXTENSION_NAME, database ? database : "?", installed, EXTVERSION);
	}
	if (installed)
		pfree(installed);
	if (database)
		pfree(database);
	return ok;
}
