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
