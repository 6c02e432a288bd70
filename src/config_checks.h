/*-------------------------------------------------------------------------
 *
 * config_checks.h
 *		What only the superuser decides: where signed requests may go
 *		(securitylake.allowed_endpoints) and which CA a source trusts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SECURITYLAKE_CONFIG_CHECKS_H
#define SECURITYLAKE_CONFIG_CHECKS_H

#include "postgres.h"

/* NULL when url may receive signed requests, else why not (a sentence). */
extern char *sl_endpoint_refused(const char *url);

#endif							/* SECURITYLAKE_CONFIG_CHECKS_H */
