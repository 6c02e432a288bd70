-- pgTAP: privileges, SECURITY DEFINER with pinned search_path, search_path tricks, secrets.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS securitylake;
SELECT plan(56);

-- Throwaway login-less roles: a member of each group role, and one with nothing.
CREATE ROLE t_nobody NOLOGIN;
CREATE ROLE t_usage NOLOGIN;                       -- schema USAGE but no table grants
GRANT USAGE ON SCHEMA securitylake TO t_usage;
CREATE ROLE t_writer NOLOGIN IN ROLE securitylake_writer;
CREATE ROLE t_admin NOLOGIN IN ROLE securitylake_admin;
GRANT t_nobody, t_usage, t_writer, t_admin TO current_user;   -- so SET ROLE works for a non-superuser runner too

SELECT securitylake.create_source('sec_src', 's3://bucket-sec/ext/sec_src/', 'arn:aws:iam::123456789012:role/p',
                                  'external-id-sec', 3002, 'us-east-1', '123456789012');
SELECT securitylake.set_credentials('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY', 'SESSIONTOKENsecretFwoGZXIvYXdzEJr');
INSERT INTO securitylake.dead_letter (source, event, reason, enqueued_at) VALUES ('sec_src', '{"class_uid": 3002}', 'missing time', now());

-- Nothing for PUBLIC: every function, table and view has an explicit ACL without a PUBLIC entry.
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
            WHERE p.pronamespace = 'securitylake'::regnamespace
              AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))),
          NULL, 'no function is executable by PUBLIC');
SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c
            WHERE c.relnamespace = 'securitylake'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm', 'p')
              AND (c.relacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0))),
          NULL, 'no table, view or sequence is accessible by PUBLIC');
SELECT ok(NOT has_schema_privilege('t_nobody', 'securitylake', 'USAGE'), 'a role without grants has no schema usage');

-- Every function in plpgsql/sql pins search_path to pg_catalog, pg_temp; those callers use to
-- act on tables they have no grant on are SECURITY DEFINER. The workers' helpers run as their
-- caller (securitylake_worker) on purpose. source_route_keys is a SQL-standard body
-- (RETURN …): parsed once at creation, so no search_path applies to it at run time;
-- route_key is C (every producer's row computes it).
-- validate reads a source's row, so it is a SECURITY DEFINER C function with the pinned
-- search_path (checked in sql/validate.sql).
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.pronamespace = 'securitylake'::regnamespace AND l.lanname IN ('plpgsql', 'sql')$$,
              ARRAY['_validate_parquet_schema', '_validate_source', 'create_source', 'alter_source', 'drop_source',
                    'set_credentials', 'clear_credentials', 'retry_dead_letter', '_check_backpressure', '_sync_backpressure_trigger',
                    'source_route_keys', '_queued_keys', '_flush_pending', '_flush_skipped',
                    'event_class_name', '_delete_custom_source', '_check_registration', 'register_custom_source',
                    'deregister_custom_source', 'dead_letter_reason_class', 'error_code', '_queue_depth'],
              'the SQL-level functions are the expected ones');
SELECT is((SELECT string_agg(p.proname, ', ') FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.pronamespace = 'securitylake'::regnamespace AND l.lanname IN ('plpgsql', 'sql')
              AND p.prosqlbody IS NULL
              AND NOT (p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']
                       AND (p.prosecdef OR p.proname IN ('_queued_keys', '_flush_pending', '_flush_skipped')))),
          NULL, 'every plpgsql/sql function pins search_path = pg_catalog, pg_temp; all but the workers'' helpers are SECURITY DEFINER');
SELECT is((SELECT string_agg(p.proname, ', ') FROM pg_proc p
            WHERE p.pronamespace = 'securitylake'::regnamespace AND p.prosqlbody IS NOT NULL
              AND p.proname NOT IN ('source_route_keys', '_queued_keys', 'event_class_name', 'dead_letter_reason_class', 'error_code')),
          NULL, 'only source_route_keys, _queued_keys and the pure mappings (event_class_name, dead_letter_reason_class, error_code) have SQL-standard bodies');
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.pronamespace = 'securitylake'::regnamespace AND l.lanname = 'c'$$,
              ARRAY['version', 'flush', '_ocsf_classes', 'parquet_schema', '_check_endpoint', '_caller_is_superuser',
                    '_bp_cached', '_bp_remember', '_raw_size', '_worker_alive', 'validate', '_securitylake_request', '_aws_account',
                    'route_key', '_check_tag_schema'],
              'the C functions are the listed ones');

-- A role without grants reads nothing.
SET LOCAL ROLE t_nobody;
SELECT throws_ok('SELECT * FROM securitylake.sources', '42501', NULL, 'nobody cannot read sources');
SELECT throws_ok('SELECT * FROM securitylake.credential', '42501', NULL, 'nobody cannot read credential');
SELECT throws_ok('SELECT * FROM securitylake.queue', '42501', NULL, 'nobody cannot read the queue');
SELECT throws_ok('SELECT * FROM securitylake.dead_letter', '42501', NULL, 'nobody cannot read dead letters');
SELECT throws_ok($$INSERT INTO securitylake.queue (event) VALUES ('{}')$$, '42501', NULL, 'nobody cannot insert into the queue');
RESET ROLE;
SET LOCAL ROLE t_usage;
SELECT throws_ok('SELECT * FROM securitylake.sources', '42501', 'permission denied for view sources', 'schema usage alone does not open sources');
SELECT throws_ok('SELECT * FROM securitylake.credential', '42501', 'permission denied for table credential', '... nor credential');
SELECT throws_ok('SELECT * FROM securitylake.queue', '42501', 'permission denied for table queue', '... nor the queue');
SELECT throws_ok('SELECT * FROM securitylake.dead_letter', '42501', 'permission denied for table dead_letter', '... nor dead letters');
SELECT throws_ok($$SELECT securitylake.create_source('x', 's3://bucket-x/', NULL, NULL, 3002, 'us-east-1', 'external')$$,
                 '42501', NULL, '... nor create_source');
RESET ROLE;

-- securitylake_writer: INSERT into the queue, nothing else (the identity column needs no sequence grant).
SET LOCAL ROLE t_writer;
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event, region, account_id) VALUES ('sec_src', '{"class_uid": 3002}', 'us-east-1', '123456789012')$$,
                'a writer inserts into the queue');
SELECT throws_ok('SELECT * FROM securitylake.queue', '42501', NULL, 'a writer cannot read the queue');
SELECT throws_ok('UPDATE securitylake.queue SET source = NULL', '42501', NULL, 'a writer cannot update the queue');
SELECT throws_ok('DELETE FROM securitylake.queue', '42501', NULL, 'a writer cannot delete from the queue');
SELECT throws_ok('SELECT * FROM securitylake.sources', '42501', NULL, 'a writer cannot read sources');
SELECT throws_ok('SELECT * FROM securitylake.status', '42501', NULL, 'a writer cannot read status');
SELECT throws_ok('SELECT * FROM securitylake.dead_letter', '42501', NULL, 'a writer cannot read dead letters');
SELECT throws_ok('SELECT * FROM securitylake.credential', '42501', NULL, 'a writer cannot read credential');
SELECT throws_ok($$INSERT INTO securitylake.dead_letter (event, reason, enqueued_at) VALUES ('{}', 'x', now())$$, '42501', NULL,
                 'a writer cannot insert dead letters');
SELECT throws_ok($$SELECT securitylake.drop_source('sec_src', true)$$, '42501', NULL, 'a writer cannot drop a source');
SELECT throws_ok($$SELECT securitylake.set_credentials('AKIAIOSFODNN7EXAMPLE', 'x234567890123456')$$, '42501', NULL, 'a writer cannot set credentials');
SELECT throws_ok($$SELECT securitylake.retry_dead_letter()$$, '42501', NULL, 'a writer cannot retry dead letters');
SELECT is(securitylake.version() IS NOT NULL, true, 'a writer may call version()');
RESET ROLE;
-- The backpressure trigger fires for a writer (trigger functions need no EXECUTE grant).
SELECT securitylake.alter_source('sec_src', options => '{"max_queued_rows": 1}');
SET LOCAL ROLE t_writer;
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('sec_src', '{"class_uid": 3002}')$$, '54000', NULL,
                 'a writer over the cap gets the backpressure error');
RESET ROLE;
SELECT securitylake.alter_source('sec_src', options => '{"max_queued_rows": null}');

-- securitylake_admin: configure and read everything but credentials.
SET LOCAL ROLE t_admin;
SELECT lives_ok($$SELECT securitylake.create_source('sec_adm', 's3://bucket-sec/adm/', NULL, NULL, 4001, 'us-east-1', 'external')$$, 'an admin creates a source');
SELECT lives_ok($$SELECT securitylake.alter_source('sec_adm', publish_rate => '1 hour')$$, 'an admin alters a source');
SELECT lives_ok($$SELECT * FROM securitylake.sources$$, 'an admin reads sources');
SELECT lives_ok($$SELECT * FROM securitylake.status$$, 'an admin reads status');
SELECT lives_ok($$SELECT * FROM securitylake.queue$$, 'an admin reads the queue');
SELECT lives_ok($$SELECT * FROM securitylake.dead_letter$$, 'an admin reads dead letters');
SELECT lives_ok($$SELECT * FROM securitylake.uploads$$, 'an admin reads uploads');
SELECT throws_ok('SELECT * FROM securitylake.credential', '42501', NULL, 'an admin cannot read credential');
SELECT throws_ok($$INSERT INTO securitylake.queue (event) VALUES ('{}')$$, '42501', NULL, 'an admin is not a producer');
SELECT throws_ok($$DELETE FROM securitylake.source$$, '42501', NULL, 'an admin changes sources only through the functions');
SELECT lives_ok($$SELECT securitylake.set_credentials('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY', 'SESSIONTOKENsecretFwoGZXIvYXdzEJr')$$,
                'an admin sets credentials');
SELECT lives_ok($$SELECT securitylake.drop_source('sec_adm')$$, 'an admin drops a source');
RESET ROLE;

-- set_credentials validation and storage; no view shows a secret.
SELECT throws_ok($$SELECT securitylake.set_credentials('short', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')$$, '22023', 'invalid access key id', 'a bad access key id is refused');
SELECT throws_ok($$SELECT securitylake.set_credentials('AKIAIOSFODNN7EXAMPLE', 'short')$$, '22023', 'invalid secret access key', 'a short secret is refused');
CREATE FUNCTION pg_temp.views_showing(secret text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v record; hit bool; found text := NULL;
BEGIN
    FOR v IN SELECT c.oid::regclass AS rel FROM pg_class c WHERE c.relnamespace = 'securitylake'::regnamespace AND c.relkind IN ('v', 'm') LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE strpos(t::text, $1) > 0)', v.rel) INTO hit USING secret;
        IF hit THEN found := concat_ws(', ', found, v.rel::text); END IF;
    END LOOP;
    RETURN found;
END $$;
SELECT is(pg_temp.views_showing('SECRETKEY'), NULL, 'no view shows the secret access key');
SELECT is(pg_temp.views_showing('SESSIONTOKEN'), NULL, 'no view shows the session token');
SELECT is(pg_temp.views_showing('AKIAIOSFODNN7EXAMPLE'), NULL, 'no view shows the access key id');
SELECT is((SELECT count(*)::int FROM securitylake.credential WHERE secret_access_key LIKE '%SECRETKEY'), 1, 'the owner finds the credential stored');
SELECT lives_ok($$SELECT securitylake.clear_credentials()$$, 'clear_credentials');
SELECT is((SELECT count(*)::int FROM securitylake.credential), 0, 'removes them');

-- search_path tricks: a hostile schema first on the path does not change what the functions do.
CREATE SCHEMA t_evil;
CREATE FUNCTION t_evil.never_matches(text, text) RETURNS bool LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR t_evil.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = t_evil.never_matches);
CREATE FUNCTION t_evil.regexp_match(text, text) RETURNS text[] LANGUAGE sql AS $$SELECT ARRAY['evil-bucket', '/p', 'p']$$;
CREATE TABLE t_evil.source (LIKE securitylake.source);
SET LOCAL search_path = t_evil, pg_catalog, public;
SELECT is('us-east-1' !~ 'x', false, 'the hostile !~ operator is in effect for unpinned code');
SELECT throws_ok($$SELECT securitylake.create_source('evil1', 's3://bucket-e/x/', NULL, NULL, 4002, 'not a region', 'external')$$,
                 '22023', 'invalid region "not a region"', 'create_source still validates under a hostile search_path');
SELECT lives_ok($$SELECT securitylake.create_source('evil2', 's3://bucket-e/x', NULL, NULL, 4002, 'us-west-2', 'external')$$,
                'create_source works under a hostile search_path');
RESET search_path;
SELECT results_eq($$SELECT bucket, prefix FROM securitylake.source WHERE name = 'evil2'$$, $$VALUES ('bucket-e', 'x/')$$,
                  'and stores what the real functions compute, in the real table');
SELECT is((SELECT count(*)::int FROM t_evil.source), 0, 'the hostile table was not touched');

SELECT * FROM finish();
ROLLBACK;
