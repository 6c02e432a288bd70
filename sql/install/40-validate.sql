-- securitylake install script: validate(), the worker's verdict on one event.

-- NULL, or exactly the reason the worker would dead-letter EVENT with in SOURCE: the
-- claim's size rule (max_event_size), its event rules (time, class), then the encoder's
-- walk of the event against the source's columns — the same C code the worker runs.
-- SECURITY DEFINER: it reads the source's row, which producers cannot.
CREATE FUNCTION securitylake.validate(event jsonb, source text)
    RETURNS text
    LANGUAGE c VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'securitylake_validate';
REVOKE ALL ON FUNCTION securitylake.validate(jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION securitylake.validate(jsonb, text) IS
    'NULL, or the dead-letter reason the worker would give this event in this source';

DO $grants$
BEGIN
    GRANT EXECUTE ON FUNCTION securitylake.validate(jsonb, text) TO securitylake_writer, securitylake_admin;
END
$grants$;
