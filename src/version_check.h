/*-------------------------------------------------------------------------
 *
 * version_check.h
 *		Does the extension installed in this database match the library?
 *
 * After a package upgrade the new library runs against the SQL objects of
 * the old version until someone runs ALTER EXTENSION securitylake UPDATE.
 * The worker asks this once per cycle and idles (with one LOG line) while
 * the two differ, rather than run new C against old tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SL_VERSION_CHECK_H
#define SL_VERSION_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when pg_extension.extversion of securitylake in the current database
 * equals the library's EXTVERSION. Otherwise false, with a lower-case message
 * (errmsg style) naming both versions and the database written to
 * message[0 .. message_size - 1] (always terminated; may be NULL when
 * message_size is 0); the caller adds the hint (ALTER EXTENSION ... UPDATE).
 * An extension that is not installed is a mismatch too (its message says so).
 *
 * Needs an open transaction (it reads the catalog), nothing else: no SPI.
 */
extern bool sl_extension_version_ok(char *message, size_t message_size);

#endif							/* SL_VERSION_CHECK_H */
