-- securitylake install script (unversioned; the Makefile copies it to securitylake--<version>.sql)
\echo Use "CREATE EXTENSION securitylake" to load this file. \quit

-- The schema is created by CREATE EXTENSION (control file: schema = securitylake).
REVOKE ALL ON SCHEMA securitylake FROM PUBLIC;

CREATE FUNCTION securitylake.version() RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'securitylake_version';
COMMENT ON FUNCTION securitylake.version() IS 'securitylake version and build';
