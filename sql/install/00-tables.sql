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
-- Roles. NOLOGIN group roles; grant them to login roles (never securitylake_worker:
-- it is the workers' own). They are cluster-wide and so outlive DROP EXTENSION (like
-- any role); created only if missing.
-----------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'securitylake_writer') THEN
        CREATE ROLE securitylake_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'securitylake_admin') THEN
        CREATE ROLE securitylake_admin NOLOGIN;
    END IF;
    -- The role every statement of the background workers runs as (see the worker's
    -- connection in src/loop.c): it holds only the grants below, never superuser.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'securitylake_worker') THEN
        CREATE ROLE securitylake_worker NOLOGIN NOINHERIT;
    END IF;
END
$roles$;

-----------------------------------------------------------------------------
-- Sources: one per Security Lake custom source (one OCSF class each).
-----------------------------------------------------------------------------
CREATE TABLE securitylake.source (
    name                text PRIMARY KEY
                        CHECK (name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.-]{1,64}$'),
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
    batch_record_count  int,                -- NULL: no record-count threshold
    batch_data_size     bigint NOT NULL,    -- raw JSON bytes: an upper bound per batch
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
    next_attempt_at timestamptz,
    bucket_region   text                         -- the region S3 named for the bucket (a redirect), if any
);

-----------------------------------------------------------------------------
-- Routing: which source takes a queue row. Defined here once; everything that
-- routes (the worker's claims, flush(), the sweep, status, drop_source,
-- backpressure) compares a row's route_key with a source's route_keys.
--   a row that names a source:        route_key = that name;
--   a row without one:                '#' || its event's class_uid ('#' when the
--                                     class_uid is missing or not a number);
--   a source takes its name, and '#<class_uid>' when it routes by class.
-- Source names never start with '#' (their CHECK), so the two never meet.
-----------------------------------------------------------------------------
CREATE FUNCTION securitylake.route_key(source text, event jsonb)
    RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    -- coalesce(source, '#' || CASE WHEN jsonb_typeof(event -> 'class_uid') = 'number'
    --                          THEN trim_scale((event -> 'class_uid')::numeric)::text ELSE '' END),
    -- in C (src/route_key.c): every producer's row computes it.
    AS 'MODULE_PATHNAME', 'securitylake_route_key';
COMMENT ON FUNCTION securitylake.route_key(text, jsonb) IS
    'the routing key of a queue row: its source, or # and its event''s class_uid';

CREATE FUNCTION securitylake.source_route_keys(name text, route_by_class bool, class_uid int)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN route_by_class
                THEN ARRAY[name, '#' OPERATOR(pg_catalog.||) class_uid::pg_catalog.text]
                ELSE ARRAY[name] END;
COMMENT ON FUNCTION securitylake.source_route_keys(text, bool, int) IS
    'the routing keys a source takes: its name, and # and its class_uid when it routes by class';

-----------------------------------------------------------------------------
-- The queue. Producers only INSERT (source, event, region, account_id); nothing
-- runs per row but the routing key's expression. The primary key (route_key, id)
-- keeps each source's rows together in id order: a source's claim, flush() and
-- status read its own rows only, however many rows other sources have queued.
-----------------------------------------------------------------------------
CREATE TABLE securitylake.queue (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    source      text,                -- NULL: route by the event's class_uid
    event       jsonb NOT NULL,
    region      text,
    account_id  text,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    route_key   text NOT NULL GENERATED ALWAYS AS (securitylake.route_key(source, event)) STORED,
    PRIMARY KEY (route_key, id)
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
    ids         bigint[] NOT NULL,   -- queue ids in the object's record order (time, then id)
    upload_id   text,                -- multipart UploadId, persisted before any part is sent
    attempts    int NOT NULL DEFAULT 0,      -- failed upload attempts (S3, STS, network)
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    -- (0.2.0's columns come last: ALTER EXTENSION ... UPDATE appends them)
    route_keys  text[] NOT NULL,     -- the queue rows' routing keys (one; a batch of 0.1.0 may have two)
    sizes       int[] NOT NULL,      -- each event's raw JSON bytes, in the order of ids
    raw_bytes   bigint NOT NULL,     -- the events' JSON, uncompressed
    failures    int NOT NULL DEFAULT 0,      -- failures of another kind (an ERROR while encoding)
    last_error  text,
    held_by     int,                 -- pid of the worker delivering it now ...
    held_since  timestamptz          -- ... and that backend's start: a lease no other role can take
);
CREATE INDEX batch_source ON securitylake.batch (source);
-- A batch's id list is written once and read back only after a crash: not worth compressing.
ALTER TABLE securitylake.batch ALTER COLUMN ids SET STORAGE EXTERNAL,
                               ALTER COLUMN sizes SET STORAGE EXTERNAL;

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
    bytes       bigint NOT NULL,     -- the object's size
    attempts    int NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    raw_bytes   bigint               -- the JSON it was made from (NULL before 0.2.0)
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

-----------------------------------------------------------------------------
-- The workers' grants: exactly what delivery needs (src/loop.c runs every worker
-- statement as securitylake_worker). Reading credential is the one secret it holds.
-----------------------------------------------------------------------------
GRANT USAGE ON SCHEMA securitylake TO securitylake_worker;
GRANT SELECT ON securitylake.source, securitylake.credential TO securitylake_worker;
GRANT SELECT, INSERT, UPDATE ON securitylake.source_state TO securitylake_worker;
GRANT SELECT, DELETE ON securitylake.queue TO securitylake_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON securitylake.batch TO securitylake_worker;
GRANT SELECT, INSERT ON securitylake.uploads TO securitylake_worker;
GRANT INSERT ON securitylake.dead_letter TO securitylake_worker;
-- A batch's id is drawn before its row is written: it is part of the object key.
GRANT USAGE ON SEQUENCE securitylake.batch_id_seq TO securitylake_worker;
-- The queue's ids handed out so far bound what the worker counts as new (src/schedule.c).
GRANT SELECT ON SEQUENCE securitylake.queue_id_seq TO securitylake_worker;

-- pg_dump keeps what the extension's tables hold (sources, queued events, pending
-- batches, the upload log, dead letters). Not the static credentials: a dump should
-- not carry a secret key; set them again after a restore (or use the shared file).
SELECT pg_catalog.pg_extension_config_dump('securitylake.source', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.source_state', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.queue', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.batch', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.uploads', '');
SELECT pg_catalog.pg_extension_config_dump('securitylake.dead_letter', '');
