-- Sources: every validation error a user can meet (message, DETAIL and HINT as they read them),
-- and what the sources and status views show. Reviewed: expected/sources.out.
CREATE EXTENSION securitylake;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A valid source, and what sources shows of it (no secret: the ExternalId is an agreed id).
SELECT securitylake.create_source('reg_auth', 's3://aws-security-data-lake-us-east-1-regress/ext/reg_auth/1.0/',
       'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-reg_auth-us-east-1', 'ext-id-1',
       3002, 'us-east-1', '123456789012');
SELECT name, location, bucket, prefix, class_uid, region, account_id, schema_kind, ocsf_version,
       route_by_class, batch_record_count, batch_data_size, publish_rate, max_queued_rows, options, enabled
  FROM securitylake.sources;

-- Names, locations, roles.
SELECT securitylake.create_source('bad name!', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source(repeat('n', 65), 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('reg_auth', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('loc1', 'https://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('loc2', 's3://Bad_Bucket/x/', NULL, NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('loc3', 's3://b-regress/x/../y/', NULL, NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('role1', 's3://b-regress/x/', 'arn:aws:iam::123:role/x', 'ext', 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('role2', 's3://b-regress/x/', 'arn:aws:iam::123456789012:role/x', NULL, 3002, 'us-east-1', '123456789012');
SELECT securitylake.create_source('ext1', 's3://b-regress/x/', 'arn:aws:iam::123456789012:role/x', 'x', 3002, 'us-east-1', '123456789012');

-- Class, region, account, schema.
SELECT securitylake.create_source('c0', 's3://b-regress/x/', NULL, NULL, 0, 'us-east-1', '123456789012');
SELECT securitylake.create_source('c9', 's3://b-regress/x/', NULL, NULL, 9999, 'us-east-1', '123456789012');
SELECT securitylake.create_source('r1', 's3://b-regress/x/', NULL, NULL, 3002, 'westeurope', '123456789012');
SELECT securitylake.create_source('a1', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '1234');
SELECT securitylake.create_source('s1', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012',
       schema => '{"Fields": []}');
SELECT securitylake.create_source('s2', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012',
       schema => '{"Tag": "name=r", "Fields": [{"Tag": "name=x, type=DECIMAL"}]}');

-- Batch settings.
SELECT securitylake.create_source('b1', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', batch_record_count => -1);
SELECT securitylake.create_source('b2', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', batch_data_size => 1000);
SELECT securitylake.create_source('b3', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', publish_rate => '2 days');

-- Options.
SELECT securitylake.create_source('o1', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"bogus": 1}');
SELECT securitylake.create_source('o2', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"zstd_level": 30}');
SELECT securitylake.create_source('o3', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"endpoint": "https://evil.example.com"}');
SELECT securitylake.create_source('o4', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"endpoint": "http://169.254.169.254"}');
SELECT securitylake.create_source('o5', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"expected_bucket_owner": "abc"}');
SELECT securitylake.create_source('o6', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"row_group_size": 1}');
SELECT securitylake.create_source('o7', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012', options => '{"max_event_size": 10}');
-- AWS's own endpoints need no listing.
SELECT securitylake.create_source('o8', 's3://b-regress/x/', NULL, NULL, 3002, 'us-east-1', '123456789012',
       options => '{"endpoint": "https://s3.eu-west-1.amazonaws.com", "sts_endpoint": "https://sts.eu-west-1.amazonaws.com"}');

-- alter_source: unknown, invalid, and the schema-stability rule once objects exist.
SELECT securitylake.alter_source('nope', publish_rate => '10 min');
SELECT securitylake.alter_source('reg_auth', region => 'mars-1');
INSERT INTO securitylake.uploads (source, object_key, region, account_id, event_day, rows, bytes, attempts)
VALUES ('reg_auth', 'ext/reg_auth/1.0/x.parquet', 'us-east-1', '123456789012', '2026-12-01', 1, 100, 1);
SELECT securitylake.alter_source('reg_auth', options => '{"ocsf_version": "1.3.0"}');
SELECT securitylake.alter_source('reg_auth', class_uid => 3001);

-- drop_source with queued events, and an unknown one.
INSERT INTO securitylake.queue (source, event) VALUES ('reg_auth', '{"class_uid": 3002}');
SELECT securitylake.drop_source('reg_auth');
SELECT securitylake.drop_source('nope');

-- status: one row per source; what is queued, pending, uploaded; the error of a failing one.
UPDATE securitylake.source_state SET last_error = 'AccessDenied (HTTP 403) during AssumeRole: not authorized', failures = 2
 WHERE source = 'o8';
SELECT source, enabled, queued_rows, pending_batches, last_error, failures, bucket_region,
       objects_uploaded, rows_uploaded, bytes_uploaded, dead_letters
  FROM securitylake.status ORDER BY source;

DROP EXTENSION securitylake;
