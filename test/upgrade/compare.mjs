// What an upgraded database and a fresh install are compared on (test/upgrade/upgrade.test.mjs):
//
//  1. pg_dump --schema-only, as users and pg_dump see it: CREATE EXTENSION, the schema,
//     privileges changed after CREATE EXTENSION. Extension members are not in it.
//  2. pg_dump --schema-only --binary-upgrade: the same, plus every member object of the
//     extension with its full definition (tables and column order, constraints, indexes,
//     functions with their bodies and settings, views, triggers, comments, owners) and its
//     privileges, told apart into those the extension's scripts set (initial privileges)
//     and those granted later. It is what pg_upgrade itself relies on.
//  3. The extension's member objects and their privileges, from the catalogs: pg_extension
//     (version, configuration tables and their dump conditions), pg_depend, relacl/proacl/
//     typacl/nspacl, column privileges, pg_init_privs. Independent of pg_dump's rendering.
//
// Normalisation (normaliseDump) changes only what must differ between two databases that
// hold the same schema, each for a reason given where it is done. Nothing else is touched:
// column order, constraint names, function bodies, comments, owners and grants are compared
// as they are.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PG_BIN, psql } from '../lib/pg.mjs';

// pg_dump DB (schema only); binaryUpgrade adds the member objects (see above).
export function pgDump(db, { env, binaryUpgrade = false }) {
  const args = ['--schema-only', '--no-password', '-U', 'postgres', '-d', db];
  if (binaryUpgrade) args.push('--binary-upgrade');
  const r = spawnSync(`${PG_BIN}/pg_dump`, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`pg_dump ${db} failed: ${r.stderr}`);
  return r.stdout;
}

export function normaliseDump(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i];
    // pg_dump's \restrict / \unrestrict lines carry a key it draws at random on every run.
    if (/^\\(un)?restrict\s/.test(l)) l = l.replace(/\s\S+$/, ' KEY');
    // OIDs and relfilenodes: every object takes the next free OID of its database, so two
    // databases never agree on them (binary_upgrade_set_next_*_oid / _relfilenode, the
    // "WHERE oid = ..." of relfrozenxid updates, the configuration tables' OIDs given to
    // binary_upgrade_create_empty_extension, which part 3 compares by name).
    l = l.replace(/(binary_upgrade_set_next_\w+\()'\d+'(::pg_catalog\.oid\))/, "$1'OID'$2");
    l = l.replace(/^(WHERE oid = )'\d+';$/, "$1'OID';");
    if (l.includes('binary_upgrade_create_empty_extension(')) l = l.replace(/'\{\d+(,\d+)*\}'/, "'{OIDs}'");
    // Transaction ids (relfrozenxid, relminmxid) and WAL positions (attribute versions, one
    // per column, dropped ones included): the moments a table and its columns were created
    // in their database. The columns themselves are compared in the CREATE TABLE.
    l = l.replace(/relfrozenxid = '\d+', relminmxid = '\d+'/, "relfrozenxid = 'XID', relminmxid = 'XID'");
    if (l.includes('binary_upgrade_set_next_attribute_versions(')) l = l.replace(/'\{[^']*\}'/, "'{LSNs}'");
    // Sequence positions (setval) follow the rows a database has held: data, not schema.
    l = l.replace(/(pg_catalog\.setval\('[^']+'), \d+, (true|false)\)/, '$1, VALUE)');
    // A column dropped by an upgrade stays in the table as an invisible placeholder, which
    // the binary-upgrade dump recreates and drops again; a fresh table never had it. No SQL
    // sees it (SELECT *, COPY, INSERT without a column list skip it).
    if (/^\s+"\.{8}pg\.dropped\.\d+\.{8}" .*\/\* dummy \*\/(,)?$/.test(l)) {
      if (!l.endsWith(',') && out.length && out[out.length - 1].endsWith(',')) {
        out[out.length - 1] = out[out.length - 1].slice(0, -1);
      }
      continue;
    }
    if (l === '-- For binary upgrade, recreate dropped column.') {
      while (i < lines.length && !/DROP COLUMN "\.{8}pg\.dropped\.\d+\.{8}";$/.test(lines[i])) i++;
      continue;
    }
    // A column added with a default by ALTER TABLE keeps that default as the "missing
    // value" of the rows that existed then; a fresh table has none. Rows read the same.
    if (l === '-- set missing value.') {
      i++; // its SELECT pg_catalog.binary_upgrade_set_missing_value(...);
      continue;
    }
    out.push(l);
  }
  // Privileges are sets: pg_dump writes a grant per ACL item in the order the GRANTs ran,
  // which an upgrade cannot always reproduce (an item granted in 0.1.0 comes before one
  // granted by the upgrade; a fresh install may grant them the other way round). Each run
  // of consecutive GRANT/REVOKE lines is sorted; the init-privileges markers between runs
  // stay where they are, so initial and later grants are still told apart.
  for (let i = 0; i < out.length;) {
    if (!/^(GRANT|REVOKE) /.test(out[i])) { i++; continue; }
    let j = i;
    while (j < out.length && /^(GRANT|REVOKE) /.test(out[j])) j++;
    const run = out.slice(i, j).sort();
    out.splice(i, j - i, ...run);
    i = j;
  }
  // Removing the blocks above leaves their blank lines: runs of blank lines count as one.
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

// Part 3: one line per fact, sorted. ACL items are sorted within each list (a set, as above).
const MEMBERS_SQL = `
WITH ext AS (SELECT * FROM pg_catalog.pg_extension WHERE extname = 'securitylake'),
mem AS (
  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
   WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT line FROM (
  SELECT 'extension securitylake ' || extversion || ', relocatable ' || extrelocatable
         || ', schema ' || extnamespace::pg_catalog.regnamespace || ', owner ' || extowner::pg_catalog.regrole
         || ', configuration tables: ' || coalesce((
              SELECT string_agg(c::pg_catalog.regclass::text || coalesce(' WHERE ' || nullif(cond, ''), ''), ', '
                                ORDER BY c::pg_catalog.regclass::text)
                FROM unnest(extconfig, extcondition) AS u(c, cond)), 'none')
    FROM ext
  UNION ALL
  SELECT 'member ' || pg_catalog.pg_describe_object(m.classid, m.objid, 0) || ', privileges '
         || coalesce((SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(
              CASE m.classid
                WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN (SELECT relacl FROM pg_catalog.pg_class WHERE oid = m.objid)
                WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN (SELECT proacl FROM pg_catalog.pg_proc WHERE oid = m.objid)
                WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN (SELECT typacl FROM pg_catalog.pg_type WHERE oid = m.objid)
                WHEN 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN (SELECT nspacl FROM pg_catalog.pg_namespace WHERE oid = m.objid)
              END) a), 'default')
    FROM mem m
  UNION ALL
  SELECT 'column ' || a.attrelid::pg_catalog.regclass || '.' || quote_ident(a.attname) || ', privileges '
         || (SELECT string_agg(x::text, ' ' ORDER BY x::text) FROM unnest(a.attacl) x)
    FROM pg_catalog.pg_attribute a JOIN mem m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND a.attrelid = m.objid
   WHERE a.attacl IS NOT NULL AND NOT a.attisdropped
  UNION ALL
  SELECT 'initial privileges (' || p.privtype::text || ') of ' || pg_catalog.pg_describe_object(p.classoid, p.objoid, p.objsubid) || ': '
         || (SELECT string_agg(x::text, ' ' ORDER BY x::text) FROM unnest(p.initprivs) x)
    FROM pg_catalog.pg_init_privs p JOIN mem m ON p.classoid = m.classid AND p.objoid = m.objid
  UNION ALL
  SELECT 'schema ' || nspname || ' (not a member), owner ' || nspowner::pg_catalog.regrole || ', privileges '
         || coalesce((SELECT string_agg(x::text, ' ' ORDER BY x::text) FROM unnest(nspacl) x), 'default')
    FROM pg_catalog.pg_namespace WHERE nspname = 'securitylake'
) facts(line)
ORDER BY line;`;

export function membersReport(db, { env }) {
  return psql(MEMBERS_SQL, { db, user: 'postgres', env });
}

// Roles are cluster-wide: the scripts create them if missing. Compared before and after a
// fresh install in the same cluster, so a role only the install script creates shows up.
export function rolesReport({ env }) {
  return psql(`SELECT rolname || ' login=' || rolcanlogin || ' super=' || rolsuper || ' inherit=' || rolinherit
                      || ' createrole=' || rolcreaterole || ' createdb=' || rolcreatedb || ' bypassrls=' || rolbypassrls
                      || ' member of: ' || coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
                                                      FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
                                                     WHERE am.member = r.oid), '-')
                 FROM pg_catalog.pg_roles r WHERE rolname LIKE 'securitylake%' ORDER BY rolname`,
  { db: 'postgres', user: 'postgres', env });
}

// Writes the two texts to DIR/NAME.fresh and DIR/NAME.upgraded (kept for reading) and
// returns their unified diff, hunks headed by the object they are in (pg_dump's
// "-- Name: ..." comment), or '' when they are equal.
export function diffFiles(fresh, upgraded, { dir, name, freshLabel, upgradedLabel }) {
  const a = join(dir, `${name}.fresh`);
  const b = join(dir, `${name}.upgraded`);
  writeFileSync(a, fresh);
  writeFileSync(b, upgraded);
  const r = spawnSync('diff', ['-u', '-F', '^-- Name: ', '--label', freshLabel, '--label', upgradedLabel, a, b],
    { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status === 0) return '';
  if (r.status !== 1) throw new Error(`diff failed: ${r.stderr}`);
  return r.stdout;
}
