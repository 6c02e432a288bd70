-- securitylake install script: configuring sources and credentials.
--
-- Every function is SECURITY DEFINER with a pinned search_path and schema-qualified
-- references, is revoked from PUBLIC, and granted to securitylake_admin only.

-- What the superuser alone decides (src/config_checks.c): the hosts signed requests may go
-- to (securitylake.allowed_endpoints in postgresql.conf), and the CA a source trusts.
CREATE FUNCTION securitylake._check_endpoint(url text, what text)
    RETURNS void
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'securitylake_check_endpoint';
CREATE FUNCTION securitylake._caller_is_superuser()
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

CREATE FUNCTION securitylake._validate_source(s securitylake.source)
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

CREATE FUNCTION securitylake.create_source(
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
--  * it first bounds each capped source's queued rows from above with max(id) - min(id)
--    + 1 of each of its routing keys: two probes of the primary key (route_key, id),
--    O(log n). While that bound is within every cap (the normal case: delivery keeps up)
--    nothing is counted;
--  * only when a bound exceeds its cap does it count that source's rows (an index range
--    scan, LIMIT cap + 1), and each session reuses that verdict for one second: a producer
--    overshoots a cap by at most what it inserts in a second, and a backlog costs it one
--    count per second instead of one per statement. The verdict is kept in the backend's
--    own memory by C functions only this trigger may call (_bp_cached, _bp_remember): a
--    producer cannot set it (a session setting, as in 0.1.0, anyone could);
--  * a statement is refused only if it queues rows for a source over its cap (checked
--    against the statement's transition table), so one stuck source does not block the
--    others' producers. The transition table is the one per-row cost: PostgreSQL keeps
--    the inserted rows in a tuplestore for the statement while a cap is set.
CREATE FUNCTION securitylake._bp_cached()
    RETURNS text[]
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_bp_cached';
CREATE FUNCTION securitylake._bp_remember(over text[])
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'securitylake_bp_remember';

CREATE FUNCTION securitylake._check_backpressure()
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
