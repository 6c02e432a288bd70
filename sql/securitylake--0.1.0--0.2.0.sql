-- securitylake upgrade 0.1.0 → 0.2.0 (ALTER EXTENSION securitylake UPDATE).
--
-- This script must turn a 0.1.0 database into exactly what CREATE EXTENSION securitylake
-- creates in 0.2.0 (sql/install/*). test/upgrade/upgrade.test.mjs checks it: it installs
-- 0.1.0, fills it, runs this script, and compares pg_dump -s, the extension's member
-- objects and every privilege with a fresh 0.2.0 install; a difference fails with a diff
-- (lines "-" only in the fresh install: add them here; "+" only in the upgraded database).
-- Run it alone: test/one test/upgrade/upgrade.test.mjs
--
-- Every change to sql/install/ released in 0.2.0 needs its statement here, for instance:
--   * a function's body:        CREATE OR REPLACE FUNCTION ... (same signature);
--   * a function's signature:   DROP FUNCTION old(args); CREATE FUNCTION new(...), then its
--                               REVOKE ... FROM PUBLIC, GRANTs and COMMENT again;
--   * a new table:              CREATE TABLE, its grants, pg_extension_config_dump(...);
--   * a new column:             ALTER TABLE ... ADD COLUMN appends it at the end of the table:
--                               put it last in sql/install/ too (the test compares column
--                               order: SELECT * and COPY without a column list see it);
--   * a changed grant:          GRANT / REVOKE here as in sql/install/.
-- The library keeps every C symbol an older script names (CREATE EXTENSION ... VERSION
-- '0.1.0' must still load), e.g. as a stub raising "run ALTER EXTENSION securitylake UPDATE".
-- Like the install script, schema-qualify everything and rely on no search_path.
\echo Use "ALTER EXTENSION securitylake UPDATE TO '0.2.0'" to load this file. \quit

-----------------------------------------------------------------------------
-- The workers' own role (every statement they run runs as it).
-----------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'securitylake_worker') THEN
        CREATE ROLE securitylake_worker NOLOGIN NOINHERIT;
    END IF;
END
$roles$;

-----------------------------------------------------------------------------
-- Routing, defined once, and the queue keyed by it.
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION securitylake.route_key(source text, event jsonb)
    RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    -- coalesce(source, '#' || CASE WHEN jsonb_typeof(event -> 'class_uid') = 'number'
    --                          THEN trim_scale((event -> 'class_uid')::numeric)::text ELSE '' END),
    -- in C (src/route_key.c): every producer's row computes it.
    AS 'MODULE_PATHNAME', 'securitylake_route_key';

CREATE OR REPLACE FUNCTION securitylake.source_route_keys(name text, route_by_class bool, class_uid int)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN route_by_class
                THEN ARRAY[name, '#' OPERATOR(pg_catalog.||) class_uid::pg_catalog.text]
                ELSE ARRAY[name] END;

COMMENT ON FUNCTION securitylake.route_key(text, jsonb) IS
    'the routing key of a queue row: its source, or # and its event''s class_uid';
COMMENT ON FUNCTION securitylake.source_route_keys(text, bool, int) IS
    'the routing keys a source takes: its name, and # and its class_uid when it routes by class';

-- The generated column rewrites the queue once; its primary key becomes (route_key, id).
ALTER TABLE securitylake.queue
    ADD COLUMN route_key text NOT NULL GENERATED ALWAYS AS (securitylake.route_key(source, event)) STORED;
ALTER TABLE securitylake.queue DROP CONSTRAINT queue_pkey;
ALTER TABLE securitylake.queue ADD PRIMARY KEY (route_key, id);

ALTER TABLE securitylake.source ALTER COLUMN batch_record_count DROP NOT NULL;
ALTER TABLE securitylake.source_state ADD COLUMN bucket_region text;
ALTER TABLE securitylake.uploads ADD COLUMN raw_bytes bigint;

-----------------------------------------------------------------------------
-- Batches: routing keys, sizes, leases. A batch 0.1.0 left pending keeps its key
-- and its rows (exactly once: the next attempt uploads the same rows to the same
-- key), with its ids put in record order and its rows' routing keys and sizes.
-----------------------------------------------------------------------------
ALTER TABLE securitylake.batch
    ADD COLUMN route_keys text[],
    ADD COLUMN sizes int[],
    ADD COLUMN raw_bytes bigint,
    ADD COLUMN failures int NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN held_by int,
    ADD COLUMN held_since timestamptz;
UPDATE securitylake.batch b
   SET ids = o.ids, sizes = o.sizes, raw_bytes = o.raw_bytes, route_keys = o.route_keys
  FROM (SELECT b2.id,
               coalesce(pg_catalog.array_agg(q.id ORDER BY x.t, q.id), '{}') AS ids,
               coalesce(pg_catalog.array_agg(CAST(pg_catalog.octet_length(CAST(q.event AS pg_catalog.text)) AS pg_catalog.int4)
                                             ORDER BY x.t, q.id), '{}') AS sizes,
               coalesce(pg_catalog.sum(pg_catalog.octet_length(CAST(q.event AS pg_catalog.text))), 0) AS raw_bytes,
               coalesce((SELECT pg_catalog.array_agg(DISTINCT q2.route_key) FROM securitylake.queue q2
                          WHERE q2.id OPERATOR(pg_catalog.=) ANY (b2.ids)), ARRAY[b2.source]) AS route_keys
          FROM securitylake.batch b2
          LEFT JOIN securitylake.queue q ON q.id OPERATOR(pg_catalog.=) ANY (b2.ids)
          LEFT JOIN LATERAL (SELECT CASE WHEN pg_catalog.jsonb_typeof(q.event OPERATOR(pg_catalog.->) 'time') OPERATOR(pg_catalog.=) 'number'
                                         THEN CAST(q.event OPERATOR(pg_catalog.->) 'time' AS pg_catalog.numeric) END AS t) x ON true
         GROUP BY b2.id) o
 WHERE o.id OPERATOR(pg_catalog.=) b.id;
ALTER TABLE securitylake.batch
    ALTER COLUMN route_keys SET NOT NULL,
    ALTER COLUMN sizes SET NOT NULL,
    ALTER COLUMN raw_bytes SET NOT NULL,
    ALTER COLUMN sizes SET STORAGE EXTERNAL;

-----------------------------------------------------------------------------
-- Functions: new ones, and every changed body (sql/install/).
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION securitylake._queue_depth(keys text[], OUT events bigint, OUT head_enqueued_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off
    SET enable_bitmapscan = off
    SET max_parallel_workers_per_gather = 0
    SET jit = off
AS $fn$
    SELECT (SELECT count(*) FROM securitylake.queue q WHERE q.route_key OPERATOR(pg_catalog.=) ANY (keys)),
           (SELECT min(h.enqueued_at)
              FROM unnest(keys) AS k(key)
             CROSS JOIN LATERAL (SELECT q.enqueued_at FROM securitylake.queue q
                                  WHERE q.route_key OPERATOR(pg_catalog.=) k.key ORDER BY q.id LIMIT 1) h);
$fn$;

CREATE OR REPLACE FUNCTION securitylake._check_endpoint(url text, what text)
    RETURNS void
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'securitylake_check_endpoint';

CREATE OR REPLACE FUNCTION securitylake._caller_is_superuser()
    RETURNS bool
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'securitylake_caller_is_superuser';

-- The worker's own parquet-go tag schema builder (src/columns_tags.c), run on a schema
-- for its error; called by _validate_parquet_schema (SECURITY DEFINER) only.
CREATE FUNCTION securitylake._check_tag_schema(schema jsonb)
    RETURNS void
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'securitylake_check_tag_schema';
REVOKE ALL ON FUNCTION securitylake._check_tag_schema(jsonb) FROM PUBLIC;

-- Two fields reading one key are refused when the source is created.
CREATE OR REPLACE FUNCTION securitylake._validate_parquet_schema(node jsonb, path text DEFAULT '$', depth int DEFAULT 0)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tag text;
    problem text;
    child jsonb;
    i int := 0;
BEGIN
    IF depth > 64 THEN
        problem := 'the schema is nested deeper than 64 levels';
    ELSIF jsonb_typeof(node) IS DISTINCT FROM 'object' THEN
        problem := 'a schema node is not a JSON object';
    ELSIF jsonb_typeof(node->'Tag') IS DISTINCT FROM 'string' THEN
        problem := 'a schema node has no "Tag" string';
    ELSE
        tag := node->>'Tag';
        IF tag !~* '(^|,)\s*name\s*=\s*[^,\s]+' THEN
            problem := 'its Tag has no name=...';
        ELSIF tag ~* '(^|,)\s*repetitiontype\s*=' AND tag !~* '(^|,)\s*repetitiontype\s*=\s*(REQUIRED|OPTIONAL|REPEATED)\s*(,|$)' THEN
            problem := 'its repetitiontype is not REQUIRED, OPTIONAL or REPEATED';
        ELSIF node ? 'Fields' THEN
            IF jsonb_typeof(node->'Fields') IS DISTINCT FROM 'array' OR jsonb_array_length(node->'Fields') = 0 THEN
                problem := 'its "Fields" is not a non-empty array';
            END IF;
        ELSIF tag !~* '(^|,)\s*type\s*=\s*(BOOLEAN|INT32|INT64|FLOAT|DOUBLE|BYTE_ARRAY)\s*(,|$)' THEN
            problem := 'a leaf''s type is not BOOLEAN, INT32, INT64, FLOAT, DOUBLE or BYTE_ARRAY';
        END IF;
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid Parquet schema at %: %', path, problem
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The schema is the reference connector''s parquet-go form: {"Tag": "name=..., repetitiontype=REQUIRED", "Fields": [{"Tag": "name=..., type=..., repetitiontype=..."}]}.',
                  HINT = 'Leave schema NULL to write the built-in OCSF schema of the class.';
    END IF;
    IF node ? 'Fields' THEN
        FOR child IN SELECT value FROM jsonb_array_elements(node->'Fields') LOOP
            PERFORM securitylake._validate_parquet_schema(child, format('%s.Fields[%s]', path, i), depth + 1);
            i := i + 1;
        END LOOP;
    END IF;
    -- Then the whole schema as the worker builds it (src/columns_tags.c), so that what is
    -- accepted here is what the worker can write: e.g. two fields of one group reading one
    -- event key (names and innames match keys case-insensitively; Glue and Athena refuse two
    -- columns of one name), a LIST without its one element, a MAP without a UTF8 key.
    IF depth = 0 THEN
        PERFORM securitylake._check_tag_schema(node);
    END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake._validate_source(s securitylake.source)
    RETURNS securitylake.source
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    m text[];
    known_options constant text[] := ARRAY['endpoint', 'sts_endpoint', 'force_path_style', 'role_session_name',
        'session_tags', 'session_duration', 'zstd_level', 'ocsf_version', 'max_depth', 'strict_nested',
        'max_queued_rows', 'ca_file', 'enabled', 'expected_bucket_owner', 'max_event_size', 'row_group_size',
        'object_size', 'fill_dt'];
    k text;
    v jsonb;
BEGIN
    IF s.name IS NULL OR s.name !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid source name "%"', s.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A source name is 1 to 64 letters, digits, "_", "." or "-".',
                  HINT = 'Use the custom source name you gave Security Lake.';
    END IF;

    -- location: s3://bucket/prefix/ exactly as Security Lake returned it.
    m := regexp_match(coalesce(s.location, ''), '^s3://([^/]+)(/(.*))?$');
    IF m IS NULL THEN
        RAISE EXCEPTION 'invalid location "%"', s.location
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The location must be an s3:// URL: s3://<bucket>/<prefix>/.',
                  HINT = 'Use provider.location from CreateCustomLogSource, e.g. s3://aws-security-data-lake-us-east-1-abc/ext/my_source/1.0/.';
    END IF;
    IF m[1] !~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' OR m[1] ~ '\.\.' OR m[1] ~ '^\d+\.\d+\.\d+\.\d+$' THEN
        RAISE EXCEPTION 'invalid S3 bucket name "%" in location', m[1]
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Bucket names are 3 to 63 lower-case letters, digits, dots and hyphens, and not an IP address.';
    END IF;
    s.bucket := m[1];
    s.prefix := coalesce(m[3], '');
    IF s.prefix <> '' AND right(s.prefix, 1) <> '/' THEN
        s.prefix := s.prefix || '/';
    END IF;
    IF s.prefix ~ '(^|/)\.\.?/' OR s.prefix ~ '//' THEN
        RAISE EXCEPTION 'invalid key prefix "%" in location', s.prefix
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The prefix may not contain empty, "." or ".." segments.';
    END IF;

    IF s.role_arn IS NOT NULL AND (s.role_arn !~ '^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$'
                                   -- the role's path and name: at most 512 characters (regex counts stop at 255)
                                   OR length(substring(s.role_arn FROM ':role/(.*)$')) > 512) THEN
        RAISE EXCEPTION 'invalid role ARN "%"', s.role_arn
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An IAM role ARN looks like arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-<source>-<region>.',
                  HINT = 'Use provider.roleArn from CreateCustomLogSource.';
    END IF;
    IF s.external_id IS NOT NULL AND (s.external_id !~ '^[A-Za-z0-9_+=,.@:/-]+$'
                                      OR length(s.external_id) NOT BETWEEN 2 AND 1224) THEN
        RAISE EXCEPTION 'invalid external id'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An ExternalId is 2 to 1224 characters of letters, digits and _+=,.@:/-.';
    END IF;
    IF s.role_arn IS NOT NULL AND s.external_id IS NULL THEN
        RAISE EXCEPTION 'a role ARN needs its external id'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Security Lake''s provider role trusts the writer only with the ExternalId agreed when the source was created.',
                  HINT = 'Pass external_id => ''...'' as given to CreateCustomLogSource.';
    END IF;
    IF s.class_uid IS NULL OR s.class_uid <= 0 THEN
        RAISE EXCEPTION 'invalid class_uid %', s.class_uid
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'class_uid is the OCSF event class of the source, e.g. 3002 for Authentication.';
    END IF;
    IF s.region IS NULL OR s.region !~ '^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$' THEN
        RAISE EXCEPTION 'invalid region "%"', s.region
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An AWS region name looks like us-east-1 or eu-central-2.';
    END IF;
    IF s.account_id IS NULL OR s.account_id !~ '^([0-9]{12}|external|external_[A-Za-z0-9-]{1,64})$' THEN
        RAISE EXCEPTION 'invalid account id "%"', s.account_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The account is a 12-digit AWS account id, or "external" / "external_<id>" for data from outside AWS.';
    END IF;
    IF s.schema IS NOT NULL THEN
        IF jsonb_typeof(s.schema) <> 'object' OR NOT s.schema ? 'Fields' THEN
            RAISE EXCEPTION 'invalid Parquet schema: the root must be an object with "Tag" and "Fields"'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'The schema is the reference connector''s parquet-go form: {"Tag": "name=..., repetitiontype=REQUIRED", "Fields": [{"Tag": "name=..., type=..., repetitiontype=..."}]}.',
                      HINT = 'Leave schema NULL to write the built-in OCSF schema of the class.';
        END IF;
        PERFORM securitylake._validate_parquet_schema(s.schema);
    END IF;
    -- 0 means no record-count threshold (stored as NULL).
    IF s.batch_record_count = 0 THEN
        s.batch_record_count := NULL;
    END IF;
    IF s.batch_record_count NOT BETWEEN 1 AND 10000000 THEN
        RAISE EXCEPTION 'invalid batch_record_count %', s.batch_record_count
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'batch_record_count is between 1 and 10,000,000, or NULL (0 in alter_source) for no record-count threshold.';
    END IF;
    IF s.batch_data_size IS NULL OR s.batch_data_size NOT BETWEEN 1048576 AND 68719476736 THEN
        RAISE EXCEPTION 'invalid batch_data_size %', s.batch_data_size
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'batch_data_size is between 1 MiB and 64 GiB of queued JSON.';
    END IF;
    IF s.publish_rate IS NULL OR s.publish_rate < interval '1 second' OR s.publish_rate > interval '1 day' THEN
        RAISE EXCEPTION 'invalid publish_rate %', s.publish_rate
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'publish_rate is between 1 second and 1 day.',
                  HINT = 'AWS asks for deliveries every 5 minutes to 1 day; shorter rates make many small files.';
    END IF;

    IF jsonb_typeof(coalesce(s.options, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k, v IN SELECT key, value FROM jsonb_each(coalesce(s.options, '{}')) LOOP
        IF NOT k = ANY (known_options) THEN
            RAISE EXCEPTION 'unknown option "%"', k
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Known options: %s.', array_to_string(known_options, ', '));
        END IF;
        -- JSON null resets an option to its default (alter_source merges options).
        IF jsonb_typeof(v) = 'null' THEN
            CASE k
                WHEN 'ocsf_version' THEN s.ocsf_version := '1.1.0';
                WHEN 'max_queued_rows' THEN s.max_queued_rows := NULL;
                WHEN 'enabled' THEN s.enabled := true;
                ELSE NULL;
            END CASE;
            CONTINUE;
        END IF;
        IF (k IN ('endpoint', 'sts_endpoint') AND (jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^https?://[^/\s]+/?$'))
           OR (k IN ('force_path_style', 'session_tags', 'strict_nested', 'enabled') AND jsonb_typeof(v) <> 'boolean')
           OR (k = 'role_session_name' AND (jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^[A-Za-z0-9_+=,.@-]{2,64}$'))
           OR (k = 'session_duration' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 900 AND 43200 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'zstd_level' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 1 AND 22 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'ocsf_version' AND (jsonb_typeof(v) <> 'string' OR v #>> '{}' NOT IN ('1.1.0', '1.3.0')))
           OR (k = 'max_depth' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 1 AND 10 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'max_queued_rows' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric < 1 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'ca_file' AND (jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^/'))
           OR (k = 'expected_bucket_owner' AND NOT (jsonb_typeof(v) = 'boolean' AND NOT v::text::boolean)
                                           AND (jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^[0-9]{12}$'))
           OR (k = 'max_event_size' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 1024 AND 268435456 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'row_group_size' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 1048576 AND 268435456 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'object_size' AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 1048576 AND 5368709120 OR (v #>> '{}')::numeric % 1 <> 0))
           OR (k = 'fill_dt' AND jsonb_typeof(v) <> 'boolean')
        THEN
            RAISE EXCEPTION 'invalid value % for option "%"', v, k
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = CASE k
                          WHEN 'endpoint' THEN 'endpoint is an http(s) URL without a path, e.g. https://s3.us-east-1.amazonaws.com.'
                          WHEN 'sts_endpoint' THEN 'sts_endpoint is an http(s) URL without a path, e.g. https://sts.us-east-1.amazonaws.com.'
                          WHEN 'role_session_name' THEN 'role_session_name is 2 to 64 characters of letters, digits and _+=,.@-.'
                          WHEN 'session_duration' THEN 'session_duration is 900 to 43200 seconds.'
                          WHEN 'zstd_level' THEN 'zstd_level is an integer from 1 to 22.'
                          WHEN 'ocsf_version' THEN 'ocsf_version is 1.1.0 or 1.3.0.'
                          WHEN 'max_depth' THEN 'max_depth is an integer from 1 to 10.'
                          WHEN 'max_queued_rows' THEN 'max_queued_rows is a positive integer.'
                          WHEN 'ca_file' THEN 'ca_file is an absolute path to a PEM file.'
                          WHEN 'expected_bucket_owner' THEN 'expected_bucket_owner is the 12-digit account that must own the bucket, or false to send no owner condition.'
                          WHEN 'max_event_size' THEN 'max_event_size is 1 KiB to 256 MiB of JSON per event.'
                          WHEN 'row_group_size' THEN 'row_group_size is 1 MiB to 256 MiB (Security Lake''s limit) of buffered column data.'
                          WHEN 'object_size' THEN 'object_size is 1 MiB to 5 GiB of Parquet per object.'
                          ELSE format('%s is true or false.', k) END;
        END IF;
    END LOOP;
    s.options := jsonb_strip_nulls(coalesce(s.options, '{}'));
    -- Signed requests go only where the superuser allowed (securitylake.allowed_endpoints).
    IF s.options ? 'endpoint' THEN
        PERFORM securitylake._check_endpoint(s.options->>'endpoint', 'endpoint');
    END IF;
    IF s.options ? 'sts_endpoint' THEN
        PERFORM securitylake._check_endpoint(s.options->>'sts_endpoint', 'sts_endpoint');
    END IF;
    IF s.options ? 'ocsf_version' THEN
        s.ocsf_version := s.options->>'ocsf_version';
    END IF;
    IF s.options ? 'max_queued_rows' THEN
        s.max_queued_rows := (s.options->>'max_queued_rows')::bigint;
    END IF;
    IF s.options ? 'enabled' THEN
        s.enabled := (s.options->>'enabled')::boolean;
    END IF;
    -- These three live in their own columns.
    s.options := s.options - 'ocsf_version' - 'max_queued_rows' - 'enabled';
    -- Without a schema the source writes the built-in schema of its class: it must exist.
    IF s.schema IS NULL AND NOT EXISTS (SELECT 1 FROM securitylake._ocsf_classes() c
                                        WHERE c.ocsf_version = s.ocsf_version AND c.class_uid = s.class_uid) THEN
        RAISE EXCEPTION 'OCSF % has no class %', s.ocsf_version, s.class_uid
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See securitylake.ocsf_classes, or give the source a schema.';
    END IF;
    RETURN s;
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake.create_source(
    name text, location text, role_arn text, external_id text, class_uid int,
    region text, account_id text, schema jsonb DEFAULT NULL,
    batch_record_count int DEFAULT NULL, batch_data_size bigint DEFAULT 4294967296,
    publish_rate interval DEFAULT '5 min', options jsonb DEFAULT '{}')
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s securitylake.source;
BEGIN
    IF EXISTS (SELECT 1 FROM securitylake.source WHERE source.name = create_source.name) THEN
        RAISE EXCEPTION 'source "%" already exists', create_source.name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Use securitylake.alter_source to change it.';
    END IF;
    s.name := create_source.name;
    s.location := create_source.location;
    s.role_arn := create_source.role_arn;
    s.external_id := create_source.external_id;
    s.class_uid := create_source.class_uid;
    s.region := create_source.region;
    s.account_id := create_source.account_id;
    s.schema := create_source.schema;
    s.batch_record_count := create_source.batch_record_count;
    s.batch_data_size := create_source.batch_data_size;
    s.publish_rate := create_source.publish_rate;
    s.options := coalesce(create_source.options, '{}');
    IF s.options ? 'ca_file' AND NOT securitylake._caller_is_superuser() THEN
        RAISE EXCEPTION 'only a superuser may set ca_file'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The CA a source trusts decides which servers its signed requests may reach.',
                  HINT = 'Ask a superuser to set it with securitylake.alter_source.';
    END IF;
    s.ocsf_version := '1.1.0';
    s.enabled := true;
    s := securitylake._validate_source(s);
    s.route_by_class := NOT EXISTS (SELECT 1 FROM securitylake.source o
                                    WHERE o.route_by_class AND o.class_uid = s.class_uid);
    IF NOT s.route_by_class THEN
        RAISE NOTICE 'another source already takes queue rows of class_uid % by class', s.class_uid
            USING DETAIL = format('Rows for source "%s" must name it in securitylake.queue.source.', s.name);
    END IF;
    INSERT INTO securitylake.source (name, location, bucket, prefix, role_arn, external_id, class_uid, region,
                                     account_id, schema, ocsf_version, route_by_class, batch_record_count,
                                     batch_data_size, publish_rate, max_queued_rows, options, enabled)
    VALUES (s.name, s.location, s.bucket, s.prefix, s.role_arn, s.external_id, s.class_uid, s.region,
            s.account_id, s.schema, s.ocsf_version, s.route_by_class, s.batch_record_count,
            s.batch_data_size, s.publish_rate, s.max_queued_rows, s.options, s.enabled);
    INSERT INTO securitylake.source_state (source) VALUES (s.name);
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake.alter_source(
    name text, location text DEFAULT NULL, role_arn text DEFAULT NULL, external_id text DEFAULT NULL,
    class_uid int DEFAULT NULL, region text DEFAULT NULL, account_id text DEFAULT NULL,
    schema jsonb DEFAULT NULL, batch_record_count int DEFAULT NULL, batch_data_size bigint DEFAULT NULL,
    publish_rate interval DEFAULT NULL, options jsonb DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s securitylake.source;
    old securitylake.source;
    changed text[] := '{}';
BEGIN
    SELECT * INTO s FROM securitylake.source WHERE source.name = alter_source.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" does not exist', alter_source.name
            USING ERRCODE = 'undefined_object', HINT = 'See securitylake.sources for the configured sources.';
    END IF;
    old := s;
    IF alter_source.options ? 'ca_file' AND NOT securitylake._caller_is_superuser() THEN
        RAISE EXCEPTION 'only a superuser may set ca_file'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The CA a source trusts decides which servers its signed requests may reach.';
    END IF;
    s.location := coalesce(alter_source.location, s.location);
    s.role_arn := coalesce(alter_source.role_arn, s.role_arn);
    s.external_id := coalesce(alter_source.external_id, s.external_id);
    s.class_uid := coalesce(alter_source.class_uid, s.class_uid);
    s.region := coalesce(alter_source.region, s.region);
    s.account_id := coalesce(alter_source.account_id, s.account_id);
    s.schema := coalesce(alter_source.schema, s.schema);
    s.batch_record_count := coalesce(alter_source.batch_record_count, s.batch_record_count);
    s.batch_data_size := coalesce(alter_source.batch_data_size, s.batch_data_size);
    s.publish_rate := coalesce(alter_source.publish_rate, s.publish_rate);
    s.options := s.options || coalesce(alter_source.options, '{}');
    s := securitylake._validate_source(s);
    -- The table Security Lake made for this location learnt its schema from the objects
    -- already there, and Athena cannot evolve nested types: once a source has uploads,
    -- what shapes its columns changes only together with the location (a new source
    -- version).
    IF s.class_uid IS DISTINCT FROM old.class_uid THEN changed := changed || 'class_uid'::text; END IF;
    IF s.ocsf_version IS DISTINCT FROM old.ocsf_version THEN changed := changed || 'ocsf_version'::text; END IF;
    IF s.schema IS DISTINCT FROM old.schema THEN changed := changed || 'schema'::text; END IF;
    IF s.options->'max_depth' IS DISTINCT FROM old.options->'max_depth' THEN changed := changed || 'max_depth'::text; END IF;
    -- A batch claimed before is written with the settings of its delivery, to the key (and
    -- location) of its claim: it must go out with the schema it was claimed under.
    IF cardinality(changed) > 0 AND EXISTS (SELECT 1 FROM securitylake.batch b WHERE b.source = s.name) THEN
        RAISE EXCEPTION 'source "%" has batches being delivered: % would change their schema', s.name, array_to_string(changed, ', ')
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'A claimed batch is written to the key it was given, with the columns it was claimed under.',
                  HINT = 'Deliver them first (securitylake.flush), or disable the source and wait until securitylake.status shows no pending batch.';
    END IF;
    IF cardinality(changed) > 0 AND s.location = old.location
       AND EXISTS (SELECT 1 FROM securitylake.uploads u WHERE u.source = s.name) THEN
        RAISE EXCEPTION 'source "%" already has objects in the lake: % would change its table''s schema',
                        s.name, array_to_string(changed, ', ')
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Security Lake''s Glue table learnt its columns from the objects at this location, and Athena cannot change nested types in place.',
                  HINT = 'Register a new source version (CreateCustomLogSource with a new sourceVersion) and pass its location in the same alter_source call.';
    END IF;
    IF alter_source.class_uid IS NOT NULL THEN
        s.route_by_class := NOT EXISTS (SELECT 1 FROM securitylake.source o
                                        WHERE o.route_by_class AND o.class_uid = s.class_uid AND o.name <> s.name);
        IF NOT s.route_by_class THEN
            RAISE NOTICE 'another source already takes queue rows of class_uid % by class', s.class_uid
                USING DETAIL = format('Rows for source "%s" must name it in securitylake.queue.source.', s.name);
        END IF;
    END IF;
    UPDATE securitylake.source o
       SET location = s.location, bucket = s.bucket, prefix = s.prefix, role_arn = s.role_arn,
           external_id = s.external_id, class_uid = s.class_uid, region = s.region, account_id = s.account_id,
           schema = s.schema, ocsf_version = s.ocsf_version, route_by_class = s.route_by_class,
           batch_record_count = s.batch_record_count, batch_data_size = s.batch_data_size,
           publish_rate = s.publish_rate, max_queued_rows = s.max_queued_rows, options = s.options,
           enabled = s.enabled
     WHERE o.name = s.name;
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake.drop_source(name text, force bool DEFAULT false)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s securitylake.source;
    queued bigint;
    pending bigint;
BEGIN
    SELECT * INTO s FROM securitylake.source WHERE source.name = drop_source.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" does not exist', drop_source.name
            USING ERRCODE = 'undefined_object', HINT = 'See securitylake.sources for the configured sources.';
    END IF;
    -- Serialise with the workers: their claims lock this row (FOR UPDATE SKIP LOCKED), and
    -- no worker can take a batch while its row is locked here.
    PERFORM 1 FROM securitylake.source_state st WHERE st.source = s.name FOR UPDATE;
    PERFORM 1 FROM securitylake.batch b WHERE b.source = s.name FOR UPDATE;
    SELECT count(*) INTO queued FROM securitylake.queue q
     WHERE q.route_key = ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid));
    SELECT count(*) INTO pending FROM securitylake.batch b WHERE b.source = s.name;
    IF (queued > 0 OR pending > 0) AND NOT force THEN
        RAISE EXCEPTION 'source "%" still has % queued events', s.name, queued
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('%s events are queued for it and %s batches are being delivered.', queued, pending),
                  HINT = 'Deliver them first with securitylake.flush(), or drop with force => true to move them to securitylake.dead_letter.';
    END IF;
    -- A batch a live worker is uploading right now: its object may land at any moment, and its
    -- events must not be in the lake and in dead_letter both.
    IF EXISTS (SELECT 1 FROM securitylake.batch b
                WHERE b.source = s.name AND b.held_by IS NOT NULL
                  AND securitylake._worker_alive(b.held_by, b.held_since)) THEN
        RAISE EXCEPTION 'source "%" has a batch being uploaded right now', s.name
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Its events may be in the lake at any moment; dropping the source now could put them in dead_letter too.',
                  HINT = 'Try again in a moment, or disable the source first (alter_source options => {"enabled": false}).';
    END IF;
    -- Events of a batch claimed before (a failed or crashed attempt) may already be in its
    -- object: their dead letters say so.
    WITH batched AS (
        SELECT b.object_key, i.id FROM securitylake.batch b, unnest(b.ids) AS i(id) WHERE b.source = s.name),
    moved AS (
        DELETE FROM securitylake.queue q
         WHERE q.route_key = ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid))
        RETURNING q.*)
    INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)
    SELECT s.name, m.event, m.region, m.account_id,
           CASE WHEN bt.object_key IS NULL THEN 'source dropped'
                ELSE format('source dropped while a batch held it: the event may already be in %s', bt.object_key) END,
           m.enqueued_at
      FROM moved m LEFT JOIN batched bt ON bt.id = m.id;
    DELETE FROM securitylake.batch b WHERE b.source = s.name;
    DELETE FROM securitylake.source o WHERE o.name = s.name;
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake._bp_cached()
    RETURNS text[]
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_bp_cached';

CREATE OR REPLACE FUNCTION securitylake._bp_remember(over text[])
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_bp_remember';

CREATE OR REPLACE FUNCTION securitylake._check_backpressure()
    RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s record;
    k text;
    bound numeric;
    queued bigint;
    over text[];
    hit record;
BEGIN
    -- Sources whose queued rows may exceed their cap: the upper bound first.
    FOR s IN SELECT o.name, o.max_queued_rows, securitylake.source_route_keys(o.name, o.route_by_class, o.class_uid) AS keys
               FROM securitylake.source o WHERE o.max_queued_rows IS NOT NULL ORDER BY o.name LOOP
        bound := 0;
        FOREACH k IN ARRAY s.keys LOOP
            -- numeric: ids are not bounded by the sequence (a superuser may write any), and
            -- a difference of two bigints must not overflow into the producers' error.
            bound := bound + coalesce(CAST((SELECT q.id FROM securitylake.queue q WHERE q.route_key = k ORDER BY q.id DESC LIMIT 1) AS numeric)
                                      - (SELECT q.id FROM securitylake.queue q WHERE q.route_key = k ORDER BY q.id LIMIT 1) + 1, 0);
        END LOOP;
        IF bound > s.max_queued_rows THEN
            over := coalesce(over, '{}') || s.name;
        END IF;
    END LOOP;
    IF over IS NULL THEN
        RETURN NULL;
    END IF;
    -- Then the count, at most once a second per session.
    over := securitylake._bp_cached();
    IF over IS NULL THEN
        over := '{}';
        FOR s IN SELECT o.name, o.max_queued_rows, securitylake.source_route_keys(o.name, o.route_by_class, o.class_uid) AS keys
                   FROM securitylake.source o WHERE o.max_queued_rows IS NOT NULL ORDER BY o.name LOOP
            SELECT count(*) INTO queued FROM (
                SELECT 1 FROM securitylake.queue q WHERE q.route_key = ANY (s.keys) LIMIT s.max_queued_rows + 1) sub;
            IF queued > s.max_queued_rows THEN
                over := over || s.name;
            END IF;
        END LOOP;
        PERFORM securitylake._bp_remember(over);
    END IF;
    IF cardinality(over) = 0 THEN
        RETURN NULL;
    END IF;
    -- Refuse the statement only if it queued rows for a source over its cap.
    SELECT o.name, o.max_queued_rows INTO hit
      FROM securitylake.source o
     WHERE o.name = ANY (over)
       AND EXISTS (SELECT 1 FROM new_rows n
                    WHERE n.route_key = ANY (securitylake.source_route_keys(o.name, o.route_by_class, o.class_uid)))
     ORDER BY o.name LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'securitylake source "%" has more than % queued events', hit.name, hit.max_queued_rows
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = 'Delivery to Security Lake is behind (see securitylake.status); the source''s max_queued_rows cap is reached.',
                  HINT = 'Retry later, fix the delivery error, or raise max_queued_rows with securitylake.alter_source.';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake._sync_backpressure_trigger()
    RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    wanted bool := EXISTS (SELECT 1 FROM securitylake.source WHERE max_queued_rows IS NOT NULL);
    present bool := EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass
                                                      AND tgname = 'securitylake_backpressure');
BEGIN
    PERFORM securitylake._bp_remember(NULL);
    IF wanted AND NOT present THEN
        CREATE TRIGGER securitylake_backpressure AFTER INSERT ON securitylake.queue
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION securitylake._check_backpressure();
    ELSIF present AND NOT wanted THEN
        DROP TRIGGER securitylake_backpressure ON securitylake.queue;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION securitylake._queued_keys(after text DEFAULT NULL)
    RETURNS SETOF text
    LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH RECURSIVE k(key) AS (
        (SELECT q.route_key FROM securitylake.queue q
          WHERE after IS NULL OR q.route_key OPERATOR(pg_catalog.>) after
          ORDER BY q.route_key LIMIT 1)
        UNION ALL
        SELECT (SELECT q.route_key FROM securitylake.queue q
                 WHERE q.route_key OPERATOR(pg_catalog.>) k.key ORDER BY q.route_key LIMIT 1)
          FROM k WHERE k.key IS NOT NULL)
    SELECT k.key FROM k WHERE k.key IS NOT NULL;
END;

CREATE OR REPLACE FUNCTION securitylake._raw_size(event jsonb)
    RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'securitylake_raw_size';

CREATE OR REPLACE FUNCTION securitylake._worker_alive(pid int, started timestamptz)
    RETURNS bool
    LANGUAGE c STABLE STRICT
    AS 'MODULE_PATHNAME', 'securitylake_worker_alive';

CREATE OR REPLACE FUNCTION securitylake.flush(source text DEFAULT NULL, timeout interval DEFAULT '5 min')
    RETURNS TABLE (source text, object_key text, rows bigint, bytes bigint)
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'securitylake_flush';

CREATE OR REPLACE FUNCTION securitylake._flush_pending(source text, upto bigint)
    RETURNS bool
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    -- Per key through the primary key: left to its estimates the planner scanned the whole
    -- queue for the all-sources case (test/e2e/plans.test.mjs).
    SET enable_seqscan = off
    -- (the disabled scans' cost would make every call a JIT compile: ~300 ms each)
    SET jit = off
AS $fn$
    SELECT CASE WHEN _flush_pending.source IS NOT NULL THEN
        EXISTS (SELECT 1 FROM securitylake.source s, securitylake.queue q
                 WHERE s.name OPERATOR(pg_catalog.=) _flush_pending.source
                   AND q.route_key OPERATOR(pg_catalog.=) ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid))
                   AND q.id OPERATOR(pg_catalog.<=) upto)
    ELSE
        EXISTS (SELECT 1 FROM securitylake.source s, securitylake.queue q
                 WHERE s.enabled
                   AND q.route_key OPERATOR(pg_catalog.=) ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid))
                   AND q.id OPERATOR(pg_catalog.<=) upto)
        OR EXISTS (SELECT 1 FROM securitylake._queued_keys() AS k(key)
                    WHERE NOT EXISTS (SELECT 1 FROM securitylake.source s
                                       WHERE k.key OPERATOR(pg_catalog.=)
                                             ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)))
                      AND EXISTS (SELECT 1 FROM securitylake.queue q
                                   WHERE q.route_key OPERATOR(pg_catalog.=) k.key AND q.id OPERATOR(pg_catalog.<=) upto))
    END;
$fn$;

CREATE OR REPLACE FUNCTION securitylake._flush_skipped(upto bigint)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.string_agg(s.name, ', ' ORDER BY s.name)
      FROM securitylake.source s
     WHERE NOT s.enabled
       AND EXISTS (SELECT 1 FROM securitylake.queue q
                    WHERE q.route_key OPERATOR(pg_catalog.=) ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid))
                      AND q.id OPERATOR(pg_catalog.<=) upto);
$fn$;

CREATE OR REPLACE FUNCTION securitylake.validate(event jsonb, source text)
    RETURNS text
    LANGUAGE c VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'securitylake_validate';

COMMENT ON FUNCTION securitylake.flush(text, interval) IS
    'deliver every event queued before the call (one source or all) and list the objects written';

-----------------------------------------------------------------------------
-- Views: status gains bucket_region (before its totals), unrouted the queue's route_key.
-----------------------------------------------------------------------------
DROP VIEW securitylake.status;
DROP VIEW securitylake.unrouted;
CREATE VIEW securitylake.status AS
    SELECT s.name AS source,
           s.enabled,
           q.events AS queued_rows,
           now() - q.head_enqueued_at AS oldest_queued_age,
           (SELECT count(*) FROM securitylake.batch b WHERE b.source = s.name) AS pending_batches,
           st.last_upload_at,
           st.last_error,
           st.last_error_at,
           coalesce(st.failures, 0) AS failures,
           st.next_attempt_at,
           st.bucket_region,
           coalesce(u.objects, 0) AS objects_uploaded,
           coalesce(u.rows, 0)::bigint AS rows_uploaded,
           coalesce(u.bytes, 0)::bigint AS bytes_uploaded,
           (SELECT count(*) FROM securitylake.dead_letter d WHERE d.source = s.name) AS dead_letters
      FROM securitylake.source s
      LEFT JOIN securitylake.source_state st ON st.source = s.name
      CROSS JOIN LATERAL securitylake._queue_depth(securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)) q
      LEFT JOIN LATERAL (
            SELECT count(*) AS objects, sum(up.rows) AS rows, sum(up.bytes) AS bytes
              FROM securitylake.uploads up WHERE up.source = s.name) u ON true;
COMMENT ON VIEW securitylake.status IS 'per-source delivery: queued rows, age, last upload, last error, totals, dead letters';

CREATE VIEW securitylake.unrouted AS
    SELECT q.* FROM securitylake.queue q
     WHERE NOT EXISTS (SELECT 1 FROM securitylake.source s
                        WHERE q.route_key = ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)));


-----------------------------------------------------------------------------
-- New in 0.2.0 as a whole: registration with Security Lake (70-register.sql) and the
-- metrics views (75-metrics.sql), as the install script creates them.
-----------------------------------------------------------------------------
-- securitylake install script: registering custom sources with Security Lake.
--
-- register_custom_source calls Security Lake's CreateCustomLogSource with the server's
-- own AWS identity and creates the matching source from the answer (its location, its
-- provider role, the ExternalId agreed); deregister_custom_source undoes both. The AWS
-- calls are the C functions below (src/register.c): internal, granted to no one, called
-- by these SECURITY DEFINER functions as the extension's owner.

CREATE FUNCTION securitylake._securitylake_request(operation text, method text, path text, body jsonb,
    region text, securitylake_endpoint text, sts_endpoint text, ca_file text)
    RETURNS jsonb
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_securitylake_request';
CREATE FUNCTION securitylake._aws_account(region text, sts_endpoint text, ca_file text)
    RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_aws_account';

-- The event class names CreateCustomLogSource takes (eventClasses), by OCSF class_uid:
-- the names Security Lake's API reference lists, matched to the OCSF 1.1.0 class of the
-- same name (Windows extension classes: 200000 + category * 1000 + uid). ACCESS_ACTIVITY
-- and CLOUD_API name no OCSF 1.x class and map from no class_uid; pass event_class for
-- them, or for a class this list does not know.
CREATE FUNCTION securitylake.event_class_name(class_uid int)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE class_uid
        WHEN 1001 THEN 'FILE_ACTIVITY'
        WHEN 1002 THEN 'KERNEL_EXTENSION'
        WHEN 1003 THEN 'KERNEL_ACTIVITY'
        WHEN 1004 THEN 'MEMORY_ACTIVITY'
        WHEN 1005 THEN 'MODULE_ACTIVITY'
        WHEN 1006 THEN 'SCHEDULED_JOB_ACTIVITY'
        WHEN 1007 THEN 'PROCESS_ACTIVITY'
        WHEN 2001 THEN 'SECURITY_FINDING'
        WHEN 3001 THEN 'ACCOUNT_CHANGE'
        WHEN 3002 THEN 'AUTHENTICATION'
        WHEN 3003 THEN 'AUTHORIZATION'
        WHEN 3004 THEN 'ENTITY_MANAGEMENT_AUDIT'
        WHEN 4001 THEN 'NETWORK_ACTIVITY'
        WHEN 4002 THEN 'HTTP_ACTIVITY'
        WHEN 4003 THEN 'DNS_ACTIVITY'
        WHEN 4004 THEN 'DHCP_ACTIVITY'
        WHEN 4005 THEN 'RDP_ACTIVITY'
        WHEN 4006 THEN 'SMB_ACTIVITY'
        WHEN 4007 THEN 'SSH_ACTIVITY'
        WHEN 4008 THEN 'FTP_ACTIVITY'
        WHEN 4009 THEN 'EMAIL_ACTIVITY'
        WHEN 5001 THEN 'INVENTORY_INFO'
        WHEN 5002 THEN 'CONFIG_STATE'
        WHEN 6003 THEN 'API_ACTIVITY'
        WHEN 201001 THEN 'REGISTRY_KEY_ACTIVITY'
        WHEN 201002 THEN 'REGISTRY_VALUE_ACTIVITY'
        WHEN 201003 THEN 'RESOURCE_ACTIVITY'
    END;
COMMENT ON FUNCTION securitylake.event_class_name(int) IS
    'the Security Lake event class name (CreateCustomLogSource eventClasses) of an OCSF class_uid, or NULL';

-- What Security Lake answered for each custom source registered from this database.
-- Not tied to securitylake.source: after drop_source the custom source still exists in
-- Security Lake, and deregister_custom_source finds its region and version here.
CREATE TABLE securitylake.registration (
    source              text PRIMARY KEY,   -- sourceName, and the local source's name
    source_version      text,               -- sourceVersion; NULL: none
    region              text NOT NULL,      -- the lake's region it was created in
    event_class         text,               -- eventClasses[0]; NULL: none sent
    principal           text NOT NULL,      -- providerIdentity.principal (the writer's account)
    external_id         text NOT NULL,      -- providerIdentity.externalId
    crawler_role_arn    text NOT NULL,      -- crawlerConfiguration.roleArn
    location            text NOT NULL,      -- provider.location
    provider_role_arn   text NOT NULL,      -- provider.roleArn
    crawler_arn         text,               -- attributes.crawlerArn
    database_arn        text,               -- attributes.databaseArn
    table_arn           text,               -- attributes.tableArn (the table Athena queries)
    endpoint            text,               -- the control-plane endpoint used; NULL: AWS's own
    registered_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE securitylake.registration IS 'custom sources registered in Security Lake by register_custom_source';
SELECT pg_catalog.pg_extension_config_dump('securitylake.registration', '');

-- DeleteCustomLogSource (every version of the name when version is NULL, as the API does).
CREATE FUNCTION securitylake._delete_custom_source(name text, version text, region text,
                                                   endpoint text, ca_file text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM securitylake._securitylake_request('DeleteCustomLogSource', 'DELETE',
        '/v1/datalake/logsources/custom/' || name
            || CASE WHEN version IS NULL THEN '' ELSE '?sourceVersion=' || version END,
        NULL, region, endpoint, NULL, ca_file);
END
$fn$;

-- The checks register_custom_source makes before it calls AWS (the arguments Security
-- Lake would refuse, and what create_source would refuse afterwards).
CREATE FUNCTION securitylake._check_registration(name text, class_uid int, region text,
    crawler_role_arn text, version text, external_id text, principal text, event_class text,
    options jsonb)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9_.-]{1,20}$' THEN
        RAISE EXCEPTION 'invalid custom source name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A custom source name is 1 to 20 letters, digits, "_", "." or "-": Security Lake names the provider role AmazonSecurityLake-Provider-<name>-<region>, and IAM role names are at most 64 characters.';
    END IF;
    IF class_uid IS NULL OR class_uid <= 0 THEN
        RAISE EXCEPTION 'invalid class_uid %', class_uid
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'class_uid is the OCSF event class of the source, e.g. 3002 for Authentication.';
    END IF;
    IF region IS NULL OR region !~ '^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$' THEN
        RAISE EXCEPTION 'invalid region "%"', region
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The region is the lake''s AWS region, e.g. us-east-1.';
    END IF;
    IF crawler_role_arn IS NULL OR crawler_role_arn !~ '^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$' THEN
        RAISE EXCEPTION 'invalid crawler role ARN "%"', crawler_role_arn
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The crawler role is the IAM role Security Lake''s Glue crawler runs as, e.g. arn:aws:iam::123456789012:role/AmazonSecurityLakeCustomSourceCrawler.',
                  HINT = 'docs/aws-setup.md shows how to create it.';
    END IF;
    IF version IS NOT NULL AND version !~ '^[A-Za-z0-9._-]{1,32}$' THEN
        RAISE EXCEPTION 'invalid source version "%"', version
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A source version is 1 to 32 letters, digits, ".", "_" or "-", e.g. 1.0.';
    END IF;
    IF external_id IS NOT NULL AND (external_id !~ '^[A-Za-z0-9_+=,.@:/-]+$' OR length(external_id) NOT BETWEEN 2 AND 1224) THEN
        RAISE EXCEPTION 'invalid external id'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An ExternalId is 2 to 1224 characters of letters, digits and _+=,.@:/-.';
    END IF;
    IF principal IS NOT NULL AND principal !~ '^([0-9]{12}|[a-z0-9.-]*\.(amazonaws|amazon)\.com)$' THEN
        RAISE EXCEPTION 'invalid principal "%"', principal
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The principal is the 12-digit AWS account that writes to the source (or an AWS service principal).';
    END IF;
    IF event_class IS NOT NULL AND (event_class !~ '^[A-Z0-9_]+$' OR length(event_class) > 1024) THEN
        RAISE EXCEPTION 'invalid event class "%"', event_class
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An event class is Security Lake''s upper-case name of an OCSF class, e.g. AUTHENTICATION.';
    END IF;
    IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF options ? 'securitylake_endpoint' THEN
        IF jsonb_typeof(options->'securitylake_endpoint') <> 'string' OR options->>'securitylake_endpoint' !~ '^https?://[^/\s]+/?$' THEN
            RAISE EXCEPTION 'invalid value % for option "securitylake_endpoint"', options->'securitylake_endpoint'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'securitylake_endpoint is an http(s) URL without a path, e.g. https://securitylake.us-east-1.amazonaws.com.';
        END IF;
        PERFORM securitylake._check_endpoint(options->>'securitylake_endpoint', 'securitylake_endpoint');
    END IF;
    IF options ? 'ca_file' AND NOT securitylake._caller_is_superuser() THEN
        RAISE EXCEPTION 'only a superuser may set ca_file'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The CA a source trusts decides which servers its signed requests may reach.';
    END IF;
    IF EXISTS (SELECT 1 FROM securitylake.source s WHERE s.name = _check_registration.name) THEN
        RAISE EXCEPTION 'source "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Register the custom source under another name, or drop the local source first.';
    END IF;
    IF EXISTS (SELECT 1 FROM securitylake.registration r WHERE r.source = _check_registration.name) THEN
        RAISE EXCEPTION 'custom source "%" is already registered from this database', name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'See securitylake.registration; remove it with securitylake.deregister_custom_source.';
    END IF;
END
$fn$;

CREATE FUNCTION securitylake.register_custom_source(
    name text, class_uid int, region text, crawler_role_arn text,
    version text DEFAULT '1.0', external_id text DEFAULT NULL, principal text DEFAULT NULL,
    account_id text DEFAULT NULL, event_class text DEFAULT NULL, schema jsonb DEFAULT NULL,
    options jsonb DEFAULT NULL)
    RETURNS securitylake.registration
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    opts jsonb := coalesce(register_custom_source.options, '{}');
    endpoint text;
    source_opts jsonb;
    who text := register_custom_source.principal;
    ext_id text := register_custom_source.external_id;
    klass text := coalesce(register_custom_source.event_class,
                           securitylake.event_class_name(register_custom_source.class_uid));
    account text;
    draft securitylake.source;
    request jsonb;
    answer jsonb;
    reg securitylake.registration;
    failed_state text;
    failed_message text;
    failed_detail text;
    undone bool;
BEGIN
    PERFORM securitylake._check_registration(name, class_uid, region, crawler_role_arn, version,
                                             ext_id, who, register_custom_source.event_class, opts);
    endpoint := opts->>'securitylake_endpoint';
    source_opts := opts - 'securitylake_endpoint';
    ext_id := coalesce(ext_id, replace(gen_random_uuid()::text, '-', ''));
    -- Everything create_source will check afterwards, checked now, with a placeholder
    -- location and role (and account, while the principal is not known yet): a refusal
    -- then costs no request and no custom source in Security Lake.
    draft.name := name;
    draft.location := format('s3://aws-security-data-lake-%s-placeholder/ext/%s/', region, name);
    draft.role_arn := crawler_role_arn;
    draft.external_id := ext_id;
    draft.class_uid := class_uid;
    draft.region := region;
    draft.account_id := coalesce(register_custom_source.account_id, CASE WHEN who ~ '^[0-9]{12}$' THEN who END, '000000000000');
    draft.schema := register_custom_source.schema;
    draft.batch_data_size := 1073741824;
    draft.publish_rate := interval '5 min';
    draft.options := source_opts;
    draft.ocsf_version := '1.1.0';
    draft.enabled := true;
    PERFORM securitylake._validate_source(draft);
    -- The writer's account: the account of the server's own identity, unless given.
    IF who IS NULL THEN
        who := securitylake._aws_account(region, source_opts->>'sts_endpoint', source_opts->>'ca_file');
    END IF;
    account := coalesce(register_custom_source.account_id, CASE WHEN who ~ '^[0-9]{12}$' THEN who END);
    IF account IS NULL THEN
        RAISE EXCEPTION 'account_id is needed when the principal is not an AWS account'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'account_id is the source''s default partition account: a 12-digit account, "external" or "external_<id>".';
    END IF;
    IF klass IS NULL THEN
        RAISE NOTICE 'Security Lake has no event class name for class_uid %: registering without eventClasses', class_uid
            USING HINT = 'Pass event_class => ''...'' to name one.';
    END IF;

    request := jsonb_build_object(
        'sourceName', name,
        'configuration', jsonb_build_object(
            'crawlerConfiguration', jsonb_build_object('roleArn', crawler_role_arn),
            'providerIdentity', jsonb_build_object('externalId', ext_id, 'principal', who)));
    IF version IS NOT NULL THEN
        request := request || jsonb_build_object('sourceVersion', version);
    END IF;
    IF klass IS NOT NULL THEN
        request := request || jsonb_build_object('eventClasses', jsonb_build_array(klass));
    END IF;
    answer := securitylake._securitylake_request('CreateCustomLogSource', 'POST', '/v1/datalake/logsources/custom',
                                                 request, region, endpoint, source_opts->>'sts_endpoint',
                                                 source_opts->>'ca_file');

    reg.source := name;
    reg.source_version := version;
    reg.region := region;
    reg.event_class := klass;
    reg.principal := who;
    reg.external_id := ext_id;
    reg.crawler_role_arn := crawler_role_arn;
    reg.location := answer #>> '{source,provider,location}';
    reg.provider_role_arn := answer #>> '{source,provider,roleArn}';
    reg.crawler_arn := answer #>> '{source,attributes,crawlerArn}';
    reg.database_arn := answer #>> '{source,attributes,databaseArn}';
    reg.table_arn := answer #>> '{source,attributes,tableArn}';
    reg.endpoint := endpoint;
    reg.registered_at := now();
    -- The local half. If it fails, the custom source Security Lake just created is
    -- deleted again, so that a corrected call can create it.
    BEGIN
        IF reg.location IS NULL OR reg.provider_role_arn IS NULL THEN
            RAISE EXCEPTION 'CreateCustomLogSource answered without provider.location or provider.roleArn'
                USING ERRCODE = 'external_routine_exception';
        END IF;
        PERFORM securitylake.create_source(name => name, location => reg.location, role_arn => reg.provider_role_arn,
                                           external_id => ext_id, class_uid => class_uid, region => region,
                                           account_id => account, schema => register_custom_source.schema,
                                           options => source_opts);
        INSERT INTO securitylake.registration VALUES (reg.*);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT,
                                failed_detail = PG_EXCEPTION_DETAIL;
        -- Without a version the delete would take every version of the name, also
        -- ones created before this call: then it is left to the operator.
        undone := false;
        IF version IS NOT NULL THEN
            BEGIN
                PERFORM securitylake._delete_custom_source(name, version, region, endpoint, source_opts->>'ca_file');
                undone := true;
            EXCEPTION WHEN OTHERS THEN
                undone := false;
            END;
        END IF;
        RAISE EXCEPTION '%', failed_message
            USING ERRCODE = failed_state,
                  DETAIL = coalesce(failed_detail || ' ', '')
                           || CASE WHEN undone
                                   THEN 'The custom source Security Lake had created for this call was deleted again.'
                                   ELSE 'The custom source Security Lake created for this call remains.' END,
                  HINT = CASE WHEN undone THEN 'Correct the call and register again.'
                              ELSE format('Remove it with securitylake.deregister_custom_source(%L, version => %L, region => %L).', name, version, region) END;
    END;
    RETURN reg;
END
$fn$;
COMMENT ON FUNCTION securitylake.register_custom_source(text, int, text, text, text, text, text, text, text, jsonb, jsonb) IS
    'create a Security Lake custom source (CreateCustomLogSource) and the matching source';

CREATE FUNCTION securitylake.deregister_custom_source(name text, version text DEFAULT NULL,
    region text DEFAULT NULL, force bool DEFAULT false, options jsonb DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    opts jsonb := coalesce(deregister_custom_source.options, '{}');
    reg securitylake.registration;
    src securitylake.source;
    registered bool;
    local_source bool;
    lake_region text;
    ver text;
    endpoint text;
    ca text;
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid custom source name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A custom source name is letters, digits, "_", "." or "-".';
    END IF;
    IF version IS NOT NULL AND version !~ '^[A-Za-z0-9._-]{1,32}$' THEN
        RAISE EXCEPTION 'invalid source version "%"', version USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(opts) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(opts) k
                                                  WHERE k NOT IN ('securitylake_endpoint', 'ca_file')) THEN
        RAISE EXCEPTION 'invalid options %', opts
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'deregister_custom_source takes the options securitylake_endpoint and ca_file.';
    END IF;
    IF opts ? 'ca_file' AND NOT securitylake._caller_is_superuser() THEN
        RAISE EXCEPTION 'only a superuser may set ca_file' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO reg FROM securitylake.registration r WHERE r.source = deregister_custom_source.name FOR UPDATE;
    registered := FOUND;
    SELECT * INTO src FROM securitylake.source s WHERE s.name = deregister_custom_source.name;
    local_source := FOUND;
    lake_region := coalesce(deregister_custom_source.region, reg.region, src.region);
    IF lake_region IS NULL THEN
        RAISE EXCEPTION 'the region of custom source "%" is not known', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass region => ''...'': the lake''s region the custom source was created in.';
    END IF;
    ver := coalesce(deregister_custom_source.version, reg.source_version);
    endpoint := coalesce(opts->>'securitylake_endpoint', reg.endpoint);
    ca := coalesce(opts->>'ca_file', src.options->>'ca_file');
    -- The local source first (it refuses while events are queued, unless force): if
    -- Security Lake then refuses, the whole call is undone.
    IF local_source THEN
        PERFORM securitylake.drop_source(name, force);
    END IF;
    BEGIN
        PERFORM securitylake._delete_custom_source(name, ver, lake_region, endpoint, ca);
    EXCEPTION WHEN undefined_object THEN
        IF NOT (registered OR local_source) THEN
            RAISE;
        END IF;
        RAISE NOTICE 'Security Lake has no custom source "%"%', name,
                     CASE WHEN ver IS NULL THEN '' ELSE format(' version %s', ver) END
            USING DETAIL = 'It was deleted there already; the local source and registration are removed.';
    END;
    DELETE FROM securitylake.registration r WHERE r.source = deregister_custom_source.name;
END
$fn$;
COMMENT ON FUNCTION securitylake.deregister_custom_source(text, text, text, bool, jsonb) IS
    'delete a Security Lake custom source (DeleteCustomLogSource) and the matching source';

REVOKE ALL ON FUNCTION securitylake._securitylake_request(text, text, text, jsonb, text, text, text, text),
                       securitylake._aws_account(text, text, text),
                       securitylake._delete_custom_source(text, text, text, text, text),
                       securitylake._check_registration(text, int, text, text, text, text, text, text, jsonb),
                       securitylake.event_class_name(int),
                       securitylake.register_custom_source(text, int, text, text, text, text, text, text, text, jsonb, jsonb),
                       securitylake.deregister_custom_source(text, text, text, bool, jsonb)
    FROM PUBLIC;
REVOKE ALL ON securitylake.registration FROM PUBLIC;
GRANT EXECUTE ON FUNCTION securitylake.event_class_name(int),
                          securitylake.register_custom_source(text, int, text, text, text, text, text, text, text, jsonb, jsonb),
                          securitylake.deregister_custom_source(text, text, text, bool, jsonb)
    TO securitylake_admin;
GRANT SELECT ON securitylake.registration TO securitylake_admin;

-- securitylake install script: what operators alert on (docs/monitoring.md).
--
-- securitylake.metrics has one row per source, its columns named as Prometheus metrics
-- (securitylake_<column>: counters end in _total, units in _seconds and _bytes);
-- securitylake.dead_letter_metrics counts dead letters per source and reason class.
-- docs/postgres_exporter.yaml serves both to Prometheus through postgres_exporter.
--
-- Cost per scrape: the queue is read per source through its primary key (route_key,
-- id) — an index-only count of the source's own queued rows and one probe for its
-- head; what other sources have queued costs nothing. The upload log and the dead letters are aggregated
-- (an index scan per source of uploads, one scan of dead_letter).

-- The class of a dead letter's reason: a small fixed set (a Prometheus label), where
-- the reason itself names paths and values.
CREATE FUNCTION securitylake.dead_letter_reason_class(reason text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN reason LIKE 'could not be delivered:%' OR reason LIKE 'could not encode:%'
             OR reason LIKE 'unsupported column kind%' THEN 'encode_error'
        WHEN reason LIKE 'no source %' THEN 'no_source'
        WHEN reason = 'source dropped' THEN 'source_dropped'
        WHEN reason LIKE '%does not match the source''s class_uid%' THEN 'class_mismatch'
        WHEN reason LIKE 'region "%" is not an AWS region name%'
             OR reason LIKE 'account "%" is not a 12-digit AWS account id%' THEN 'partition'
        WHEN reason LIKE 'event too large%' OR reason LIKE 'value too large%'
             OR reason LIKE 'too large for one Parquet page%' THEN 'too_large'
        WHEN reason LIKE 'missing required attribute%' OR reason LIKE 'null in a required attribute%' THEN 'missing_attribute'
        WHEN reason LIKE 'too deep%' THEN 'too_deep'
        WHEN reason LIKE 'expected %' THEN 'wrong_type'
        WHEN reason LIKE '%out of range%' OR reason LIKE 'not finite%' THEN 'out_of_range'
        ELSE 'other'
    END;
COMMENT ON FUNCTION securitylake.dead_letter_reason_class(text) IS
    'the class of a dead letter''s reason: encode_error, no_source, source_dropped, class_mismatch, partition, too_large, missing_attribute, too_deep, wrong_type, out_of_range or other';

-- The AWS error code at the start of a delivery error ("AccessDenied (HTTP 403) during
-- AssumeRole: ..."), EndpointNotAllowed for a refused endpoint, Other for anything else.
CREATE FUNCTION securitylake.error_code(error text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN error IS NULL THEN NULL
        WHEN error LIKE '%(securitylake.allowed_endpoints)%' THEN 'EndpointNotAllowed'
        ELSE coalesce((regexp_match(error, '([A-Z][A-Za-z0-9.]*)(?: \(HTTP [0-9]+\))? during '))[1], 'Other')
    END;
COMMENT ON FUNCTION securitylake.error_code(text) IS
    'the AWS error code of a delivery error (securitylake.status.last_error)';

CREATE VIEW securitylake.metrics AS
    SELECT s.name AS source,
           CAST(CASE WHEN s.enabled THEN 1 ELSE 0 END AS int) AS enabled,
           q.events AS queue_events,
           CAST(coalesce(extract(epoch FROM now() - q.head_enqueued_at), 0) AS float8) AS queue_oldest_event_age_seconds,
           b.batches AS pending_batches,
           coalesce(u.objects, 0) AS delivered_objects_total,
           CAST(coalesce(u.events, 0) AS bigint) AS delivered_events_total,
           CAST(coalesce(u.bytes, 0) AS bigint) AS delivered_bytes_total,
           CAST(coalesce(extract(epoch FROM st.last_upload_at), 0) AS float8) AS last_delivery_timestamp_seconds,
           coalesce(st.failures, 0) AS consecutive_failures,
           securitylake.error_code(st.last_error) AS error_code,
           st.last_error,
           CAST(coalesce(extract(epoch FROM st.last_error_at), 0) AS float8) AS last_error_timestamp_seconds,
           coalesce(d.events, 0) AS dead_letter_events
      FROM securitylake.source s
      LEFT JOIN securitylake.source_state st ON st.source = s.name
      CROSS JOIN LATERAL securitylake._queue_depth(securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)) q
      CROSS JOIN LATERAL (SELECT count(*) AS batches FROM securitylake.batch bb WHERE bb.source = s.name) b
      CROSS JOIN LATERAL (
            SELECT count(*) AS objects, sum(up.rows) AS events, sum(up.bytes) AS bytes
              FROM securitylake.uploads up WHERE up.source = s.name) u
      LEFT JOIN (SELECT dl.source, count(*) AS events FROM securitylake.dead_letter dl GROUP BY dl.source) d
             ON d.source = s.name;
COMMENT ON VIEW securitylake.metrics IS 'per source: queue depth and lag, deliveries, failures, dead letters (Prometheus names)';

CREATE VIEW securitylake.dead_letter_metrics AS
    SELECT coalesce(dl.source, '') AS source,
           securitylake.dead_letter_reason_class(dl.reason) AS reason,
           count(*) AS events,
           CAST(extract(epoch FROM max(dl.failed_at)) AS float8) AS last_failed_timestamp_seconds
      FROM securitylake.dead_letter dl
     GROUP BY 1, 2;
COMMENT ON VIEW securitylake.dead_letter_metrics IS 'dead letters per source and reason class';

-- Readable by the operators and by monitoring (pg_monitor: what postgres_exporter
-- connects as). A view's functions are called with the reader's rights: the two pure
-- functions it uses are granted too.
REVOKE ALL ON FUNCTION securitylake.dead_letter_reason_class(text), securitylake.error_code(text),
                       securitylake._queue_depth(text[]) FROM PUBLIC;
REVOKE ALL ON securitylake.metrics, securitylake.dead_letter_metrics FROM PUBLIC;
GRANT USAGE ON SCHEMA securitylake TO pg_monitor;
GRANT EXECUTE ON FUNCTION securitylake.dead_letter_reason_class(text), securitylake.error_code(text),
                          securitylake.source_route_keys(text, bool, int), securitylake._queue_depth(text[])
    TO securitylake_admin, pg_monitor;
GRANT SELECT ON securitylake.metrics, securitylake.dead_letter_metrics TO securitylake_admin, pg_monitor;

-----------------------------------------------------------------------------
-- Privileges (as sql/install/ grants them).
-----------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA securitylake FROM PUBLIC;
REVOKE ALL ON securitylake.status, securitylake.unrouted FROM PUBLIC;
GRANT SELECT ON securitylake.status, securitylake.unrouted TO securitylake_admin;
REVOKE ALL ON FUNCTION securitylake._queue_depth(text[]) FROM PUBLIC;
REVOKE INSERT ON securitylake.queue FROM securitylake_writer;
GRANT INSERT (source, event, region, account_id) ON securitylake.queue TO securitylake_writer;
GRANT EXECUTE ON FUNCTION securitylake.route_key(text, jsonb)
    TO securitylake_writer, securitylake_admin, securitylake_worker;
GRANT EXECUTE ON FUNCTION securitylake.source_route_keys(text, bool, int) TO securitylake_admin, securitylake_worker;
GRANT EXECUTE ON FUNCTION securitylake.flush(text, interval) TO securitylake_admin;
GRANT EXECUTE ON FUNCTION securitylake._queued_keys(text), securitylake._raw_size(jsonb),
                          securitylake._worker_alive(int, timestamptz)
    TO securitylake_worker;
GRANT USAGE ON SCHEMA securitylake TO securitylake_worker;
GRANT SELECT ON securitylake.source, securitylake.credential TO securitylake_worker;
GRANT SELECT, INSERT, UPDATE ON securitylake.source_state TO securitylake_worker;
GRANT SELECT, DELETE ON securitylake.queue TO securitylake_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON securitylake.batch TO securitylake_worker;
GRANT SELECT, INSERT ON securitylake.uploads TO securitylake_worker;
GRANT INSERT ON securitylake.dead_letter TO securitylake_worker;
GRANT USAGE ON SEQUENCE securitylake.batch_id_seq TO securitylake_worker;
-- The queue's ids handed out so far bound what the worker counts as new (src/schedule.c).
GRANT SELECT ON SEQUENCE securitylake.queue_id_seq TO securitylake_worker;
COMMENT ON FUNCTION securitylake.validate(jsonb, text) IS
    'NULL, or the dead-letter reason the worker would give this event in this source';
REVOKE ALL ON FUNCTION securitylake.validate(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION securitylake.validate(jsonb, text) TO securitylake_writer, securitylake_admin;
