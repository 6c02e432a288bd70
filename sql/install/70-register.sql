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
