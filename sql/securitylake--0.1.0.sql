-- securitylake install script, part 1: tables (sql/install/*.sql are concatenated in name order)
\echo Use "CREATE EXTENSION securitylake" to load this file. \quit

-- The schema is created by CREATE EXTENSION (control file: schema = securitylake).
-- Nothing is granted to PUBLIC: producers get securitylake_writer, operators
-- securitylake_admin (created below).
REVOKE ALL ON SCHEMA securitylake FROM PUBLIC;

CREATE FUNCTION securitylake.version() RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'securitylake_version';
COMMENT ON FUNCTION securitylake.version() IS 'securitylake version and build';

-----------------------------------------------------------------------------
-- Roles. NOLOGIN group roles; grant them to login roles. They are cluster-wide
-- and so outlive DROP EXTENSION (like any role); created only if missing.
-----------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'securitylake_writer') THEN
        CREATE ROLE securitylake_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'securitylake_admin') THEN
        CREATE ROLE securitylake_admin NOLOGIN;
    END IF;
END
$roles$;

-----------------------------------------------------------------------------
-- Sources: one per Security Lake custom source (one OCSF class each).
-----------------------------------------------------------------------------
CREATE TABLE securitylake.source (
    name                text PRIMARY KEY
                        CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    location            text NOT NULL,      -- s3://bucket/prefix/ as Security Lake returned it
    bucket              text NOT NULL,
    prefix              text NOT NULL,      -- key prefix, '' or ending in '/'
    role_arn            text,               -- NULL: write with the base credentials directly
    external_id         text,
    class_uid           int NOT NULL,
    region              text NOT NULL,      -- default partition region
    account_id          text NOT NULL,      -- default partition account
    schema              jsonb,              -- parquet-go tag schema; NULL = the built-in OCSF class schema
    ocsf_version        text NOT NULL DEFAULT '1.1.0',
    route_by_class      bool NOT NULL,      -- queue rows with source NULL and this class_uid come here
    batch_record_count  int NOT NULL,
    batch_data_size     bigint NOT NULL,
    publish_rate        interval NOT NULL,
    max_queued_rows     bigint,             -- backpressure cap; NULL = none
    options             jsonb NOT NULL DEFAULT '{}',
    enabled             bool NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
);
-- Class routing must be unambiguous: at most one routing source per class.
CREATE UNIQUE INDEX source_route_by_class ON securitylake.source (class_uid) WHERE route_by_class;

-- Per-source delivery state kept by the worker (errors are secret-free by construction).
CREATE TABLE securitylake.source_state (
    source          text PRIMARY KEY REFERENCES securitylake.source (name) ON DELETE CASCADE,
    last_upload_at  timestamptz,
    last_error      text,
    last_error_at   timestamptz,
    failures        int NOT NULL DEFAULT 0,      -- consecutive failed attempts
    next_attempt_at timestamptz
);

-----------------------------------------------------------------------------
-- The queue. Producers only INSERT; nothing runs per row.
-----------------------------------------------------------------------------
CREATE TABLE securitylake.queue (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text,                -- NULL: route by the event's class_uid
    event       jsonb NOT NULL,
    region      text,
    account_id  text,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);
-- The worker deletes every row it delivers: keep autovacuum close behind.
ALTER TABLE securitylake.queue SET (autovacuum_vacuum_scale_factor = 0.01,
                                    autovacuum_vacuum_insert_scale_factor = 0.05,
                                    autovacuum_vacuum_cost_delay = 0);

-----------------------------------------------------------------------------
-- Claimed batches: one object each. A batch is recorded (with its object key and
-- the exact queue ids it holds) in a committed transaction before the upload, and
-- removed in the transaction that deletes its rows. A batch still here after a
-- crash is uploaded again to the same key with the same rows: exactly once.
-----------------------------------------------------------------------------
CREATE TABLE securitylake.batch (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    region      text NOT NULL,
    account_id  text NOT NULL,
    event_day   date NOT NULL,
    object_key  text NOT NULL UNIQUE,
    ids         bigint[] NOT NULL,
    upload_id   text,                -- multipart UploadId, persisted so recovery can abort it
    attempts    int NOT NULL DEFAULT 0,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batch_source ON securitylake.batch (source);
-- A batch's id list is written once and read back only after a crash: not worth compressing.
ALTER TABLE securitylake.batch ALTER COLUMN ids SET STORAGE EXTERNAL;

-----------------------------------------------------------------------------
-- Upload log and dead letters.
-----------------------------------------------------------------------------
CREATE TABLE securitylake.uploads (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    object_key  text NOT NULL,
    region      text NOT NULL,
    account_id  text NOT NULL,
    event_day   date NOT NULL,
    rows        bigint NOT NULL,
    bytes       bigint NOT NULL,
    attempts    int NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_source_finished ON securitylake.uploads (source, finished_at);

CREATE TABLE securitylake.dead_letter (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text,
    event       jsonb NOT NULL,
    region      text,
    account_id  text,
    reason      text NOT NULL,
    enqueued_at timestamptz NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);

-----------------------------------------------------------------------------
-- Static base credentials (optional; the AWS credential chain is the default).
-- Readable only by the extension owner: no grant to anyone, no view shows them.
-----------------------------------------------------------------------------
CREATE TABLE securitylake.credential (
    id                  int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    access_key_id       text NOT NULL,
    secret_access_key   text NOT NULL,
    session_token       text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON securitylake.credential FROM PUBLIC;

-- pg_dump keeps what the extension's tables hold (sources, queued events, pending
-- batches, the upload log, dead letters). Not the static credentials: a dump should
-- not carry a secret key; set them again after a restore (or use the shared file).
SELECT pg_catalog.pg_extension_config_dump('securitylake.source', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.source_state', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.queue', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.batch', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.uploads', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.dead_letter', '');
-- securitylake install script: configuring sources and credentials.
--
-- Every function is SECURITY DEFINER with a pinned search_path and schema-qualified
-- references, is revoked from PUBLIC, and granted to securitylake_admin only.

-- Validate (and normalise) a source's settings; raises a clear error for the first bad one.
-- Returns the row as it would be stored. Used by create_source and alter_source.
-- Structural check of a parquet-go tag schema node (the types are checked again in C):
-- every node is an object with a "Tag" string holding name=...; a node with "Fields" is
-- a group (a non-empty array of nodes); a leaf has type=BOOLEAN|INT32|INT64|FLOAT|DOUBLE|
-- BYTE_ARRAY; repetitiontype, when given, is REQUIRED, OPTIONAL or REPEATED.
CREATE FUNCTION securitylake._validate_parquet_schema(node jsonb, path text DEFAULT '$', depth int DEFAULT 0)
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
        IF tag !~* '(^|,)\s*name=[^,\s]+' THEN
            problem := 'its Tag has no name=...';
        ELSIF tag ~* '(^|,)\s*repetitiontype=' AND tag !~* '(^|,)\s*repetitiontype=(REQUIRED|OPTIONAL|REPEATED)\s*(,|$)' THEN
            problem := 'its repetitiontype is not REQUIRED, OPTIONAL or REPEATED';
        ELSIF node ? 'Fields' THEN
            IF jsonb_typeof(node->'Fields') IS DISTINCT FROM 'array' OR jsonb_array_length(node->'Fields') = 0 THEN
                problem := 'its "Fields" is not a non-empty array';
            END IF;
        ELSIF tag !~* '(^|,)\s*type=(BOOLEAN|INT32|INT64|FLOAT|DOUBLE|BYTE_ARRAY)\s*(,|$)' THEN
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
END
$fn$;

CREATE FUNCTION securitylake._validate_source(s securitylake.source)
    RETURNS securitylake.source
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    m text[];
    known_options constant text[] := ARRAY['endpoint', 'sts_endpoint', 'force_path_style', 'role_session_name',
        'session_tags', 'session_duration', 'zstd_level', 'ocsf_version', 'max_depth', 'strict_nested',
        'max_queued_rows', 'ca_file', 'enabled'];
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
    IF s.batch_record_count IS NULL OR s.batch_record_count NOT BETWEEN 1 AND 10000000 THEN
        RAISE EXCEPTION 'invalid batch_record_count %', s.batch_record_count
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'batch_record_count is between 1 and 10,000,000.';
    END IF;
    IF s.batch_data_size IS NULL OR s.batch_data_size NOT BETWEEN 1048576 AND 1073741824 THEN
        RAISE EXCEPTION 'invalid batch_data_size %', s.batch_data_size
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'batch_data_size is between 1 MiB and 1 GiB of queued JSON.';
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
                          ELSE format('%s is true or false.', k) END;
        END IF;
    END LOOP;
    s.options := jsonb_strip_nulls(coalesce(s.options, '{}'));
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

CREATE FUNCTION securitylake.create_source(
    name text, location text, role_arn text, external_id text, class_uid int,
    region text, account_id text, schema jsonb DEFAULT NULL,
    batch_record_count int DEFAULT 1000000, batch_data_size bigint DEFAULT 134217728,
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

CREATE FUNCTION securitylake.alter_source(
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
BEGIN
    SELECT * INTO s FROM securitylake.source WHERE source.name = alter_source.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" does not exist', alter_source.name
            USING ERRCODE = 'undefined_object', HINT = 'See securitylake.sources for the configured sources.';
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

CREATE FUNCTION securitylake.drop_source(name text, force bool DEFAULT false)
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
    SELECT count(*) INTO queued FROM securitylake.queue q
     WHERE q.source = s.name
        OR (q.source IS NULL AND s.route_by_class AND q.event->'class_uid' = to_jsonb(s.class_uid));
    SELECT count(*) INTO pending FROM securitylake.batch b WHERE b.source = s.name;
    IF (queued > 0 OR pending > 0) AND NOT force THEN
        RAISE EXCEPTION 'source "%" still has % queued events', s.name, queued
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('%s events are queued for it and %s batches are being delivered.', queued, pending),
                  HINT = 'Deliver them first with securitylake.flush(), or drop with force => true to move them to securitylake.dead_letter.';
    END IF;
    WITH moved AS (
        DELETE FROM securitylake.queue q
         WHERE q.source = s.name
            OR (q.source IS NULL AND s.route_by_class AND q.event->'class_uid' = to_jsonb(s.class_uid))
        RETURNING q.*)
    INSERT INTO securitylake.dead_letter (source, event, region, account_id, reason, enqueued_at)
    SELECT s.name, m.event, m.region, m.account_id, 'source dropped', m.enqueued_at FROM moved m;
    DELETE FROM securitylake.batch b WHERE b.source = s.name;
    DELETE FROM securitylake.source o WHERE o.name = s.name;
END
$fn$;

-- Static base credentials. Prefer the AWS shared credentials file of the server's OS
-- user (~postgres/.aws/credentials) or the instance/container role: a call of this
-- function carries the secret in its text, which log_statement = 'all' would log and
-- pg_stat_activity shows while it runs.
CREATE FUNCTION securitylake.set_credentials(access_key_id text, secret_access_key text, session_token text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF access_key_id IS NULL OR access_key_id !~ '^[A-Z0-9]{16,128}$' THEN
        RAISE EXCEPTION 'invalid access key id'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'An AWS access key id is 16 to 128 upper-case letters and digits.';
    END IF;
    IF secret_access_key IS NULL OR length(secret_access_key) < 16 THEN
        RAISE EXCEPTION 'invalid secret access key' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO securitylake.credential (id, access_key_id, secret_access_key, session_token, updated_at)
    VALUES (1, access_key_id, secret_access_key, session_token, now())
    ON CONFLICT (id) DO UPDATE SET access_key_id = excluded.access_key_id,
        secret_access_key = excluded.secret_access_key, session_token = excluded.session_token,
        updated_at = now();
END
$fn$;

CREATE FUNCTION securitylake.clear_credentials()
    RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
    DELETE FROM securitylake.credential;
$fn$;

-- Move dead letters (the given ones, or all) back into the queue; returns how many.
CREATE FUNCTION securitylake.retry_dead_letter(ids bigint[] DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    WITH moved AS (
        DELETE FROM securitylake.dead_letter d
         WHERE retry_dead_letter.ids IS NULL OR d.id = ANY (retry_dead_letter.ids)
        RETURNING d.*)
    INSERT INTO securitylake.queue (source, event, region, account_id, enqueued_at)
    SELECT CASE WHEN m.reason = 'source dropped' OR m.reason LIKE 'no source%' THEN NULL ELSE m.source END,
           m.event, m.region, m.account_id, m.enqueued_at
      FROM moved m ORDER BY m.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

-- Backpressure (max_queued_rows). Producers must get a clear error once a source has
-- that many queued rows, but the insert path must stay a plain insert. So:
--  * the check is a statement-level AFTER INSERT trigger (once per INSERT/COPY statement,
--    never per row), and it is attached to the queue only while some source has a cap
--    (_sync_backpressure_trigger below adds/drops it when sources change);
--  * it first bounds the queue size from above with max(id) - min(id) + 1: two probes of
--    the primary key, O(log n). Ids only grow, so while that bound is within every cap
--    (the normal case: delivery keeps up) nothing is counted;
--  * only when the bound exceeds a cap does it count the capped sources' rows (the queue
--    has no index by source, to keep inserts cheap, so that is a scan), and each session
--    reuses the verdict for one second (session setting securitylake_bp.verdict): a
--    producer overshoots a cap by at most what it inserts in a second, and a backlog
--    costs it one scan per second instead of one per statement;
--  * a statement is refused only if it queues rows for a source over its cap (checked
--    against the statement's transition table), so one stuck source does not block the
--    others' producers. The transition table is the one per-row cost: PostgreSQL keeps
--    the inserted rows in a tuplestore for the statement while a cap is set.
CREATE FUNCTION securitylake._check_backpressure()
    RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s record;
    bound bigint;
    queued bigint;
    verdict text[] := string_to_array(current_setting('securitylake_bp.verdict', true), '|');
    now_s double precision := extract(epoch FROM clock_timestamp());
    over text[] := '{}';
    hit record;
BEGIN
    SELECT coalesce((SELECT q.id FROM securitylake.queue q ORDER BY q.id DESC LIMIT 1)
                    - (SELECT q.id FROM securitylake.queue q ORDER BY q.id LIMIT 1) + 1, 0)
      INTO bound;
    IF NOT EXISTS (SELECT 1 FROM securitylake.source o WHERE o.max_queued_rows < bound) THEN
        RETURN NULL;
    END IF;
    IF cardinality(verdict) = 2 AND verdict[1] ~ '^[0-9.]+$' AND verdict[1]::double precision > now_s THEN
        over := string_to_array(nullif(verdict[2], ''), ',');
    ELSE
        FOR s IN SELECT * FROM securitylake.source o WHERE o.max_queued_rows < bound ORDER BY o.name LOOP
            SELECT count(*) INTO queued FROM (
                SELECT 1 FROM securitylake.queue q
                 WHERE q.source = s.name
                    OR (q.source IS NULL AND s.route_by_class AND q.event->'class_uid' = to_jsonb(s.class_uid))
                 LIMIT s.max_queued_rows + 1) sub;
            IF queued > s.max_queued_rows THEN
                over := over || s.name;
            END IF;
        END LOOP;
        PERFORM pg_catalog.set_config('securitylake_bp.verdict',
                                      concat_ws('|', (now_s + 1)::text, array_to_string(over, ',')), false);
    END IF;
    IF cardinality(over) = 0 THEN
        RETURN NULL;
    END IF;
    -- Refuse the statement only if it queued rows for a source over its cap.
    SELECT o.name, o.max_queued_rows INTO hit
      FROM securitylake.source o
     WHERE o.name = ANY (over)
       AND EXISTS (SELECT 1 FROM new_rows n
                    WHERE n.source = o.name
                       OR (n.source IS NULL AND o.route_by_class AND n.event->'class_uid' = to_jsonb(o.class_uid)))
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

CREATE FUNCTION securitylake._sync_backpressure_trigger()
    RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    wanted bool := EXISTS (SELECT 1 FROM securitylake.source WHERE max_queued_rows IS NOT NULL);
    present bool := EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'securitylake.queue'::regclass
                                                      AND tgname = 'securitylake_backpressure');
BEGIN
    PERFORM pg_catalog.set_config('securitylake_bp.verdict', '', false);
    IF wanted AND NOT present THEN
        CREATE TRIGGER securitylake_backpressure AFTER INSERT ON securitylake.queue
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION securitylake._check_backpressure();
    ELSIF present AND NOT wanted THEN
        DROP TRIGGER securitylake_backpressure ON securitylake.queue;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER source_backpressure AFTER INSERT OR UPDATE OR DELETE ON securitylake.source
    FOR EACH STATEMENT EXECUTE FUNCTION securitylake._sync_backpressure_trigger();

-- Privileges: nothing to PUBLIC; configuring is securitylake_admin's.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA securitylake FROM PUBLIC;
GRANT EXECUTE ON FUNCTION securitylake.create_source(text, text, text, text, int, text, text, jsonb, int, bigint, interval, jsonb),
                          securitylake.alter_source(text, text, text, text, int, text, text, jsonb, int, bigint, interval, jsonb),
                          securitylake.drop_source(text, bool),
                          securitylake.set_credentials(text, text, text),
                          securitylake.clear_credentials(),
                          securitylake.retry_dead_letter(bigint[]),
                          securitylake.version()
    TO securitylake_admin;
GRANT EXECUTE ON FUNCTION securitylake.version() TO securitylake_writer;
-- securitylake install script: views and table privileges.

-- Sources as configured. Nothing secret is stored on a source (the ExternalId is an
-- agreed identifier, not a secret); credentials live in securitylake.credential, which
-- no view shows.
CREATE VIEW securitylake.sources AS
    SELECT name, location, bucket, prefix, role_arn, external_id, class_uid, region, account_id,
           CASE WHEN schema IS NULL THEN 'ocsf ' || ocsf_version ELSE 'custom' END AS schema_kind,
           schema, ocsf_version, route_by_class, batch_record_count, batch_data_size, publish_rate,
           max_queued_rows, options, enabled, created_at
      FROM securitylake.source;
COMMENT ON VIEW securitylake.sources IS 'configured Security Lake sources (no secrets)';

-- Delivery per source. queued_rows counts the rows routed to the source (by name or
-- by class); last_error is secret-free by construction (AWS codes and messages).
CREATE VIEW securitylake.status AS
    SELECT s.name AS source,
           s.enabled,
           q.queued_rows,
           now() - q.oldest_enqueued_at AS oldest_queued_age,
           (SELECT count(*) FROM securitylake.batch b WHERE b.source = s.name) AS pending_batches,
           st.last_upload_at,
           st.last_error,
           st.last_error_at,
           coalesce(st.failures, 0) AS failures,
           st.next_attempt_at,
           coalesce(u.objects, 0) AS objects_uploaded,
           coalesce(u.rows, 0)::bigint AS rows_uploaded,
           coalesce(u.bytes, 0)::bigint AS bytes_uploaded,
           (SELECT count(*) FROM securitylake.dead_letter d WHERE d.source = s.name) AS dead_letters
      FROM securitylake.source s
      LEFT JOIN securitylake.source_state st ON st.source = s.name
      LEFT JOIN LATERAL (
            SELECT count(*) AS queued_rows, min(qq.enqueued_at) AS oldest_enqueued_at
              FROM securitylake.queue qq
             WHERE qq.source = s.name
                OR (qq.source IS NULL AND s.route_by_class AND qq.event->'class_uid' = to_jsonb(s.class_uid))) q ON true
      LEFT JOIN LATERAL (
            SELECT count(*) AS objects, sum(up.rows) AS rows, sum(up.bytes) AS bytes
              FROM securitylake.uploads up WHERE up.source = s.name) u ON true;
COMMENT ON VIEW securitylake.status IS 'per-source delivery: queued rows, age, last upload, last error, totals, dead letters';

-- Queued rows that no source takes (they are dead-lettered by the worker).
CREATE VIEW securitylake.unrouted AS
    SELECT q.* FROM securitylake.queue q
     WHERE CASE WHEN q.source IS NOT NULL
                THEN NOT EXISTS (SELECT 1 FROM securitylake.source s WHERE s.name = q.source)
                ELSE NOT EXISTS (SELECT 1 FROM securitylake.source s
                                  WHERE s.route_by_class AND q.event->'class_uid' = to_jsonb(s.class_uid)) END;

-- Privileges. Nothing to PUBLIC. Producers (securitylake_writer) may only insert into
-- the queue; operators (securitylake_admin) read everything but the credentials.
REVOKE ALL ON ALL TABLES IN SCHEMA securitylake FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA securitylake FROM PUBLIC;
GRANT USAGE ON SCHEMA securitylake TO securitylake_writer, securitylake_admin;
GRANT INSERT ON securitylake.queue TO securitylake_writer;
GRANT SELECT ON securitylake.queue, securitylake.uploads, securitylake.dead_letter,
                securitylake.sources, securitylake.status, securitylake.unrouted
    TO securitylake_admin;
-- securitylake install script: the C entry points of the worker and flush.

-- flush: wake the worker(s) and wait until every event queued before the call is in
-- the lake or dead-lettered; returns the objects written meanwhile. Raises on
-- timeout with the error that blocks delivery.
CREATE FUNCTION securitylake.flush(source text DEFAULT NULL, timeout interval DEFAULT '5 min')
    RETURNS TABLE (source text, object_key text, rows bigint, bytes bigint)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_flush';
REVOKE ALL ON FUNCTION securitylake.flush(text, interval) FROM PUBLIC;
COMMENT ON FUNCTION securitylake.flush(text, interval) IS
    'deliver every event queued before the call (one source or all) and list the objects written';
GRANT EXECUTE ON FUNCTION securitylake.flush(text, interval) TO securitylake_admin;
-- securitylake install script: the built-in OCSF schemas (1.1.0 and 1.3.0).

CREATE FUNCTION securitylake._ocsf_classes()
    RETURNS TABLE (ocsf_version text, class_uid int, name text, class_name text, category text, leaf_columns int)
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'securitylake_ocsf_classes';
REVOKE ALL ON FUNCTION securitylake._ocsf_classes() FROM PUBLIC;

-- Every class of each built-in version, with the number of leaf columns its objects have
-- (at the default depth cut).
CREATE VIEW securitylake.ocsf_classes AS
    SELECT * FROM securitylake._ocsf_classes();
REVOKE ALL ON securitylake.ocsf_classes FROM PUBLIC;
COMMENT ON VIEW securitylake.ocsf_classes IS 'OCSF classes built in: version, class_uid, names, category, leaf column count';

-- The Parquet schema a source of this class writes: one row per field, depth first.
CREATE FUNCTION securitylake.parquet_schema(class_uid int, ocsf_version text DEFAULT '1.1.0', max_depth int DEFAULT NULL)
    RETURNS TABLE (path text, depth int, repetition text, type text, logical_type text,
                   ocsf_type text, requirement text, profile text)
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'securitylake_parquet_schema';
REVOKE ALL ON FUNCTION securitylake.parquet_schema(int, text, int) FROM PUBLIC;
COMMENT ON FUNCTION securitylake.parquet_schema(int, text, int) IS
    'the Parquet schema of an OCSF class as a source writes it';

DO $grants$
BEGIN
    GRANT SELECT ON securitylake.ocsf_classes TO securitylake_admin;
    GRANT EXECUTE ON FUNCTION securitylake._ocsf_classes() TO securitylake_admin;
    GRANT EXECUTE ON FUNCTION securitylake.parquet_schema(int, text, int) TO securitylake_admin;
END
$grants$;
