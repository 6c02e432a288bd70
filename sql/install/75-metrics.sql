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
