-- pgTAP: issue 11, finding 6: the backpressure verdict was forgeable. 0.1.0 kept the
-- trigger's verdict in the session setting securitylake_bp.verdict, which any producer
-- could set ('99999999999|': "nothing is over its cap until the year 5138"). The verdict now
-- lives in the backend's own memory, behind functions no producer may call. Here a member
-- of securitylake_writer tries the old forgery, then every setting a session can change
-- to every value it can take (every boolean and enum setting of pg_settings a non-superuser
-- may set, both ways), plus a search_path that puts its own temporary tables first: no
-- insert past max_queued_rows gets through.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS securitylake;
SELECT plan(16);

CREATE ROLE t_bp_writer NOLOGIN IN ROLE securitylake_writer;
GRANT t_bp_writer TO current_user;

SELECT securitylake.create_source('bp_src', 's3://bucket-bp/ext/bp/', NULL, NULL, 3002, 'us-east-1', '123456789012',
                                  batch_record_count => 10000000, publish_rate => '1 hour', options => '{"max_queued_rows": 3}');
SELECT securitylake.create_source('bp_free', 's3://bucket-bp/ext/free/', NULL, NULL, 4001, 'us-east-1', '123456789012',
                                  batch_record_count => 10000000, publish_rate => '1 hour');

-- Forget the verdict of the last second (what changing a source does), when there is one
-- to forget (0.1.0 kept it in the session setting instead).
CREATE FUNCTION pg_temp.forget_verdict() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regprocedure('securitylake._bp_remember(text[])') IS NOT NULL THEN
        EXECUTE 'SELECT securitylake._bp_remember(NULL)';
    END IF;
    PERFORM set_config('securitylake_bp.verdict', '', true);
END $$;

SET LOCAL ROLE t_bp_writer;
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('bp_src', '{"class_uid": 3002}'), ('bp_src', '{"class_uid": 3002}'), ('bp_src', '{"class_uid": 3002}')$$,
                'three rows fit under a cap of 3');
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('bp_src', '{"class_uid": 3002}')$$, '54000', NULL,
                 'the fourth is refused');

-- The 0.1.0 forgery, in its forms: "until then, nothing is over its cap".
RESET ROLE;
SELECT pg_temp.forget_verdict();
SET LOCAL ROLE t_bp_writer;
SET LOCAL securitylake_bp.verdict = '99999999999|';
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('bp_src', '{"class_uid": 3002}')$$, '54000', NULL,
                 'a forged verdict in securitylake_bp.verdict does not let a writer past the cap');
SET LOCAL securitylake_bp.verdict = '99999999999|bp_free';
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('bp_src', '{"class_uid": 3002}')$$, '54000', NULL,
                 '... nor one naming another source');
SELECT throws_ok($$SELECT securitylake._bp_remember('{}')$$, '42501', NULL, 'a writer cannot record a verdict');
SELECT throws_ok($$SELECT securitylake._bp_cached()$$, '42501', NULL, '... nor read one');
SELECT throws_ok($$SET session_replication_role = replica$$, '42501', NULL, 'a writer cannot turn triggers off');
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('bp_free', '{"class_uid": 4001}')$$,
                'rows for a source under no cap are not refused');
RESET ROLE;

-- A search_path that puts the writer's own temporary tables first, one named like the
-- trigger's transition table and one like the source table, both empty.
SET LOCAL ROLE t_bp_writer;
CREATE TEMP TABLE new_rows (route_key text);
CREATE TEMP TABLE source (name text, max_queued_rows bigint, route_by_class bool, class_uid int);
SET LOCAL search_path = pg_temp, public, pg_catalog;
RESET ROLE;
SELECT pg_temp.forget_verdict();
SET LOCAL ROLE t_bp_writer;
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('bp_src', '{"class_uid": 3002}')$$, '54000', NULL,
                 'look-alike temporary tables first on the search_path do not let a writer past the cap');
RESET ROLE;
RESET search_path;

-- Every boolean and enum setting a writer may change, to every value: a statement over the
-- cap never gets through (refused by the cap, or by the setting itself, or the SET refused).
-- Each try forgets the verdict first, so the count runs under the setting.
CREATE FUNCTION pg_temp.over_cap_with(setting text, value text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    outcome text;
BEGIN
    BEGIN
        PERFORM pg_temp.forget_verdict();
        SET LOCAL ROLE t_bp_writer;
        PERFORM set_config(setting, value, true);
        INSERT INTO securitylake.queue (source, event) VALUES ('bp_src', '{"class_uid": 3002}');
        outcome := 'inserted';
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo';
    EXCEPTION WHEN OTHERS THEN
        IF outcome IS NULL THEN
            outcome := SQLSTATE;
        END IF;
    END;
    RETURN outcome;
END $$;
CREATE TEMP TABLE tried AS
    SELECT s.name, v.value, pg_temp.over_cap_with(s.name, v.value) AS outcome
      FROM pg_settings s
     CROSS JOIN LATERAL unnest(CASE WHEN s.vartype = 'bool' THEN ARRAY['on', 'off'] ELSE s.enumvals END) AS v(value)
     WHERE s.context = 'user' AND s.vartype IN ('bool', 'enum')
       -- not these: the transaction's own (fixed once it has a snapshot); exit_on_error,
       -- which turns the cap's refusal into the end of the writer's session (refused too); and
       -- client_min_messages, which only says how much the client is told (at debug levels,
       -- a lot, into the test's log).
       AND s.name NOT IN ('transaction_read_only', 'transaction_isolation', 'transaction_deferrable', 'exit_on_error',
                          'client_min_messages');
SELECT cmp_ok((SELECT count(*)::int FROM tried), '>', 100, 'many settings and values were tried');
SELECT diag(format('trust: backpressure: %s setting=value pairs tried (%s settings): outcomes %s', count(*), count(DISTINCT name),
                   (SELECT string_agg(format('%s x%s', outcome, n), ', ') FROM (SELECT outcome, count(*) AS n FROM tried GROUP BY 1 ORDER BY 2 DESC) o)))
  FROM tried;
SELECT is((SELECT string_agg(format('%s=%s', name, value), ', ') FROM tried WHERE outcome = 'inserted'), NULL,
          'no setting lets a writer insert past max_queued_rows');
SELECT is((SELECT count(*)::int FROM securitylake.queue WHERE source = 'bp_src'), 3, 'the capped source still holds its three rows');

-- securitylake_worker, the role every statement of the workers runs as: no login, no
-- superuser, no row-security bypass, no inherited roles, and exactly the grants delivery needs.
SELECT is((SELECT format('%s %s %s %s %s', rolcanlogin, rolsuper, rolbypassrls, rolinherit, rolcreaterole)
             FROM pg_roles WHERE rolname = 'securitylake_worker'), 'f f f f f',
          'securitylake_worker: NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT NOCREATEROLE');
SELECT is((SELECT count(*)::int FROM pg_auth_members WHERE member = 'securitylake_worker'::regrole), 0,
          'securitylake_worker is a member of no role');
SELECT set_eq($$SELECT format('%s %s', c.relname, p.privilege_type)
                 FROM pg_class c, LATERAL aclexplode(c.relacl) p
                WHERE c.relnamespace = 'securitylake'::regnamespace AND p.grantee = 'securitylake_worker'::regrole$$,
              ARRAY['source SELECT', 'credential SELECT', 'source_state SELECT', 'source_state INSERT', 'source_state UPDATE',
                    'queue SELECT', 'queue DELETE', 'batch SELECT', 'batch INSERT', 'batch UPDATE', 'batch DELETE',
                    'uploads SELECT', 'uploads INSERT', 'dead_letter INSERT', 'batch_id_seq USAGE', 'queue_id_seq SELECT'],
              'securitylake_worker holds exactly the table grants delivery needs');
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p
                WHERE p.pronamespace = 'securitylake'::regnamespace
                  AND has_function_privilege('securitylake_worker', p.oid, 'EXECUTE')$$,
              ARRAY['route_key', 'source_route_keys', '_queued_keys', '_raw_size', '_worker_alive'],
              '... and executes only the functions it calls');

SELECT * FROM finish();
ROLLBACK;
