-- The extension installs into its own schema and reports its version.
CREATE EXTENSION securitylake;
SELECT nspname FROM pg_namespace WHERE nspname = 'securitylake';
SELECT securitylake.version() ~ '^securitylake version [0-9]+\.[0-9]+\.[0-9]+ \(build [0-9a-z]+\)$' AS version_ok;
-- Nothing is granted to PUBLIC on the schema.
SELECT has_schema_privilege('public', 'securitylake', 'USAGE') AS public_usage;
DROP EXTENSION securitylake;
-- The schema is created by CREATE EXTENSION (control file) and, as with pg_cron, outlives it.
SELECT count(*) FROM pg_namespace WHERE nspname = 'securitylake';
