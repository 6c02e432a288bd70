-- pgTAP: create_source / alter_source / drop_source — validation, normalisation, routing.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS securitylake;
SELECT plan(80);

-- A valid call with one argument replaced: ok(name, location, ...) via named notation.
CREATE FUNCTION pg_temp.src(name text DEFAULT 't_src', location text DEFAULT 's3://aws-security-data-lake-us-east-1-abc/ext/t_src/1.0/',
    role_arn text DEFAULT 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-t_src-us-east-1',
    external_id text DEFAULT 'ext-id-1', class_uid int DEFAULT 3002, region text DEFAULT 'us-east-1',
    account_id text DEFAULT '123456789012', schema text DEFAULT 'NULL', extra text DEFAULT '')
    RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT securitylake.create_source(%L, %L, %L, %L, %s, %L, %L, %s::jsonb%s)',
                  name, location, role_arn, external_id, coalesce(class_uid::text, 'NULL'), region, account_id, schema, extra)
$$;

-- name
SELECT throws_ok(pg_temp.src(name => 'bad name'), '22023', 'invalid source name "bad name"', 'a name with a space is refused');
SELECT throws_ok(pg_temp.src(name => repeat('a', 65)), '22023', NULL, 'a 65-character name is refused');
SELECT throws_ok(pg_temp.src(name => ''), '22023', 'invalid source name ""', 'an empty name is refused');
-- location
SELECT throws_ok(pg_temp.src(location => 'https://bucket/x/'), '22023', 'invalid location "https://bucket/x/"', 'a non-s3 URL is refused');
SELECT throws_ok(pg_temp.src(location => 's3://Bucket/x/'), '22023', 'invalid S3 bucket name "Bucket" in location', 'an upper-case bucket is refused');
SELECT throws_ok(pg_temp.src(location => 's3://ab/x/'), '22023', 'invalid S3 bucket name "ab" in location', 'a 2-character bucket is refused');
SELECT throws_ok(pg_temp.src(location => 's3://' || repeat('b', 64) || '/'), '22023', NULL, 'a 64-character bucket is refused');
SELECT throws_ok(pg_temp.src(location => 's3://192.168.1.10/x/'), '22023', 'invalid S3 bucket name "192.168.1.10" in location', 'an IP-like bucket is refused');
SELECT throws_ok(pg_temp.src(location => 's3://a..b/x/'), '22023', 'invalid S3 bucket name "a..b" in location', 'a bucket with ".." is refused');
SELECT throws_ok(pg_temp.src(location => 's3://bucket-x/a//b/'), '22023', 'invalid key prefix "a//b/" in location', 'an empty prefix segment is refused');
SELECT throws_ok(pg_temp.src(location => 's3://bucket-x/a/../b/'), '22023', 'invalid key prefix "a/../b/" in location', 'a ".." prefix segment is refused');
-- role ARN and external id
SELECT throws_ok(pg_temp.src(role_arn => 'arn:aws:iam::12345:role/x'), '22023', 'invalid role ARN "arn:aws:iam::12345:role/x"', 'an ARN with a short account is refused');
SELECT throws_ok(pg_temp.src(role_arn => 'arn:aws:iam::123456789012:user/x'), '22023', NULL, 'a user ARN is refused');
SELECT throws_ok(pg_temp.src(role_arn => 'arn:aws:iam::123456789012:role/' || repeat('r', 513)), '22023', NULL, 'a role path over 512 characters is refused');
SELECT throws_ok(pg_temp.src(external_id => 'x'), '22023', 'invalid external id', 'a 1-character external id is refused');
SELECT throws_ok(pg_temp.src(external_id => 'has space'), '22023', 'invalid external id', 'an external id with a space is refused');
SELECT throws_ok(pg_temp.src(external_id => repeat('e', 1225)), '22023', 'invalid external id', 'a 1225-character external id is refused');
SELECT throws_ok(pg_temp.src(external_id => NULL), '22023', 'a role ARN needs its external id', 'a role ARN without an external id is refused');
-- class, region, account
SELECT throws_ok(pg_temp.src(class_uid => 0), '22023', 'invalid class_uid 0', 'class_uid 0 is refused');
SELECT throws_ok(pg_temp.src(class_uid => -5), '22023', 'invalid class_uid -5', 'a negative class_uid is refused');
SELECT throws_ok(pg_temp.src(class_uid => 999999), '22023', 'OCSF 1.1.0 has no class 999999', 'an unknown class without a schema is refused');
SELECT throws_ok(pg_temp.src(region => 'US-EAST-1'), '22023', 'invalid region "US-EAST-1"', 'an upper-case region is refused');
SELECT throws_ok(pg_temp.src(region => 'useast1'), '22023', 'invalid region "useast1"', 'a region without dashes is refused');
SELECT throws_ok(pg_temp.src(account_id => '12345678901'), '22023', 'invalid account id "12345678901"', 'an 11-digit account is refused');
SELECT throws_ok(pg_temp.src(account_id => 'external_bad id'), '22023', 'invalid account id "external_bad id"', 'an external id with a space is refused');
-- schema
SELECT throws_ok(pg_temp.src(schema => quote_literal('[]')), '22023', 'invalid Parquet schema: the root must be an object with "Tag" and "Fields"', 'a non-object schema is refused');
SELECT throws_ok(pg_temp.src(schema => quote_literal('{"Tag":"name=r","Fields":[{"Tag":"name=a, type=DECIMAL"}]}')), '22023',
    'invalid Parquet schema at $.Fields[0]: a leaf''s type is not BOOLEAN, INT32, INT64, FLOAT, DOUBLE or BYTE_ARRAY', 'an unknown leaf type is refused, with its path');
SELECT throws_ok(pg_temp.src(schema => quote_literal('{"Tag":"name=r","Fields":[{"Tag":"type=INT64"}]}')), '22023',
    'invalid Parquet schema at $.Fields[0]: its Tag has no name=...', 'a field without a name is refused');
SELECT throws_ok(pg_temp.src(schema => quote_literal('{"Tag":"name=r","Fields":[{"Tag":"name=g","Fields":[{"Tag":"name=x, type=INT64, repetitiontype=SOMETIMES"}]}]}')), '22023',
    'invalid Parquet schema at $.Fields[0].Fields[0]: its repetitiontype is not REQUIRED, OPTIONAL or REPEATED', 'a bad nested repetitiontype is refused');
SELECT throws_ok(pg_temp.src(schema => quote_literal('{"Tag":"name=r","Fields":[{"Name":"x"}]}')), '22023',
    'invalid Parquet schema at $.Fields[0]: a schema node has no "Tag" string', 'a node without a Tag is refused');
-- batch limits
SELECT throws_ok(pg_temp.src(extra => ', batch_record_count => -1'), '22023', 'invalid batch_record_count -1', 'a negative batch_record_count is refused');
SELECT throws_ok(pg_temp.src(extra => ', batch_record_count => 10000001'), '22023', 'invalid batch_record_count 10000001', 'batch_record_count above 10M is refused');
SELECT throws_ok(pg_temp.src(extra => ', batch_data_size => 1048575'), '22023', 'invalid batch_data_size 1048575', 'batch_data_size below 1 MiB is refused');
SELECT throws_ok(pg_temp.src(extra => ', batch_data_size => 68719476737'), '22023', 'invalid batch_data_size 68719476737', 'batch_data_size above 64 GiB is refused');
SELECT throws_ok(pg_temp.src(extra => ', publish_rate => ''500 ms'''), '22023', NULL, 'publish_rate below 1 second is refused');
SELECT throws_ok(pg_temp.src(extra => ', publish_rate => ''25 hours'''), '22023', 'invalid publish_rate 25:00:00', 'publish_rate above 1 day is refused');
-- options
SELECT throws_ok(pg_temp.src(extra => ', options => ''[]'''), '22023', 'options must be a JSON object', 'non-object options are refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"bogus": 1}'''), '22023', 'unknown option "bogus"', 'an unknown option is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"endpoint": "ftp://x"}'''), '22023', 'invalid value "ftp://x" for option "endpoint"', 'a non-http endpoint is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"force_path_style": "yes"}'''), '22023', NULL, 'a non-boolean force_path_style is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"role_session_name": "a"}'''), '22023', NULL, 'a 1-character role_session_name is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"session_duration": 899}'''), '22023', 'invalid value 899 for option "session_duration"', 'session_duration below 900 is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"zstd_level": 23}'''), '22023', 'invalid value 23 for option "zstd_level"', 'zstd_level 23 is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"ocsf_version": "1.2.0"}'''), '22023', NULL, 'ocsf_version 1.2.0 is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"max_depth": 11}'''), '22023', NULL, 'max_depth 11 is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"max_queued_rows": 0}'''), '22023', NULL, 'max_queued_rows 0 is refused');
SELECT throws_ok(pg_temp.src(extra => ', options => ''{"ca_file": "relative.pem"}'''), '22023', NULL, 'a relative ca_file is refused');

-- The unknown-option error lists the known ones.
CREATE FUNCTION pg_temp.detail_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN d;
END $$;
SELECT matches(pg_temp.detail_of(pg_temp.src(extra => ', options => ''{"bogus": 1}''')),
               'endpoint, sts_endpoint, force_path_style, role_session_name, session_tags, session_duration, zstd_level',
               'the unknown-option error lists the known options');

-- Happy path: normalisation and storage.
SELECT lives_ok(pg_temp.src(extra => ', options => ''{"endpoint": "http://127.0.0.1:9000", "ocsf_version": "1.3.0", "max_queued_rows": 1000, "zstd_level": 3}'''),
                'a valid source is created');
SELECT results_eq($$SELECT bucket, prefix, ocsf_version, max_queued_rows, route_by_class, options FROM securitylake.source WHERE name = 't_src'$$,
    $$VALUES ('aws-security-data-lake-us-east-1-abc', 'ext/t_src/1.0/', '1.3.0', 1000::bigint, true, '{"endpoint": "http://127.0.0.1:9000", "zstd_level": 3}'::jsonb)$$,
    'bucket, prefix (with its version segment), ocsf_version and max_queued_rows are stored; options keep the rest');
SELECT ok(EXISTS (SELECT 1 FROM securitylake.source_state WHERE source = 't_src'), 'create_source adds the source_state row');
SELECT throws_ok(pg_temp.src(), '42710', 'source "t_src" already exists', 'a duplicate name is refused');
SELECT lives_ok(pg_temp.src(name => 'p1', location => 's3://bucket-x/noslash', role_arn => NULL, external_id => NULL, class_uid => 4001, account_id => 'external'),
                'no role ARN and an external account are accepted');
SELECT results_eq($$SELECT prefix FROM securitylake.source WHERE name = 'p1'$$, $$VALUES ('noslash/')$$, 'a prefix gets its trailing slash');
SELECT lives_ok(pg_temp.src(name => 'p2', location => 's3://bucket-x', class_uid => 4002, account_id => 'external_dc-1',
                            schema => quote_literal('{"Tag":"name=r, repetitiontype=REQUIRED","Fields":[{"Tag":"name=Activity_id, type=INT64, convertedtype=INT_64, repetitiontype=OPTIONAL"},{"Tag":"name=g, repetitiontype=OPTIONAL","Fields":[{"Tag":"name=s, type=BYTE_ARRAY, convertedtype=UTF8"}]}]}')),
                'a bucket without prefix and a nested custom schema are accepted');
SELECT results_eq($$SELECT prefix FROM securitylake.source WHERE name = 'p2'$$, $$VALUES ('')$$, 'no prefix is stored as ''''');

-- route_by_class: the second source of a class does not route by class, with a NOTICE.
SELECT lives_ok(pg_temp.src(name => 't_src2', location => 's3://bucket-x/two/'), 'a second source of class 3002 is created');
SELECT results_eq($$SELECT name, route_by_class FROM securitylake.source WHERE class_uid = 3002 ORDER BY name$$,
                  $$VALUES ('t_src', true), ('t_src2', false)$$, 'only the first source of a class routes by class');

-- alter_source: NULL keeps, options merge, validation applies.
SELECT lives_ok($$SELECT securitylake.alter_source('t_src', publish_rate => '10 min', options => '{"zstd_level": 5, "enabled": false}')$$, 'alter_source changes some settings');
SELECT results_eq($$SELECT publish_rate, region, options, enabled, max_queued_rows FROM securitylake.source WHERE name = 't_src'$$,
    $$VALUES ('10 min'::interval, 'us-east-1', '{"endpoint": "http://127.0.0.1:9000", "zstd_level": 5}'::jsonb, false, 1000::bigint)$$,
    'unchanged settings are kept and options are merged');
SELECT throws_ok($$SELECT securitylake.alter_source('t_src', region => 'nowhere')$$, '22023', 'invalid region "nowhere"', 'alter_source validates');
SELECT throws_ok($$SELECT securitylake.alter_source('nope')$$, '42704', 'source "nope" does not exist', 'alter_source of an unknown source is refused');
SELECT lives_ok($$SELECT securitylake.alter_source('t_src2', class_uid => 3001)$$, 'a source moves to a free class');
SELECT results_eq($$SELECT route_by_class FROM securitylake.source WHERE name = 't_src2'$$, $$VALUES (true)$$, 'and then routes it by class');

-- drop_source: refused while events are queued (by name or by class), forced moves them.
INSERT INTO securitylake.queue (source, event) VALUES ('p1', '{"class_uid": 4001}');
INSERT INTO securitylake.queue (source, event) VALUES (NULL, '{"class_uid": 3002, "n": 1}'), (NULL, '{"class_uid": 3002, "n": 2}');
SELECT throws_ok($$SELECT securitylake.drop_source('p1')$$, '55006', 'source "p1" still has 1 queued events', 'drop_source refuses while rows name the source');
SELECT throws_ok($$SELECT securitylake.drop_source('t_src')$$, '55006', 'source "t_src" still has 2 queued events', 'drop_source refuses while rows route to it by class');
SELECT throws_ok($$SELECT securitylake.drop_source('nope')$$, '42704', 'source "nope" does not exist', 'drop_source of an unknown source is refused');
SELECT lives_ok($$SELECT securitylake.drop_source('t_src', force => true)$$, 'drop_source with force succeeds');
SELECT results_eq($$SELECT count(*)::int, min(reason), min(source) FROM securitylake.dead_letter WHERE event->>'class_uid' = '3002'$$,
                  $$VALUES (2, 'source dropped', 't_src')$$, 'its queued rows are dead letters with reason ''source dropped''');
SELECT is((SELECT count(*)::int FROM securitylake.queue WHERE event->>'class_uid' = '3002'), 0, 'and left the queue');
SELECT lives_ok($$SELECT securitylake.drop_source('p2')$$, 'a source with nothing queued is dropped without force');
SELECT ok(NOT EXISTS (SELECT 1 FROM securitylake.source_state WHERE source IN ('t_src', 'p2')), 'its state is gone too');

-- Schema stability (issue 13.5): once a source has objects in the lake, what shapes its columns
-- changes only together with its location (a new source version).
SELECT securitylake.create_source('t_stable', 's3://aws-security-data-lake-us-east-1-abc/ext/t_stable/1.0/', NULL, NULL, 2004,
                                  'us-east-1', '123456789012');
SELECT lives_ok($$SELECT securitylake.alter_source('t_stable', options => '{"max_depth": 4}')$$,
                'without uploads, max_depth may change');
INSERT INTO securitylake.uploads (source, object_key, region, account_id, event_day, rows, bytes, attempts)
VALUES ('t_stable', 'ext/t_stable/1.0/x.parquet', 'us-east-1', '123456789012', '2026-12-01', 1, 100, 1);
SELECT throws_ok($$SELECT securitylake.alter_source('t_stable', options => '{"ocsf_version": "1.3.0"}')$$, '55006',
                 'source "t_stable" already has objects in the lake: ocsf_version would change its table''s schema',
                 'with uploads, ocsf_version is refused in place');
SELECT throws_ok($$SELECT securitylake.alter_source('t_stable', class_uid => 2005)$$, '55006', NULL,
                 'with uploads, class_uid is refused in place');
SELECT throws_ok($$SELECT securitylake.alter_source('t_stable', options => '{"max_depth": 5}')$$, '55006', NULL,
                 'with uploads, max_depth is refused in place');
SELECT throws_ok($$SELECT securitylake.alter_source('t_stable', schema => '{"Tag": "name=r", "Fields": [{"Tag": "name=time, type=INT64"}]}')$$,
                 '55006', NULL, 'with uploads, a schema is refused in place');
SELECT lives_ok($$SELECT securitylake.alter_source('t_stable', options => '{"zstd_level": 9}', publish_rate => '10 min')$$,
                'with uploads, settings that do not shape the columns still change');
SELECT lives_ok($$SELECT securitylake.alter_source('t_stable', location => 's3://aws-security-data-lake-us-east-1-abc/ext/t_stable/2.0/',
                                                   options => '{"ocsf_version": "1.3.0"}')$$,
                'with a new location (a new source version) the schema may change');
SELECT results_eq($$SELECT prefix, ocsf_version FROM securitylake.source WHERE name = 't_stable'$$,
                  $$VALUES ('ext/t_stable/2.0/', '1.3.0')$$, 'the new version and its schema are stored');

SELECT * FROM finish();
ROLLBACK;
