// Issue 11, finding 1: privilege escalation through the worker. A database owner who is
// not a superuser plants look-alikes of every function, operator and type the workers'
// and flush()'s statements use — the list derived from the statements themselves, not
// picked by hand — puts its schemas first on the search_path of the database and of
// securitylake_worker, plants database settings that would stall or subvert a worker that
// does not pin them, and nothing planted runs: the owner stays a non-superuser and every
// event is delivered exactly once.
//
// How the list is derived: pg_stat_statements (preloaded by test/lib/pgcluster.sh, nested
// statements tracked) records every statement while the worker is driven through every
// path it has — deliveries on a threshold, flush() of one source and of all, a pending
// batch re-driven after failed uploads (gate down), dead letters at the claim and at the
// encoder, the sweep of rows no source takes, a batch split to isolate a failing event
// (securitylake.test_fault = 'error:event:<uid>'), a multipart upload. Each statement run
// by securitylake_worker or mentioning the schema (flush()'s, the SECURITY DEFINER
// functions') is PREPAREd to learn its parameter types, then made the body of a
// SQL-standard function (BEGIN ATOMIC), whose pg_depend entries name the functions,
// operators and types it references. The owner then plants, in public and in a schema
// evil: each function with the same name and argument types, and a variant with each
// argument replaced by text, numeric, integer and bigint (aggregates as aggregates); each
// operator likewise; each type as a domain whose CHECK runs planted code. Every planted
// body records its call (a sequence, which no rollback undoes, a table and the server log)
// and tries ALTER ROLE <owner> SUPERUSER.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, skipNoPg, serverLog } from '../lib/pg.mjs';
import { openDuck } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, restartWorker, setSystem, loginRole, dropRole, lakeUids, exactlyOnce } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-trustlake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-trust-us-east-1';
const EXTERNAL_ID = 'trust-external-id';
const USER = { accessKeyId: 'AKIATRUSTTESTUSER001', secretAccessKey: 'trustSecretKeyForTheGate00000000000000001' };
const OWNER = 'trust_owner';     // the database owner: not a superuser
const DRIVER = 'trust_driver';   // the test's own statements (a superuser): left out of the list
const DB = process.env.PGDATABASE;
// The hostile settings the owner plants on the database (and the superuser on the role).
const HOSTILE_PATH = 'evil, public, pg_catalog';
const PLANTED_SETTINGS = {
  search_path: HOSTILE_PATH,
  default_transaction_read_only: 'on',
  statement_timeout: '1ms',
  lock_timeout: '1ms',
  enable_indexscan: 'off',
  work_mem: '64kB',
};
// A flush() caller: its own session keeps the planted search_path (flush() must not care)
// but not the timeouts and read-only default, which would only cancel the caller itself.
const CALLER = { user: DRIVER, env: { PGOPTIONS: '-c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0' } };
const DRV = { user: DRIVER, ...SAFE };

let gate;
let duck;
const expected = [];      // uids that must be in the lake once
const deadLetters = [];   // uids that must be in dead_letter once
let figures = {};

const drv = (sql) => psql(sql, DRV);

function copyRows(events, { source = null } = {}) {
  const esc = (v) => (v === null || v === undefined ? '\\N' : String(v).replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r'));
  const lines = events.map((e) => [source, JSON.stringify(e), null, null].map(esc).join('\t'));
  psql(`COPY securitylake.queue (source, event, region, account_id) FROM STDIN;\n${lines.join('\n')}\n\\.\n`, DRV);
}

function flush(source, timeout = '120 s') {
  return psql(`SELECT pg_catalog.count(*) FROM securitylake.flush(${lit(source)}, ${lit(timeout)})`, CALLER);
}

function queued() {
  return one('SELECT count(*) FROM securitylake.queue', DRV);
}

async function waitFor(what, cond, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (cond()) return;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}`);
}

// Every path the worker has, with events of their own (seed base).
async function drive(base) {
  // 1. A delivery on the record-count threshold, without flush().
  const uploadsBefore = one(`SELECT count(*) FROM securitylake.uploads WHERE source = 'trust_a'`, DRV);
  const t = authEvents(25, { seed: base + 1 });
  expected.push(...t.map((e) => e.metadata.uid));
  copyRows(t);
  await waitFor('a delivery on batch_record_count', () => one(`SELECT count(*) FROM securitylake.uploads WHERE source = 'trust_a'`, DRV) > uploadsBefore);

  // 2. flush() of every source, and of one.
  const a = authEvents(30, { seed: base + 2 });
  const b = authEvents(30, { seed: base + 3 });
  expected.push(...a.map((e) => e.metadata.uid), ...b.map((e) => e.metadata.uid));
  copyRows(a);
  copyRows(b, { source: 'trust_b' });
  flush(null);
  flush('trust_b');

  // 3. Dead letters: refused at the claim (no time) and by the encoder (a string for an INT32).
  const noTime = authEvents(3, { seed: base + 4 }).map(({ time, ...e }) => e);
  const badType = authEvents(2, { seed: base + 5 }).map((e) => ({ ...e, severity_id: 'high' }));
  deadLetters.push(...noTime.map((e) => e.metadata.uid), ...badType.map((e) => e.metadata.uid));
  copyRows([...noTime, ...badType]);
  // 4. Rows no source takes: a source that does not exist, a class no source routes (the sweep).
  const nowhere = authEvents(2, { seed: base + 6 });
  const noClass = authEvents(2, { seed: base + 7 }).map((e) => ({ ...e, class_uid: 9999 }));
  deadLetters.push(...nowhere.map((e) => e.metadata.uid), ...noClass.map((e) => e.metadata.uid));
  copyRows(nowhere, { source: 'trust_nosuch' });
  copyRows(noClass);
  flush(null);

  // 5. A pending batch re-driven: uploads fail while the gate is down, then succeed.
  const p = authEvents(20, { seed: base + 8 });
  expected.push(...p.map((e) => e.metadata.uid));
  await admin(gate, 'down', { seconds: 5 });
  copyRows(p, { source: 'trust_b' });
  flush('trust_b', '180 s');

  // 6. A batch split: an ERROR while one event is encoded isolates it (dead-lettered).
  const s = authEvents(8, { seed: base + 9 });
  const poison = s[5].metadata.uid;
  expected.push(...s.filter((e) => e.metadata.uid !== poison).map((e) => e.metadata.uid));
  deadLetters.push(poison);
  await setSystem('securitylake.test_fault', `error:event:${poison}`);
  copyRows(s);
  try { flush('trust_a', '180 s'); } finally { await setSystem('securitylake.test_fault', ''); }

  // 7. A multipart upload (an object over the 16 MiB part size: incompressible text).
  const m = authEvents(300, { seed: base + 10 }).map((e) => ({ ...e, message: randomBytes(75000).toString('base64') }));
  expected.push(...m.map((e) => e.metadata.uid));
  copyRows(m, { source: 'trust_b' });
  flush('trust_b', '300 s');
  assert.equal(queued(), 0, 'every path drained the queue');
}

// The statements recorded since the last reset that the extension ran: every one run by
// securitylake_worker, and any other naming the schema, except the test's own.
const COLLECT = `
  SELECT DISTINCT s.query FROM public.pg_stat_statements s
   WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
     AND s.userid <> pg_catalog.to_regrole('${DRIVER}')::oid
     AND (s.userid = coalesce(pg_catalog.to_regrole('securitylake_worker')::oid, 0) OR s.query ~* 'securitylake')`;

// Each statement → PREPARE (parameter types) → BEGIN ATOMIC function → pg_depend. A
// statement of an SQL-language function's body (pg_stat_statements records those too)
// names the function's parameters, so it cannot be prepared alone: the whole body is
// analysed instead, as a BEGIN ATOMIC function of the same name and parameters in pg_temp.
const ANALYSE = readFileSync(new URL('./trust-analyse.sql', import.meta.url), 'utf8');

// What the referenced objects are: enough to plant look-alikes.
const DESCRIBE = `
  WITH refs AS (SELECT DISTINCT (d->>'kind') AS kind, (d->>'oid')::oid AS oid
                  FROM pg_temp.trust_analysis a, jsonb_array_elements(a.deps) d WHERE a.deps IS NOT NULL)
  SELECT 'function' AS kind, n.nspname AS schema, p.proname AS name, p.prokind::text AS prokind,
         (SELECT coalesce(json_agg(format_type(t, NULL) ORDER BY o), '[]') FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS x(t, o)) AS args,
         (SELECT coalesce(json_agg(t.typtype = 'p' ORDER BY o), '[]') FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS x(ty, o) JOIN pg_type t ON t.oid = x.ty) AS pseudo,
         p.provariadic <> 0 AS variadic, pg_get_function_result(p.oid) AS result, p.proretset AS retset,
         format_type(p.prorettype, NULL) AS rettype, NULL AS left, NULL AS right
    FROM refs r JOIN pg_proc p ON r.kind = 'pg_proc' AND p.oid = r.oid JOIN pg_namespace n ON n.oid = p.pronamespace
  UNION ALL
  SELECT 'operator', n.nspname, o.oprname, NULL, NULL, NULL, NULL, NULL, NULL, format_type(o.oprresult, NULL),
         CASE WHEN o.oprleft = 0 THEN NULL ELSE format_type(o.oprleft, NULL) END, format_type(o.oprright, NULL)
    FROM refs r JOIN pg_operator o ON r.kind = 'pg_operator' AND o.oid = r.oid JOIN pg_namespace n ON n.oid = o.oprnamespace
  UNION ALL
  SELECT 'type', n.nspname, t.typname, t.typtype::text, NULL, NULL, NULL, NULL, NULL, format_type(t.oid, NULL),
         CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN 'array' END, NULL
    FROM refs r JOIN pg_type t ON r.kind = 'pg_type' AND t.oid = r.oid JOIN pg_namespace n ON n.oid = t.typnamespace`;

function analyseStatements() {
  const out = psql(`CREATE TEMP TABLE trust_statements AS ${COLLECT};
    ${ANALYSE}
    CREATE TEMP TABLE trust_analysis AS SELECT * FROM pg_temp.trust_analyse();
    SELECT json_build_object(
      'statements', (SELECT json_agg(a ORDER BY a.query) FROM pg_temp.trust_analysis a),
      'objects', (SELECT coalesce(json_agg(o), '[]') FROM (${DESCRIBE}) o));`, DRV);
  return JSON.parse(out);
}

// ---- planting -------------------------------------------------------------------------

const POLY = /^(any|anyelement|anyarray|anynonarray|anyenum|anyrange|anymultirange|anycompatible|anycompatiblearray|anycompatiblenonarray|anycompatiblerange|anycompatiblemultirange)$/;
const UNDECLARABLE = /^("any"|internal|cstring|trigger|event_trigger|language_handler|fdw_handler|index_am_handler|tsm_handler|table_am_handler|record|void|unknown)$/;
const VARIANT_TYPES = ['text', 'numeric', 'integer', 'bigint'];

let plantSeq = 0;
const plantedSigs = new Set();   // one look-alike per signature, whichever reference asked first
// One DDL statement, planted as the owner; failures are recorded, not fatal.
function guarded(ddl, what) {
  const tag = `p${plantSeq++}`;
  return `DO $${tag}$ BEGIN EXECUTE ${lit(ddl)}; INSERT INTO evil.planted (what) VALUES (${lit(what)});
          EXCEPTION WHEN OTHERS THEN INSERT INTO evil.plant_failures (what, error) VALUES (${lit(what)}, SQLERRM); END $${tag}$;`;
}

const SPY_SETUP = `
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE SEQUENCE evil.spy_calls;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE evil.spy_calls TO PUBLIC;
CREATE TABLE evil.calls (what text, by_role text, backend_type text, pid int, at timestamptz DEFAULT pg_catalog.now());
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE TABLE evil.planted (what text);
CREATE TABLE evil.plant_failures (what text, error text);
-- Records the call where no rollback undoes it (the sequence), in a table and in the log,
-- and tries to make the owner a superuser: it works if it runs as one.
CREATE FUNCTION evil.spy(what text) RETURNS bool LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $spy$
BEGIN
    PERFORM pg_catalog.nextval('evil.spy_calls');
    BEGIN
        INSERT INTO evil.calls (what, by_role, backend_type, pid)
        SELECT what, current_user, (SELECT a.backend_type FROM pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_backend_pid()), pg_backend_pid();
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN
        EXECUTE 'ALTER ROLE ${OWNER} SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RAISE LOG 'securitylake trust test: planted % ran as %', what, current_user;
    RETURN true;
END $spy$;
GRANT EXECUTE ON FUNCTION evil.spy(text) TO PUBLIC;`;

const isPoly = (t) => POLY.test(t);
const declarable = (t) => !UNDECLARABLE.test(t);

// Look-alike functions (and aggregates) for one referenced function.
function plantFunction(f, schemas) {
  const out = [];
  const sigs = plantedSigs;
  const variants = [f.args];
  f.args.forEach((_, i) => {
    for (const vt of VARIANT_TYPES) {
      if (f.args[i] === vt) continue;
      variants.push(f.args.map((t, j) => (j === i ? vt : t)));
    }
  });
  for (const args of variants) {
    if (!args.every(declarable)) continue;
    const exact = args === f.args;
    const anyPoly = args.some(isPoly);
    let ret = f.rettype;
    let result = exact ? f.result : (f.retset ? `SETOF ${ret}` : ret);
    if (!exact && isPoly(ret) && !anyPoly) { ret = 'text'; result = f.retset ? 'SETOF text' : 'text'; }
    if (ret === 'trigger') continue;
    if (!exact && ret !== 'void' && (ret === 'record' || !declarable(ret))) continue;
    for (const schema of schemas) {
      const sig = `${schema}.${f.name}(${args.join(', ')})`;
      if (sigs.has(sig)) continue;
      sigs.add(sig);
      const params = args.map((t, i) => `$${i + 1}`).join(', ');
      if (f.prokind === 'a') {
        // An aggregate look-alike: its transition function is the planted code.
        const sf = `evil.agg_sf_${plantSeq}`;
        const state = isPoly(ret) && !anyPoly ? 'text' : ret;
        out.push(guarded(`CREATE FUNCTION ${sf}(${[state, ...args].join(', ')}) RETURNS ${state} LANGUAGE plpgsql
                          SET search_path = pg_catalog, pg_temp AS $b$ BEGIN PERFORM evil.spy(${lit(`aggregate ${sig}`)}); RETURN $1; END $b$`,
                          `aggregate state function for ${sig}`));
        out.push(guarded(`CREATE AGGREGATE ${schema}.${f.name}(${args.length ? args.join(', ') : '*'}) (SFUNC = ${sf}, STYPE = ${state})`,
                         `aggregate ${sig}`));
        continue;
      }
      if (f.prokind !== 'f') continue;
      // An exact look-alike of a pg_catalog function passes the call through, so a worker
      // that used it would go on working (and keep calling it); the others return NULL.
      let body;
      const pass = exact && f.schema === 'pg_catalog' && !f.variadic;
      if (ret === 'void') body = pass ? `PERFORM pg_catalog.${f.name}(${params}); RETURN;` : 'RETURN;';
      else if (f.retset) body = pass ? `RETURN QUERY SELECT * FROM pg_catalog.${f.name}(${params});` : 'RETURN;';
      else body = pass ? `RETURN pg_catalog.${f.name}(${params});` : 'RETURN NULL;';
      out.push(guarded(`CREATE FUNCTION ${sig} RETURNS ${result} LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
                        AS $b$ BEGIN PERFORM evil.spy(${lit(`function ${sig}`)}); ${body} END $b$`, `function ${sig}`));
    }
  }
  return out;
}

function plantOperator(o, schemas) {
  const out = [];
  const sides = [[o.left, o.right]];
  for (const vt of VARIANT_TYPES) {
    if (o.left && o.left !== vt) sides.push([vt, o.right]);
    if (o.right !== vt) sides.push([o.left, vt]);
  }
  const seen = plantedSigs;
  for (const [l, r] of sides) {
    const exact = l === o.left && r === o.right;
    const anyPoly = (l && isPoly(l)) || isPoly(r);
    let ret = o.rettype;
    if (isPoly(ret) && !anyPoly) ret = 'text';
    for (const schema of schemas) {
      const sig = `operator ${schema}.${o.name}(${l ?? 'NONE'}, ${r})`;
      if (seen.has(sig)) continue;
      seen.add(sig);
      const fn = `evil.op_fn_${plantSeq}`;
      const args = l ? `${l}, ${r}` : r;
      const pass = exact && o.schema === 'pg_catalog'
        ? (l ? `RETURN $1 OPERATOR(pg_catalog.${o.name}) $2;` : `RETURN OPERATOR(pg_catalog.${o.name}) $1;`)
        : 'RETURN NULL;';
      out.push(guarded(`CREATE FUNCTION ${fn}(${args}) RETURNS ${ret} LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
                        AS $b$ BEGIN PERFORM evil.spy(${lit(sig)}); ${pass} END $b$`, `operator function for ${sig}`));
      out.push(guarded(`CREATE OPERATOR ${schema}.${o.name} (${l ? `LEFTARG = ${l}, ` : ''}RIGHTARG = ${r}, FUNCTION = ${fn})`, `operator ${sig}`));
    }
  }
  return out;
}

function plantType(t, schemas) {
  if (t.prokind === 'p' || t.left === 'array') return [];   // pseudo-types; arrays come with their element
  return schemas.map((schema) => guarded(
    `CREATE DOMAIN ${schema}.${t.name} AS ${t.rettype} CHECK (evil.spy(${lit(`type ${schema}.${t.name}`)}))`,
    `type ${schema}.${t.name}`));
}

function plant(objects) {
  const schemas = ['evil', 'public'];
  const ddl = [];
  for (const o of objects) {
    if (o.kind === 'function') ddl.push(...plantFunction(o, schemas));
    else if (o.kind === 'operator') ddl.push(...plantOperator(o, schemas));
    else ddl.push(...plantType(o, schemas));
  }
  // The owner plants, in its own session (a non-superuser: it owns the database, so public).
  psql(SPY_SETUP, { user: OWNER, ...SAFE });
  for (let i = 0; i < ddl.length; i += 200) psql(ddl.slice(i, i + 200).join('\n'), { user: OWNER, ...SAFE });
  return {
    planted: one('SELECT count(*) FROM evil.planted', DRV),
    failed: query('SELECT what, error FROM evil.plant_failures ORDER BY what', DRV),
  };
}

// ---- the test -------------------------------------------------------------------------

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }] });
  duck = await openDuck();
  loginRole(OWNER);
  loginRole(DRIVER, 'SUPERUSER');
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public;
        ALTER DATABASE ${DB} OWNER TO ${OWNER};`, SAFE);
  // From here on the test's own statements run as DRIVER, which the list leaves out.
  process.env.PGUSER = DRIVER;
  await setSystem('securitylake.max_backoff', '1s');
  drv(`SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
       SELECT securitylake.create_source('trust_a', 's3://${BUCKET}/ext/trust_a/1.0/', ${lit(ROLE)}, ${lit(EXTERNAL_ID)}, 3002,
         'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 20,
         publish_rate => '1 hour', options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true }))}::jsonb);
       SELECT securitylake.create_source('trust_b', 's3://${BUCKET}/ext/trust_b/1.0/', NULL, NULL, 3002,
         'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
         publish_rate => '1 hour', options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  if (skipNoPg) return;
  process.env.PGUSER = 'postgres';
  try {
    psql(`ALTER DATABASE ${DB} RESET ALL; ALTER DATABASE ${DB} OWNER TO postgres;
          DO $$ BEGIN IF pg_catalog.to_regrole('securitylake_worker') IS NOT NULL THEN
            ALTER ROLE securitylake_worker RESET ALL; END IF; END $$;`, SAFE);
  } catch { /* reported */ }
  try { await setSystem('securitylake.test_fault', null); await setSystem('securitylake.max_backoff', null); } catch { /* reported */ }
  try { psql('DROP SCHEMA IF EXISTS evil CASCADE', SAFE); } catch { /* reported */ }
  dropRole(OWNER);
  dropRole(DRIVER);
  try { await restartWorker(); } catch { /* reported */ }
  duck?.close();
  await gate?.stop();
});

// What is checked after every drive under the plant.
async function assertNothingPlantedRan(statements, what) {
  const calls = query(`SELECT what, by_role, backend_type, count(*) AS n FROM evil.calls GROUP BY 1, 2, 3 ORDER BY 4 DESC`, DRV);
  const spyCalls = one(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM evil.spy_calls`, DRV);
  const logged = serverLog().split('\n').filter((l) => l.includes('securitylake trust test: planted'));
  const ownerIsSuperuser = one(`SELECT rolsuper FROM pg_roles WHERE rolname = '${OWNER}'`, DRV);
  if (spyCalls > 0) console.log(`trust: escalation: ${what}: planted code ran ${spyCalls} times: ${JSON.stringify(calls.slice(0, 10))}`);
  assert.deepEqual({ plantedCalls: spyCalls, ownerIsSuperuser }, { plantedCalls: 0, ownerIsSuperuser: false },
    `${what}: no planted function, operator or type ran (not even in a transaction rolled back), the owner is still not a superuser`);
  assert.deepEqual(calls, [], `${what}: no planted call recorded`);
  assert.deepEqual(logged.slice(0, 5), [], `${what}: the log shows no planted call`);
  // The list covered what ran under the plant: no statement was left out of it.
  const known = new Set(statements.map((s) => s.query));
  const newOnes = query(`SELECT DISTINCT query FROM (${COLLECT}) s`, DRV).map((r) => r.query).filter((q) => !known.has(q));
  assert.deepEqual(newOnes, [], `${what}: every statement run under the plant was in the planted list`);
  // Exactly once, dead letters once.
  const seen = await lakeUids(duck, gate.dataDir, BUCKET);
  const lost = expected.filter((u) => !seen.has(u));
  if (lost.length) console.log(`trust: escalation: ${what}: lost ${lost.length}: ${lost.slice(0, 30).join(' ')}`);
  assert.deepEqual(exactlyOnce(seen, expected), { lost: 0, duplicated: 0, unexpected: 0 }, `${what}: every event in the lake exactly once`);
  const dead = new Map(query(`SELECT event->'metadata'->>'uid' AS uid, count(*) AS n FROM securitylake.dead_letter GROUP BY 1`, DRV)
    .map((r) => [r.uid, r.n]));
  assert.deepEqual(deadLetters.filter((u) => dead.get(u) !== 1), [], `${what}: each refused event dead-lettered once`);
  assert.equal(one('SELECT count(*) FROM securitylake.batch', DRV), 0, `${what}: no batch left`);
}

let recorded = null;   // phase 1's statements, for the second test

test('a database owner plants look-alikes of every function, operator and type the workers\' and flush()\'s statements use, first on the search_path: nothing planted runs, delivery goes on exactly once',
  { skip: skipNoPg, timeout: 1800000 }, async () => {
    assert.equal(one(`SELECT rolsuper FROM pg_roles WHERE rolname = '${OWNER}'`, DRV), false, 'the owner is not a superuser');
    assert.equal(one(`SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = ${lit(DB)}`, DRV), OWNER, 'it owns the database');
    // What owning the database does not give: the extension, its schema and tables, its roles.
    const asOwner = (sql) => psql(sql, { user: OWNER, ...SAFE });
    assert.throws(() => asOwner('DROP EXTENSION securitylake'), /must be owner/, 'the owner cannot drop the extension');
    assert.throws(() => asOwner('ALTER TABLE securitylake.queue ADD COLUMN x int'), /must be owner|permission denied/, '... nor alter its tables');
    assert.throws(() => asOwner('CREATE FUNCTION securitylake.x() RETURNS int LANGUAGE sql RETURN 1'), /permission denied/, '... nor create in its schema');
    assert.throws(() => asOwner('CREATE TRIGGER x AFTER DELETE ON securitylake.queue EXECUTE FUNCTION suppress_redundant_updates_trigger()'),
      /must be owner|permission denied/, '... nor put a trigger on the queue');
    assert.throws(() => asOwner('ALTER ROLE securitylake_worker SUPERUSER'), /must be superuser|permission denied/, '... nor change the workers\' role');
    assert.throws(() => asOwner('GRANT securitylake_admin TO trust_owner'), /must have admin option|permission denied/, '... nor take the admin role');

    // Phase 1: every path, recorded.
    drv('SELECT public.pg_stat_statements_reset()');
    await drive(100);
    const { statements, objects } = analyseStatements();
    recorded = statements;
    // A statement that cannot be prepared alone must be part of a function body analysed whole.
    const failed = statements.filter((s) => s.error && !s.body_of);
    const byKind = (k) => objects.filter((o) => o.kind === k);
    figures = {
      statements: statements.length,
      // The worker's statements are top-level (its own SPI calls); flush()'s are nested.
      byWorker: one(`SELECT count(DISTINCT s.query) FROM (${COLLECT}) c JOIN public.pg_stat_statements s USING (query) WHERE s.toplevel`, DRV),
      functions: byKind('function').length, operators: byKind('operator').length, types: byKind('type').length,
    };
    const names = (k, fmt) => [...new Set(byKind(k).map(fmt))].sort().join(' ');
    console.log(`trust-detail: escalation: functions: ${names('function', (o) => `${o.schema}.${o.name}(${o.args.join(',')})`)}`);
    console.log(`trust-detail: escalation: operators: ${names('operator', (o) => `(${o.left ?? ''} ${o.name} ${o.right})`)}`);
    console.log(`trust-detail: escalation: types: ${names('type', (o) => o.rettype)}`);
    assert.ok(figures.byWorker > 10, `pg_stat_statements saw the worker's statements (${figures.byWorker})`);
    assert.deepEqual(failed.map((s) => `${s.query} -- ${s.error}`), [], 'every statement could be analysed');
    assert.ok(figures.functions > 10 && figures.operators > 3 && figures.types > 3, `references found: ${JSON.stringify(figures)}`);

    // Phase 2: the owner plants, and puts its schemas first on the database's search_path;
    // the superuser does the same for securitylake_worker.
    const planted = plant(objects);
    figures.planted = planted.planted;
    figures.notPlantable = planted.failed.length;
    for (const f of planted.failed) console.log(`trust-detail: escalation: not plantable: ${f.what}: ${f.error}`);
    assert.ok(planted.planted > objects.length, `look-alikes planted: ${planted.planted}`);
    // (search_path is a list: written unquoted, else it would be one schema named "evil, public, ...")
    psql(`ALTER DATABASE ${DB} SET search_path = ${HOSTILE_PATH};`, { user: OWNER, ...SAFE });
    psql(`DO $$ BEGIN IF pg_catalog.to_regrole('securitylake_worker') IS NOT NULL THEN
            ALTER ROLE securitylake_worker SET search_path = evil, public; END IF; END $$;`, SAFE);
    assert.equal(psql('SHOW search_path', { user: DRIVER }).trim(), HOSTILE_PATH, 'a plain session gets the hostile search_path');
    await restartWorker();

    // Phase 3: every path again, under the plant.
    drv('SELECT public.pg_stat_statements_reset()');
    let stalled = null;   // what the plant ran is reported first, then a stalled delivery
    try { await drive(200); } catch (err) { stalled = err; console.log(`trust: escalation: the drive failed: ${err.message}`); }
    await assertNothingPlantedRan(statements, 'look-alikes');
    if (stalled) throw stalled;
    console.log(`trust: escalation: ${figures.statements} statements (${figures.byWorker} run by the worker itself) reference ` +
      `${figures.functions} functions, ${figures.operators} operators, ${figures.types} types; ${figures.planted} look-alikes planted ` +
      `in evil and public (${figures.notPlantable} not plantable), search_path ${HOSTILE_PATH}; planted calls=0; ` +
      `${expected.length} events delivered exactly once, ${deadLetters.length} dead-lettered`);
  });

test('with the plant in place, database settings that would stall or subvert an unpinned worker (read-only, 1 ms timeouts, no index scans, 64kB work_mem): delivery goes on',
  { skip: skipNoPg, timeout: 1800000 }, async () => {
    assert.ok(recorded, 'the first test recorded the statements');
    const sets = Object.entries(PLANTED_SETTINGS).filter(([k]) => k !== 'search_path')
      .map(([k, v]) => `ALTER DATABASE ${DB} SET ${k} = ${lit(v)};`).join('\n');
    psql(sets, { user: OWNER, ...SAFE });
    // The plant is live for any session that does not override it.
    const plain = { user: DRIVER, env: { PGOPTIONS: '-c statement_timeout=0' } };
    assert.equal(psql('SHOW default_transaction_read_only', plain).trim(), 'on', 'a plain session runs read-only');
    assert.equal(psql('SHOW lock_timeout', plain).trim(), '1ms', '... with a 1 ms lock timeout');
    assert.equal(psql('SHOW work_mem', plain).trim(), '64kB', '... and the other planted settings');
    await restartWorker();
    drv('SELECT public.pg_stat_statements_reset()');
    let stalled = null;
    try { await drive(300); } catch (err) { stalled = err; }
    if (stalled) throw stalled;
    await assertNothingPlantedRan(recorded, 'settings');
    console.log(`trust: escalation: database settings ${Object.entries(PLANTED_SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}: ` +
      `${expected.length} events delivered exactly once in all, planted calls=0`);
  });

test('securitylake_worker made a superuser (or BYPASSRLS) by the superuser: the worker refuses to run anything until it is not',
  { skip: skipNoPg, timeout: 300000 }, async () => {
    psql('ALTER ROLE securitylake_worker SUPERUSER', SAFE);
    try {
      await restartWorker();
      const events = authEvents(5, { seed: 400 });
      copyRows(events, { source: 'trust_b' });
      assert.throws(() => flush('trust_b', '6 s'), /timed out/, 'nothing is delivered');
      assert.match(serverLog(), /securitylake_worker is a superuser or bypasses row security; the worker does nothing/, 'the log says why');
      assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'trust_b'`, DRV), events.length, 'the events stay queued');
      psql('ALTER ROLE securitylake_worker NOSUPERUSER BYPASSRLS', SAFE);
      await restartWorker();
      assert.throws(() => flush('trust_b', '6 s'), /timed out/, 'BYPASSRLS is refused too');
      psql('ALTER ROLE securitylake_worker NOBYPASSRLS', SAFE);
      flush('trust_b', '60 s');
      expected.push(...events.map((e) => e.metadata.uid));
      const seen = await lakeUids(duck, gate.dataDir, BUCKET);
      assert.deepEqual(exactlyOnce(seen, expected), { lost: 0, duplicated: 0, unexpected: 0 }, 'delivered once it is an ordinary role again');
    } finally {
      psql('ALTER ROLE securitylake_worker NOSUPERUSER NOBYPASSRLS', SAFE);
    }
  });
