-- The statement analysis of test/e2e/trust-escalation.test.mjs (run in one session as a superuser):
-- every recorded statement prepared, made a BEGIN ATOMIC function, and its pg_depend entries read.
-- pg_stat_statements replaces constants by $n, which leaves two forms that do not parse
-- again: a typed literal (date '1970-01-01' → date $8) and EXTRACT's field (extract(epoch
-- FROM x) → extract($1 FROM x)). They are written back as the calls they stand for.
CREATE FUNCTION pg_temp.trust_denormalise(q text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT regexp_replace(
             regexp_replace(q, '\m(date|interval|timestamptz|timestamp|time|boolean|bool|integer|int|bigint|numeric|text|jsonb|json)\s+(\$\d+)',
                            'CAST(\2 AS \1)', 'gi'),
             '\mextract\(\s*(\$\d+)\s+FROM\s+', 'pg_catalog.extract(\1, ', 'gi');
END;

-- PREPARE q as trust_q. Where a parameter's type is not determined by the statement
-- itself (the worker declares it: $1 IS NULL, unnest($2), date + $5, a parameter not
-- referenced), candidate types are tried for the parameter the error points at — named
-- by the error, or next to the function or operator it names — depth first, backing out
-- of a choice that leads to an error no undecided parameter explains. Returns the types.
CREATE FUNCTION pg_temp.trust_try(q text, types text[], n int) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF n = 0 THEN
        EXECUTE 'PREPARE trust_q AS ' || q;
    ELSE
        EXECUTE format('PREPARE trust_q(%s) AS %s', array_to_string(types, ', '), q);
    END IF;
    EXECUTE 'DEALLOCATE trust_q';
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLERRM;
END $fn$;

-- The parameter an error of PREPARE points at, or NULL.
CREATE FUNCTION pg_temp.trust_blame(q text, err text, types text[]) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    k int := substring(err FROM 'could not determine data type of parameter \$(\d+)')::int;
    m text[];
    occ text[];
    args text[];
    want text[];
BEGIN
    IF k IS NOT NULL THEN
        RETURN k;
    END IF;
    -- function f(t1, t2) is not unique / does not exist: a parameter passed to f whose
    -- type is the one named.
    m := regexp_match(err, '^function (\S+)\((.*)\) (is not unique|does not exist)');
    IF m IS NOT NULL THEN
        want := string_to_array(m[2], ', ');
        FOR occ IN SELECT regexp_matches(q, replace(m[1], '.', '\.') || '\(([^()]*)\)', 'g') LOOP
            args := regexp_split_to_array(occ[1], '\s*,\s*');
            FOR i IN 1..coalesce(array_length(args, 1), 0) LOOP
                IF args[i] ~ '^\$\d+$' AND types[substr(args[i], 2)::int] = want[i] THEN
                    RETURN substr(args[i], 2)::int;
                END IF;
            END LOOP;
        END LOOP;
    END IF;
    -- operator is not unique / does not exist: t1 op t2: a parameter beside op of that type.
    m := regexp_match(err, '^operator (?:is not unique|does not exist): (.*) (\S*?([-+*/<>=~!@#%^&|?]+)) (.*)$');
    IF m IS NOT NULL THEN
        FOR occ IN SELECT regexp_matches(q, '(\$\d+)?\s*(?:OPERATOR\(pg_catalog\.)?' || regexp_replace(m[3], '([^\w])', '\\\1', 'g')
                                            || '\)?\s*(\$\d+)?', 'g') LOOP
            IF occ[1] IS NOT NULL AND types[substr(occ[1], 2)::int] = m[1] THEN RETURN substr(occ[1], 2)::int; END IF;
            IF occ[2] IS NOT NULL AND types[substr(occ[2], 2)::int] = m[4] THEN RETURN substr(occ[2], 2)::int; END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END $fn$;

CREATE FUNCTION pg_temp.trust_search(q text, types text[], n int, depth int) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    candidates constant text[] := ARRAY['text', 'bigint', 'integer', 'boolean', 'timestamp with time zone', 'date',
                                        'jsonb', 'numeric', 'interval', 'text[]', 'bigint[]', 'integer[]'];
    err text := pg_temp.trust_try(q, types, n);
    k int;
    c text;
    found text[];
BEGIN
    IF err IS NULL THEN
        RETURN types;
    END IF;
    k := pg_temp.trust_blame(q, err, types);
    IF depth >= 16 OR k IS NULL OR k > n OR types[k] <> 'unknown' THEN
        RETURN NULL;            -- an error no undecided parameter explains: back out
    END IF;
    FOREACH c IN ARRAY candidates LOOP
        types[k] := c;
        found := pg_temp.trust_search(q, types, n, depth + 1);
        IF found IS NOT NULL THEN
            RETURN found;
        END IF;
    END LOOP;
    RETURN NULL;
END $fn$;

CREATE FUNCTION pg_temp.trust_prepare(q text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    n int := coalesce((SELECT max(m[1]::int) FROM regexp_matches(q, '\$(\d+)', 'g') AS m), 0);
    types text[] := pg_temp.trust_search(q, array_fill('unknown'::text, ARRAY[greatest(n, 1)]), n, 0);
BEGIN
    IF types IS NULL THEN
        RAISE EXCEPTION '%', pg_temp.trust_try(q, array_fill('unknown'::text, ARRAY[greatest(n, 1)]), n);
    END IF;
    IF n = 0 THEN
        EXECUTE 'PREPARE trust_q AS ' || q;
    ELSE
        EXECUTE format('PREPARE trust_q(%s) AS %s', array_to_string(types, ', '), q);
    END IF;
    RETURN (SELECT array_to_string(p.parameter_types::text[], ', ') FROM pg_prepared_statements p WHERE p.name = 'trust_q');
END $fn$;

-- What a BEGIN ATOMIC function's body references. pg_depend alone does not say: since
-- PostgreSQL 15 it records no dependency on pinned (built-in) objects, which is everything
-- in pg_catalog. So the parse tree stored with the function (prosqlbody) is read as well:
-- the function, aggregate and operator oids of its expressions (funcid, aggfnoid, opno,
-- and the sort/equality operators of ORDER BY and DISTINCT) and the types of its
-- constants, casts, parameters, columns and results.
CREATE FUNCTION pg_temp.trust_deps(fn oid) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH body AS (SELECT p.prosqlbody::text AS t FROM pg_proc p WHERE p.oid = fn),
    refs AS (
        SELECT 'pg_proc' AS kind, m[1]::oid AS oid
          FROM body, regexp_matches(body.t, ':(?:funcid|aggfnoid|winfnoid|opfuncid) (\d+)', 'g') AS m
        UNION
        SELECT 'pg_operator', m[1]::oid
          FROM body, regexp_matches(body.t, ':(?:opno|sortop|eqop) (\d+)', 'g') AS m
        UNION
        SELECT 'pg_type', m[1]::oid
          FROM body, regexp_matches(body.t, ':(?:consttype|resulttype|funcresulttype|paramtype|vartype|aggtype|opresulttype|element_typeid|array_typeid|casetype|coalescetype|minmaxtype|rowtypeid|typeid) (\d+)', 'g') AS m
        UNION
        SELECT d.refclassid::regclass::text, d.refobjid
          FROM pg_depend d
         WHERE d.classid = 'pg_proc'::regclass AND d.objid = fn
           AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_type'::regclass))
    SELECT jsonb_agg(jsonb_build_object('kind', r.kind, 'oid', r.oid)) FROM refs r WHERE r.oid <> 0;
END;

CREATE FUNCTION pg_temp.trust_analyse() RETURNS TABLE (query text, params text, error text, body_of text, deps jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    q text;
    f record;
    fn oid;
BEGIN
    FOR q IN SELECT t.query FROM pg_temp.trust_statements t ORDER BY 1 LOOP
        query := q; params := NULL; error := NULL; body_of := NULL; deps := NULL;
        BEGIN
            q := pg_temp.trust_denormalise(q);
            params := pg_temp.trust_prepare(q);
            EXECUTE 'DEALLOCATE trust_q';
            EXECUTE format('CREATE FUNCTION pg_temp.trust_probe(%s) RETURNS void LANGUAGE sql BEGIN ATOMIC %s; END',
                           coalesce(params, ''), q);
            SELECT p.oid INTO fn FROM pg_proc p WHERE p.proname = 'trust_probe' AND p.pronamespace = pg_my_temp_schema();
            deps := pg_temp.trust_deps(fn);
            EXECUTE format('DROP FUNCTION pg_temp.trust_probe(%s)', coalesce(params, ''));
        EXCEPTION WHEN OTHERS THEN
            error := SQLERRM;
            -- The SQL-language function of the extension whose body holds it (the text up
            -- to its first normalised constant).
            SELECT string_agg(p.oid::regprocedure::text, ', ') INTO body_of
              FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
             WHERE p.pronamespace = 'securitylake'::regnamespace AND l.lanname = 'sql' AND p.prosqlbody IS NULL
               AND strpos(p.prosrc, split_part(q, '$', 1)) > 0;
        END;
        IF EXISTS (SELECT 1 FROM pg_prepared_statements p WHERE p.name = 'trust_q') THEN
            EXECUTE 'DEALLOCATE trust_q';
        END IF;
        RETURN NEXT;
    END LOOP;
    -- The bodies of the extension's SQL-language functions (the ones named above, and
    -- every one the statements call).
    FOR f IN SELECT p.oid, p.proname, pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result,
                    rtrim(p.prosrc, E' \n\t;') AS src
               FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
              WHERE p.pronamespace = 'securitylake'::regnamespace AND l.lanname = 'sql' AND p.prosqlbody IS NULL LOOP
        query := 'body of ' || f.oid::regprocedure::text; params := f.args; error := NULL; body_of := NULL; deps := NULL;
        BEGIN
            EXECUTE format('CREATE FUNCTION pg_temp.%I(%s) RETURNS %s LANGUAGE sql BEGIN ATOMIC %s; END',
                           f.proname, f.args, f.result, f.src);
            SELECT p.oid INTO fn FROM pg_proc p WHERE p.proname = f.proname AND p.pronamespace = pg_my_temp_schema();
            deps := pg_temp.trust_deps(fn);
            EXECUTE format('DROP FUNCTION pg_temp.%I(%s)', f.proname, f.args);
        EXCEPTION WHEN OTHERS THEN
            error := SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END $fn$;