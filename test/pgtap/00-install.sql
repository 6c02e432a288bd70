-- pgTAP: the extension's objects and privileges after CREATE EXTENSION.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS securitylake;
SELECT plan(4);
SELECT has_schema('securitylake');
SELECT has_function('securitylake', 'version', ARRAY[]::text[]);
SELECT ok(NOT has_schema_privilege('public', 'securitylake', 'USAGE'), 'PUBLIC has no usage on the schema');
SELECT matches(securitylake.version(), '^securitylake version ', 'version() names the extension');
SELECT * FROM finish();
ROLLBACK;
