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
