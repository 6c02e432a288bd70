-- pgTAP: the sources / status / unrouted views, retry_dead_letter and max_queued_rows backpressure.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS securitylake;
SELECT plan(53);

SELECT has_view('securitylake', 'sources', 'view sources exists');
SELECT has_view('securitylake', 'status', 'view status exists');
SELECT has_view('securitylake', 'unrouted', 'view unrouted exists');
SELECT columns_are('securitylake', 'sources', ARRAY['name', 'location', 'bucket', 'prefix', 'role_arn', 'external_id',
    'class_uid', 'region', 'account_id', 'schema_kind', 'schema', 'ocsf_version', 'route_by_class', 'batch_record_count',
    'batch_data_size', 'publish_rate', 'max_queued_rows', 'options', 'enabled', 'created_at'], 'sources has exactly its columns');
SELECT columns_are('securitylake', 'status', ARRAY['source', 'enabled', 'queued_rows', 'oldest_queued_age', 'pending_batches',
    'last_upload_at', 'last_error', 'last_error_at', 'failures', 'next_attempt_at', 'bucket_region', 'objects_uploaded', 'rows_uploaded',
    'bytes_uploaded', 'dead_letters'], 'status has exactly its columns');
SELECT col_type_is('securitylake', 'status', 'source', 'text', 'status.source is text');
SELECT col_type_is('securitylake', 'status', 'enabled', 'boolean', 'status.enabled is boolean');
SELECT col_type_is('securitylake', 'status', 'queued_rows', 'bigint', 'status.queued_rows is bigint');
SELECT col_type_is('securitylake', 'status', 'oldest_queued_age', 'interval', 'status.oldest_queued_age is interval');
SELECT col_type_is('securitylake', 'status', 'pending_batches', 'bigint', 'status.pending_batches is bigint');
SELECT col_type_is('securitylake', 'status', 'last_upload_at', 'timestamp with time zone', 'status.last_upload_at is timestamptz');
SELECT col_type_is('securitylake', 'status', 'last_error', 'text', 'status.last_error is text');
SELECT col_type_is('securitylake', 'status', 'failures', 'integer', 'status.failures is integer');
SELECT col_type_is('securitylake', 'status', 'objects_uploaded', 'bigint', 'status.objects_uploaded is bigint');
SELECT col_type_is('securitylake', 'status', 'rows_uploaded', 'bigint', 'status.rows_uploaded is bigint');
SELECT col_type_is('securitylake', 'status', 'bytes_uploaded', 'bigint', 'status.bytes_uploaded is bigint');
SELECT col_type_is('securitylake', 'status', 'dead_letters', 'bigint', 'status.dead_letters is bigint');
SELECT columns_are('securitylake', 'unrouted', ARRAY['id', 'source', 'event', 'region', 'account_id', 'enqueued_at', 'route_key'], 'unrouted has the queue''s columns');

-- Fixture: a routing source (3002), a named-only source of the same class, a 4001 source.
SELECT securitylake.create_source('v_auth', 's3://bucket-v/ext/v_auth/1.0/', NULL, NULL, 3002, 'eu-west-1', '123456789012');
SELECT securitylake.create_source('v_auth2', 's3://bucket-v/ext/v_auth2/', NULL, NULL, 3002, 'eu-west-1', '123456789012');
SELECT securitylake.create_source('v_proc', 's3://bucket-v/ext/v_proc/', NULL, NULL, 1007, 'eu-west-1', 'external');
INSERT INTO securitylake.queue (source, event, enqueued_at) VALUES
    ('v_auth', '{"class_uid": 3002}', now() - interval '1 hour'),  -- by name
    (NULL, '{"class_uid": 3002}', now() - interval '2 hours'),     -- by class
    (NULL, '{"class_uid": 3002}', now()),                          -- by class
    ('v_auth2', '{"class_uid": 3002}', now()),                     -- by name only
    (NULL, '{"class_uid": 9999}', now()),                          -- no source
    ('gone', '{"class_uid": 1007}', now());                        -- unknown source
INSERT INTO securitylake.batch (source, route_keys, region, account_id, event_day, object_key, ids, sizes, raw_bytes)
VALUES ('v_auth', '{v_auth}', 'eu-west-1', '123456789012', '2026-11-28', 'ext/v_auth/1.0/region=eu-west-1/accountId=123456789012/eventDay=20261128/x.parquet', '{1}', '{20}', 20);
INSERT INTO securitylake.uploads (source, object_key, region, account_id, event_day, rows, bytes, attempts, finished_at) VALUES
    ('v_auth', 'k1', 'eu-west-1', '123456789012', '2026-11-27', 10, 1000, 1, now() - interval '1 day'),
    ('v_auth', 'k2', 'eu-west-1', '123456789012', '2026-11-28', 5, 500, 2, now() - interval '1 minute');
UPDATE securitylake.source_state SET last_upload_at = now() - interval '1 minute', last_error = 'AccessDenied: not authorized',
       last_error_at = now(), failures = 3, next_attempt_at = now() + interval '1 minute' WHERE source = 'v_proc';
INSERT INTO securitylake.dead_letter (source, event, reason, enqueued_at) VALUES
    ('v_auth', '{"class_uid": 3002, "bad": 1}', 'missing time', now()),
    ('v_auth', '{"class_uid": 3002, "bad": 2}', 'source dropped', now()),
    (NULL, '{"class_uid": 9999}', 'no source for class_uid 9999', now());

SELECT results_eq($$SELECT source, queued_rows, pending_batches, objects_uploaded, rows_uploaded, bytes_uploaded, dead_letters
                      FROM securitylake.status ORDER BY source$$,
    $$VALUES ('v_auth', 3::bigint, 1::bigint, 2::bigint, 15::bigint, 1500::bigint, 2::bigint),
             ('v_auth2', 1::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint),
             ('v_proc', 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
    'status counts queued rows by name and by class, pending batches, uploads and dead letters');
SELECT ok((SELECT oldest_queued_age BETWEEN interval '2 hours' AND interval '2 hours 1 minute' FROM securitylake.status WHERE source = 'v_auth'),
          'oldest_queued_age is the age of the oldest routed row');
SELECT is((SELECT oldest_queued_age FROM securitylake.status WHERE source = 'v_proc'), NULL, 'oldest_queued_age is NULL with nothing queued');
SELECT results_eq($$SELECT last_error, failures, enabled FROM securitylake.status WHERE source = 'v_proc'$$,
                  $$VALUES ('AccessDenied: not authorized', 3, true)$$, 'status shows the source state');
SELECT results_eq($$SELECT source, event->>'class_uid' FROM securitylake.unrouted ORDER BY id$$,
                  $$VALUES (NULL, '9999'), ('gone', '1007')$$, 'unrouted lists rows no source takes');
SELECT results_eq($$SELECT bucket, prefix, schema_kind, route_by_class FROM securitylake.sources WHERE name = 'v_auth'$$,
                  $$VALUES ('bucket-v', 'ext/v_auth/1.0/', 'ocsf 1.1.0', true)$$, 'sources shows the stored settings');

-- retry_dead_letter
SELECT is(securitylake.retry_dead_letter(ARRAY[(SELECT id FROM securitylake.dead_letter WHERE reason = 'missing time')]), 1::bigint,
          'retry_dead_letter(ids) returns how many it moved');
SELECT results_eq($$SELECT source, event->>'bad' FROM securitylake.queue WHERE event ? 'bad'$$, $$VALUES ('v_auth', '1')$$,
                  'the dead letter is queued again for its source');
SELECT ok((SELECT id FROM securitylake.queue WHERE event ? 'bad') > (SELECT max(id) FROM securitylake.queue WHERE NOT event ? 'bad'),
          'with a new queue id');
SELECT is((SELECT count(*)::int FROM securitylake.dead_letter), 2, 'and is no longer a dead letter');
SELECT is(securitylake.retry_dead_letter(ARRAY[-1]::bigint[]), 0::bigint, 'an unknown id moves nothing');
SELECT is(securitylake.retry_dead_letter(), 2::bigint, 'retry_dead_letter() moves all the rest');
SELECT results_eq($$SELECT source FROM securitylake.queue WHERE event->>'bad' = '2'$$, $$VALUES (NULL::text)$$,
                  'a row of a dropped source is routed by class again');
SELECT is((SELECT count(*)::int FROM securitylake.dead_letter), 0, 'no dead letters remain');

-- Backpressure: the statement trigger exists only while a cap is set.
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass AND NOT tgisinternal),
          'no trigger on the queue while no source has max_queued_rows');
SELECT lives_ok($$SELECT securitylake.alter_source('v_proc', options => '{"max_queued_rows": 2}')$$, 'a cap is set');
SELECT is((SELECT string_agg(tgname || CASE WHEN (tgtype & 1) = 0 THEN ' per statement' ELSE ' per row' END, ', ')
             FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass AND NOT tgisinternal),
          'securitylake_backpressure per statement', 'then one statement-level trigger is attached');
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('v_proc', '{"class_uid": 1007}'), (NULL, '{"class_uid": 1007}')$$,
                'rows up to the cap are accepted');
SELECT set_config('securitylake_bp.verdict', '', false);  -- forget this session's cached verdict (1 s)
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES (NULL, '{"class_uid": 1007}')$$, '54000',
                 'securitylake source "v_proc" has more than 2 queued events', 'a row over the cap is refused');
SELECT set_config('securitylake_bp.verdict', '', false);  -- forget this session's cached verdict (1 s)
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('v_auth', '{"class_uid": 3002}')$$,
                'another source is not capped');
SELECT set_config('securitylake_bp.verdict', '', false);  -- forget this session's cached verdict (1 s)
SELECT throws_ok($$COPY securitylake.queue (source, event) FROM PROGRAM 'printf ''v_proc\t{}\n'''$$, '54000', NULL,
                 'COPY over the cap is refused too');
SELECT lives_ok($$SELECT securitylake.alter_source('v_proc', options => '{"max_queued_rows": 3}')$$, 'the cap is raised');
SELECT set_config('securitylake_bp.verdict', '', false);  -- forget this session's cached verdict (1 s)
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('v_proc', '{"class_uid": 1007}')$$, 'one more row fits');
SELECT lives_ok($$SELECT securitylake.alter_source('v_proc', options => '{"max_queued_rows": null}')$$, 'the cap is removed with null');
SELECT is((SELECT max_queued_rows FROM securitylake.source WHERE name = 'v_proc'), NULL, 'max_queued_rows is NULL again');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass AND NOT tgisinternal),
          'and the trigger is gone');
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) SELECT 'v_proc', '{"class_uid": 1007}' FROM generate_series(1, 10)$$,
                'without a cap any number of rows is accepted');
SELECT lives_ok($$SELECT securitylake.alter_source('v_proc', options => '{"max_queued_rows": 5}')$$, 'a cap below the backlog is set');
SELECT lives_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('v_auth', '{"class_uid": 3002}'), (NULL, '{"class_uid": 3002}')$$,
                'producers of other sources are not blocked by a source over its cap');
SELECT set_config('securitylake_bp.verdict', '', false);  -- forget this session's cached verdict (1 s)
SELECT throws_ok($$INSERT INTO securitylake.queue (source, event) VALUES ('v_auth', '{"class_uid": 3002}'), (NULL, '{"class_uid": 1007}')$$,
                 '54000', 'securitylake source "v_proc" has more than 5 queued events', 'a statement with one row for the capped source is refused');
SELECT lives_ok($$SELECT securitylake.alter_source('v_proc', options => '{"max_queued_rows": null}')$$, 'the cap is removed again');
SELECT lives_ok($$SELECT securitylake.create_source('v_cap', 's3://bucket-v/c/', NULL, NULL, 4001, 'eu-west-1', 'external', options => '{"max_queued_rows": 1}')$$,
                'create_source with a cap');
SELECT ok(EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass AND tgname = 'securitylake_backpressure'),
          'attaches the trigger');
SELECT lives_ok($$SELECT securitylake.drop_source('v_cap')$$, 'dropping the only capped source');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass AND tgname = 'securitylake_backpressure'),
          'detaches it');

SELECT * FROM finish();
ROLLBACK;
