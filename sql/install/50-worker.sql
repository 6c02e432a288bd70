-- securitylake install script: what the workers and flush() call.

-- The routing keys present in the queue after a key (NULL: from the first), in order: a
-- loose scan of the primary key (route_key, id), one index probe per distinct key,
-- however many rows are queued. Read lazily: a caller that stops early stops the scan.
-- A SQL-standard body (parsed once, when created: no search_path applies) that PostgreSQL
-- inlines into its caller, so the scan is read lazily.
CREATE FUNCTION securitylake._queued_keys(after text DEFAULT NULL)
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

-- An event's JSON size before compression, read from its header without decompressing
-- or fetching it (toast_raw_datum_size).
CREATE FUNCTION securitylake._raw_size(event jsonb)
    RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'securitylake_raw_size';

-- Is the backend with this pid, started at this time, a securitylake worker that still
-- runs? (A batch's lease; read from the backends' status, which no role can fake.)
CREATE FUNCTION securitylake._worker_alive(pid int, started timestamptz)
    RETURNS bool
    LANGUAGE c STABLE STRICT
    AS 'MODULE_PATHNAME', 'securitylake_worker_alive';

-- flush: wake the worker(s) and wait until every event queued before the call is in
-- the lake or dead-lettered; returns the objects written meanwhile. Raises on
-- timeout with the error that blocks delivery. It runs as the extension's owner (it
-- reads the queue and the sources for its caller, who needs neither).
CREATE FUNCTION securitylake.flush(source text DEFAULT NULL, timeout interval DEFAULT '5 min')
    RETURNS TABLE (source text, object_key text, rows bigint, bytes bigint)
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'securitylake_flush';
COMMENT ON FUNCTION securitylake.flush(text, interval) IS
    'deliver every event queued before the call (one source or all) and list the objects written';

-- Queued rows up to an id still waiting for delivery: of one source (its routing keys, probed
-- directly), or (source NULL) of every enabled source, and the rows no source takes (which
-- the sweep dead-letters; the loose scan stops at the first such key with such a row, and
-- the keys the sources take are few).
CREATE FUNCTION securitylake._flush_pending(source text, upto bigint)
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

-- Disabled sources with rows queued up to an id (flush() without a name skips them).
CREATE FUNCTION securitylake._flush_skipped(upto bigint)
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

REVOKE ALL ON FUNCTION securitylake._queued_keys(text), securitylake._raw_size(jsonb),
                       securitylake._worker_alive(int, timestamptz), securitylake.flush(text, interval),
                       securitylake._flush_pending(text, bigint), securitylake._flush_skipped(bigint)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION securitylake.flush(text, interval) TO securitylake_admin;
GRANT EXECUTE ON FUNCTION securitylake._queued_keys(text), securitylake._raw_size(jsonb),
                          securitylake._worker_alive(int, timestamptz)
    TO securitylake_worker;
