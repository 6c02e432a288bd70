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

-- A source's queued rows (count) and the enqueue time of the head of each of its routing
-- keys (the next rows a claim takes), read through the primary key (route_key, id) only:
-- an index-only count of the source's own entries and one probe per key. With a large
-- backlog the planner would rather scan the whole queue (every source's rows) than count
-- one key's entries; inside this function sequential and bitmap scans (which read the
-- heap) and parallel workers are off, so the count is an index-only scan of the keys.
-- SECURITY DEFINER: readers of the metrics view see counts, never the queue.
CREATE FUNCTION securitylake._queue_depth(keys text[], OUT events bigint, OUT head_enqueued_at timestamptz)
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

-- Delivery per source. queued_rows counts the rows routed to the source (by name or
-- by class); last_error is secret-free by construction (AWS codes and messages).
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

-- Queued rows that no source takes (they are dead-lettered by the worker).
CREATE VIEW securitylake.unrouted AS
    SELECT q.* FROM securitylake.queue q
     WHERE NOT EXISTS (SELECT 1 FROM securitylake.source s
                        WHERE q.route_key = ANY (securitylake.source_route_keys(s.name, s.route_by_class, s.class_uid)));

-- Privileges. Nothing to PUBLIC. Producers (securitylake_writer) may only insert into
-- the queue; operators (securitylake_admin) read everything but the credentials.
REVOKE ALL ON ALL TABLES IN SCHEMA securitylake FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA securitylake FROM PUBLIC;
GRANT USAGE ON SCHEMA securitylake TO securitylake_writer, securitylake_admin;
-- Producers name their columns: they cannot choose queue ids (OVERRIDING SYSTEM VALUE
-- needs the id column) nor enqueued_at.
GRANT INSERT (source, event, region, account_id) ON securitylake.queue TO securitylake_writer;
GRANT EXECUTE ON FUNCTION securitylake.route_key(text, jsonb)
    TO securitylake_writer, securitylake_admin, securitylake_worker;
GRANT EXECUTE ON FUNCTION securitylake.source_route_keys(text, bool, int) TO securitylake_admin, securitylake_worker;
GRANT SELECT ON securitylake.queue, securitylake.uploads, securitylake.dead_letter,
                securitylake.sources, securitylake.status, securitylake.unrouted
    TO securitylake_admin;
