-- securitylake.validate(event, source): NULL, or the dead-letter reason the worker would
-- give. The worker's reasons themselves are compared with validate()'s by
-- test/e2e/validate.test.mjs; here: each rule's reasons, the privileges, containment.
CREATE EXTENSION securitylake;
SELECT securitylake.create_source('v3002', 's3://aws-security-data-lake-us-east-1-validreg/ext/v3002/', NULL, NULL,
       3002, 'us-east-1', '123456789012', publish_rate => '1 day');
CREATE TEMP TABLE ev AS SELECT '{"class_uid": 3002, "category_uid": 3, "activity_id": 1, "type_uid": 300201,
  "severity_id": 1, "time": 1732752000000, "metadata": {"version": "1.1.0", "product": {"vendor_name": "v"}},
  "user": {"name": "alice"}}'::jsonb AS e;

-- A valid event; the source's row decides (unknown source: 42704).
SELECT securitylake.validate(e, 'v3002') IS NULL AS valid FROM ev;
DO $$ BEGIN PERFORM securitylake.validate('{}', 'nope'); EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '% %', SQLSTATE, SQLERRM; END $$;
DO $$ BEGIN PERFORM securitylake.validate(NULL, 'v3002'); EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '% %', SQLSTATE, SQLERRM; END $$;

-- The claim's rules first: time, class; then the encoder's walk.
SELECT securitylake.validate(e - 'time', 'v3002') FROM ev;
SELECT securitylake.validate(e || '{"class_uid": 4001}', 'v3002') FROM ev;
SELECT securitylake.validate(e || '{"activity_id": "x"}', 'v3002') FROM ev;
SELECT securitylake.validate(e || '{"observables": [{"name": "a", "type_id": 1}, {"name": "b", "type_id": 1.5}]}', 'v3002') FROM ev;

-- Strict RFC 3339 (time_dt): every bad form is refused with its reason ...
SELECT t AS time_dt, securitylake.validate(e || jsonb_build_object('time_dt', t), 'v3002') AS reason
  FROM ev, unnest(ARRAY[
    '2024-02-31T00:00:00Z',        -- no such day
    '2023-02-29T00:00:00Z',        -- not a leap year
    '1900-02-29T00:00:00Z',        -- a century is not a leap year
    '2024-13-01T00:00:00Z',        -- month 13
    '2024-00-10T00:00:00Z',        -- month 0
    '2024-01-00T00:00:00Z',        -- day 0
    '+024-01-01T00:00:00Z',        -- a sign where the year's first digit belongs
    '24-01-01T00:00:00Z',          -- two-digit year
    '2024-1-01T00:00:00Z',         -- one-digit month
    '2024-01-01T-1:-1:-1Z',        -- signed fields
    '2024-01-01T1:00:00Z',         -- one-digit hour
    '2024-01-01T24:00:00Z',        -- hour 24
    '2024-01-01T00:60:00Z',        -- minute 60
    '2024-01-01T00:00:61Z',        -- second 61
    '2024-01-01T12:00:60Z',        -- a leap second not at 23:59 UTC
    '2024-01-15T23:59:60Z',        -- nor on a month's last day
    '2024-01-01T00:00:00',         -- no time zone
    '2024-01-01T00:00:00+2:00',    -- one-digit offset hour
    '2024-01-01T00:00:00+24:00',   -- offset past 23:59
    '2024-01-01T00:00:00+01:60',   -- offset minute 60
    '2024-01-01T00:00:00+0100',    -- offset without colon
    '2024-01-01T00:00:00.Z',       -- a fraction without digits
    '2024-01-01T00:00:00Z ',       -- trailing text
    '2024-01-01',                  -- a date alone
    '2024-01-01X00:00:00Z']) t;    -- a separator other than T, t or space
-- ... and every good edge is taken.
SELECT t AS time_dt, securitylake.validate(e || jsonb_build_object('time_dt', t), 'v3002') AS reason
  FROM ev, unnest(ARRAY[
    '2024-02-29T00:00:00Z',        -- leap day
    '2000-02-29T00:00:00Z',        -- a leap century
    '2024-12-31T23:59:60Z',        -- a leap second
    '2024-06-30T23:59:60.999Z',    -- with a fraction
    '2024-07-01T01:59:60+02:00',   -- a leap second in a zone east of UTC
    '2024-06-30T18:59:60-05:00',   -- and west of it
    '2024-01-01t00:00:00z',        -- lower-case t and z
    '2024-01-01 00:00:00Z',        -- a space for T
    '2024-01-01T00:00:00.123456789+23:59',
    '2024-01-01T00:00:00-00:00',
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z']) t;

-- Text is bounded before it is built, and nothing recurses on the input's depth.
SELECT securitylake.validate(e || jsonb_build_object('x_vendor', repeat('[', 200000)), 'v3002') IS NULL AS brackets_kept_as_text FROM ev;
SELECT securitylake.validate(e || jsonb_build_object('x_vendor', repeat('[', 200000) || repeat(']', 200000)), 'v3002') IS NULL AS deep_json_text_kept FROM ev;
SELECT securitylake.validate(e || jsonb_build_object('x_vendor', jsonb_build_array(repeat(E'\x01', 200000))), 'v3002') FROM ev;
-- a string that reads as JSON ("\\\\…") is stored JSON-quoted: it doubles on escaping
SELECT securitylake.validate(e || jsonb_build_object('unmapped', jsonb_build_object('k', '"' || repeat(E'\\\\', 300000) || '"')), 'v3002') FROM ev;
SELECT securitylake.validate(e || jsonb_build_object(repeat('k', 300), 1), 'v3002') IS NULL AS long_key_kept FROM ev;

-- The claim's size rule (max_event_size, on the stored size, before decompression).
UPDATE securitylake.source SET options = options || '{"max_event_size": 100000}' WHERE name = 'v3002';
SELECT securitylake.validate(e || jsonb_build_object('message', repeat('x', 200000)), 'v3002') FROM ev;
SELECT securitylake.validate(e || jsonb_build_object('message', repeat('x', 50000)), 'v3002') IS NULL AS under_the_cap FROM ev;
UPDATE securitylake.source SET options = options - 'max_event_size' WHERE name = 'v3002';

-- Non-AWS data is never refused for its account or region.
SELECT securitylake.validate(e || '{"cloud": {"provider": "Azure", "region": "westeurope", "account": {"uid": "d3b7f8a2-1c4e-4b8a-9f2e-7a6b5c4d3e2f"}}}', 'v3002') IS NULL AS azure,
       securitylake.validate(e || '{"cloud": {"provider": "GCP", "region": "us-central1", "account": {"uid": "my-project-123"}}}', 'v3002') IS NULL AS gcp,
       securitylake.validate(e || '{"cloud": {"provider": "AWS", "region": "us-east-1", "account": {"uid": "1111111111111"}}}', 'v3002') IS NULL AS aws_bad_account
  FROM ev;

-- Any ERROR raised while an event is shredded is that event's reason ...
SET securitylake.test_fault = 'error:shred';
SELECT securitylake.validate(e, 'v3002') FROM ev;
RESET securitylake.test_fault;
-- ... but a statement timeout (query cancel) is never taken for an event's failure.
CREATE TEMP TABLE big AS SELECT e || jsonb_build_object('x_vendor', (SELECT jsonb_agg(g) FROM generate_series(1, 100000) g)) AS e FROM ev;
SET statement_timeout = '300ms';
SELECT count(securitylake.validate(e, 'v3002')) FROM big, generate_series(1, 100);
RESET statement_timeout;

-- A tag schema whose names Avro cannot spell is still written (without parquet.avro.schema).
SELECT securitylake.create_source('tags_dash', 's3://aws-security-data-lake-us-east-1-validreg/ext/tags_dash/', NULL, NULL,
       3002, 'us-east-1', '123456789012', '{"Tag": "name=r, repetitiontype=REQUIRED", "Fields": [
         {"Tag": "name=class_uid, type=INT32, repetitiontype=REQUIRED"}, {"Tag": "name=time, type=INT64, repetitiontype=REQUIRED"},
         {"Tag": "name=x-y, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"}]}', publish_rate => '1 day');
SELECT securitylake.validate('{"class_uid": 3002, "time": 1732752000000, "x-y": "a"}', 'tags_dash') IS NULL AS written;

-- Privileges: SECURITY DEFINER, pinned search_path, writers and admins only.
SELECT p.prosecdef, p.proconfig,
       has_function_privilege('securitylake_writer', p.oid, 'EXECUTE') AS writer,
       has_function_privilege('securitylake_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p WHERE p.oid = 'securitylake.validate(jsonb, text)'::regprocedure;
DROP EXTENSION securitylake;
