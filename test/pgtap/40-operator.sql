-- pgTAP: the operator's objects — register/deregister_custom_source, event_class_name,
-- registration, the metrics views — their privileges and what they refuse before any AWS call.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS securitylake;
SELECT plan(41);

CREATE ROLE t_op_admin NOLOGIN IN ROLE securitylake_admin;
CREATE ROLE t_op_writer NOLOGIN IN ROLE securitylake_writer;
CREATE ROLE t_op_monitor NOLOGIN IN ROLE pg_monitor;
CREATE ROLE t_op_nobody NOLOGIN;
GRANT t_op_admin, t_op_writer, t_op_monitor, t_op_nobody TO current_user;

-- Signatures, and how they run.
SELECT has_function('securitylake', 'register_custom_source',
                    ARRAY['text', 'integer', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'jsonb'],
                    'register_custom_source(name, class_uid, region, crawler_role_arn, version, external_id, principal, account_id, event_class, schema, options)');
SELECT has_function('securitylake', 'deregister_custom_source', ARRAY['text', 'text', 'text', 'boolean', 'jsonb'],
                    'deregister_custom_source(name, version, region, force, options)');
SELECT function_returns('securitylake', 'register_custom_source',
                        ARRAY['text', 'integer', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'jsonb'],
                        'securitylake.registration', 'it returns the registration row');
SELECT is_definer('securitylake', 'register_custom_source',
                  ARRAY['text', 'integer', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'jsonb'], 'register_custom_source is SECURITY DEFINER');
SELECT is_definer('securitylake', 'deregister_custom_source', ARRAY['text', 'text', 'text', 'boolean', 'jsonb'], 'deregister_custom_source is SECURITY DEFINER');
SELECT is_definer('securitylake', '_queue_depth', ARRAY['text[]'], '_queue_depth is SECURITY DEFINER (the view''s readers see counts, not the queue)');
SELECT ok((SELECT proconfig @> ARRAY['search_path=pg_catalog, pg_temp', 'enable_seqscan=off', 'enable_bitmapscan=off']
             FROM pg_proc WHERE oid = 'securitylake._queue_depth(text[])'::regprocedure),
          '_queue_depth pins search_path and reads the queue through its primary key only');
SELECT is((SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'securitylake'::regnamespace
            AND p.proname IN ('register_custom_source', 'deregister_custom_source', '_delete_custom_source', '_check_registration')
            AND NOT p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'] LIMIT 1),
          NULL, 'the registration functions pin search_path');
SELECT col_is_pk('securitylake', 'registration', 'source', 'one registration per source name');

-- Privileges.
SELECT ok(has_function_privilege('securitylake_admin', 'securitylake.register_custom_source(text, int, text, text, text, text, text, text, text, jsonb, jsonb)', 'EXECUTE'),
          'securitylake_admin may register');
SELECT ok(has_function_privilege('securitylake_admin', 'securitylake.deregister_custom_source(text, text, text, bool, jsonb)', 'EXECUTE'),
          'securitylake_admin may deregister');
SELECT ok(has_function_privilege('securitylake_admin', 'securitylake.event_class_name(int)', 'EXECUTE'), 'securitylake_admin may map class_uid to event classes');
SELECT ok(has_table_privilege('securitylake_admin', 'securitylake.registration', 'SELECT'), 'securitylake_admin reads registrations');
SELECT ok(NOT has_table_privilege('securitylake_admin', 'securitylake.registration', 'INSERT')
          AND NOT has_table_privilege('securitylake_admin', 'securitylake.registration', 'DELETE'), '... and does not write them');
SELECT ok(NOT has_function_privilege('securitylake_writer', 'securitylake.register_custom_source(text, int, text, text, text, text, text, text, text, jsonb, jsonb)', 'EXECUTE'),
          'a writer may not register');
SELECT is((SELECT string_agg(f, ', ') FROM unnest(ARRAY[
              'securitylake._securitylake_request(text, text, text, jsonb, text, text, text, text)',
              'securitylake._aws_account(text, text, text)',
              'securitylake._delete_custom_source(text, text, text, text, text)',
              'securitylake._check_registration(text, int, text, text, text, text, text, text, jsonb)']) f
            WHERE EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname IN ('securitylake_admin', 'securitylake_writer', 'securitylake_worker', 'pg_monitor')
                            AND has_function_privilege(r.rolname, f, 'EXECUTE'))),
          NULL, 'the AWS calls and their helpers are granted to no one');
SELECT ok(has_table_privilege('pg_monitor', 'securitylake.metrics', 'SELECT')
          AND has_table_privilege('pg_monitor', 'securitylake.dead_letter_metrics', 'SELECT'), 'pg_monitor reads the metrics views');
SELECT ok(NOT has_table_privilege('pg_monitor', 'securitylake.queue', 'SELECT')
          AND NOT has_table_privilege('pg_monitor', 'securitylake.registration', 'SELECT')
          AND NOT has_table_privilege('pg_monitor', 'securitylake.status', 'SELECT'), '... and nothing else');
SELECT ok(has_table_privilege('securitylake_admin', 'securitylake.metrics', 'SELECT'), 'securitylake_admin reads the metrics');

SET LOCAL ROLE t_op_monitor;
SELECT lives_ok('SELECT * FROM securitylake.metrics', 'a pg_monitor member reads securitylake.metrics');
SELECT lives_ok($$SELECT securitylake._queue_depth(ARRAY['x'])$$, '... and its helper, granted for the view (counts only)');
SELECT throws_ok('SELECT count(*) FROM securitylake.queue', '42501', NULL, '... but not the queue');
RESET ROLE;
SET LOCAL ROLE t_op_nobody;
SELECT throws_ok('SELECT * FROM securitylake.metrics', '42501', NULL, 'a role without grants cannot read the metrics');
SELECT throws_ok($$SELECT securitylake.register_custom_source('x', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c')$$, '42501', NULL,
                 'a role without grants cannot register');
RESET ROLE;

-- Refused before any request (these would otherwise need AWS): as an admin.
SET LOCAL ROLE t_op_admin;
SELECT throws_ok($$SELECT securitylake.register_custom_source('a_name_longer_than_20', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c')$$,
                 '22023', 'invalid custom source name "a_name_longer_than_20"', 'a name over 20 characters is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('bad name', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c')$$,
                 '22023', NULL, 'a name with a space is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'mars-north-1a', 'arn:aws:iam::123456789012:role/c')$$,
                 '22023', 'invalid region "mars-north-1a"', 'a bad region is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::1234:role/c')$$,
                 '22023', 'invalid crawler role ARN "arn:aws:iam::1234:role/c"', 'a bad crawler role ARN is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c', version => '1 0')$$,
                 '22023', 'invalid source version "1 0"', 'a bad version is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c', principal => 'me')$$,
                 '22023', 'invalid principal "me"', 'a bad principal is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c', event_class => 'Authentication')$$,
                 '22023', 'invalid event class "Authentication"', 'an event class not in Security Lake''s spelling is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c',
                                                               options => '{"securitylake_endpoint": "http://10.9.8.7"}')$$,
                 '42501', 'securitylake_endpoint "http://10.9.8.7" is not allowed', 'an endpoint outside securitylake.allowed_endpoints is refused');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c',
                                                               options => '{"ca_file": "/etc/ssl/certs/ca-certificates.crt"}')$$,
                 '42501', 'only a superuser may set ca_file', 'ca_file is for a superuser');
SELECT throws_ok($$SELECT securitylake.register_custom_source('ok', 3002, 'us-east-1', 'arn:aws:iam::123456789012:role/c',
                                                               options => '{"no_such_option": 1}')$$,
                 '22023', 'unknown option "no_such_option"', 'source options are checked before the call');
SELECT throws_ok($$SELECT securitylake.deregister_custom_source('never_registered')$$,
                 '22023', 'the region of custom source "never_registered" is not known', 'deregister needs a region when nothing is known here');
SELECT throws_ok($$SELECT securitylake.deregister_custom_source('x', options => '{"endpoint": "http://127.0.0.1"}')$$,
                 '22023', NULL, 'deregister takes only its own options');
RESET ROLE;

-- class_uid → Security Lake's event class names.
SELECT is(securitylake.event_class_name(3002), 'AUTHENTICATION', '3002 is AUTHENTICATION');
SELECT is(securitylake.event_class_name(4003), 'DNS_ACTIVITY', '4003 is DNS_ACTIVITY');
SELECT is(securitylake.event_class_name(201001), 'REGISTRY_KEY_ACTIVITY', '201001 (Windows extension) is REGISTRY_KEY_ACTIVITY');
SELECT is(securitylake.event_class_name(2004), NULL, 'Detection Finding has no Security Lake event class name');
SELECT is((SELECT count(DISTINCT securitylake.event_class_name(c))::int FROM generate_series(1000, 202000) c), 27,
          '27 distinct names, one class each');

SELECT * FROM finish();
ROLLBACK;
