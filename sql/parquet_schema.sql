-- parquet_schema() and ocsf_classes: the columns a source of a class writes. Reviewed:
-- expected/parquet_schema.out (the shape Security Lake's own tables have: time bigint, time_dt
-- timestamp, class_uid int, metadata a struct, unmapped map<string,string>).
CREATE EXTENSION securitylake;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT ocsf_version, count(*) AS classes FROM securitylake.ocsf_classes GROUP BY 1 ORDER BY 1;
SELECT ocsf_version, class_uid, name, class_name, category FROM securitylake.ocsf_classes
 WHERE class_uid IN (3002, 4001, 2004) ORDER BY 1, 2;

-- Authentication (3002), OCSF 1.1.0: the top level.
SELECT path, repetition, type, logical_type, ocsf_type, requirement, profile
  FROM securitylake.parquet_schema(3002) WHERE depth = 1 ORDER BY path;
-- metadata, one level down; a list of objects; the unmapped map.
SELECT path, repetition, type, logical_type FROM securitylake.parquet_schema(3002)
 WHERE path LIKE 'metadata.%' AND depth = 2 ORDER BY path;
SELECT path, repetition, type, logical_type FROM securitylake.parquet_schema(3002)
 WHERE path LIKE 'observables%' ORDER BY path;
SELECT path, repetition, type, logical_type FROM securitylake.parquet_schema(3002)
 WHERE path LIKE 'unmapped%' ORDER BY path;

-- 1.3.0 widens integer durations; the depth cut trims nested objects.
SELECT path, type, logical_type FROM securitylake.parquet_schema(3002, '1.3.0') WHERE path = 'duration';
SELECT path, type, logical_type FROM securitylake.parquet_schema(3002, '1.1.0') WHERE path = 'duration';
SELECT (SELECT count(*) FROM securitylake.parquet_schema(3002, '1.1.0', 2)) < (SELECT count(*) FROM securitylake.parquet_schema(3002, '1.1.0', 4)) AS deeper_has_more;

-- Unknown classes and versions.
SELECT count(*) FROM securitylake.parquet_schema(99999);
SELECT count(*) FROM securitylake.parquet_schema(3002, '9.9.9');

DROP EXTENSION securitylake;
