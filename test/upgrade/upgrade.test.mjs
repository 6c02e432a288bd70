// The upgrade test (issue 17, house style habit 1): every released version upgrades, with
// its data, into exactly what a fresh install of the next version creates, and the worker
// delivers afterwards what was queued before.
//
//  1. The chain: the frozen install scripts of released versions (sql/securitylake--X.sql,
//     unchanged since release: frozen.sha256) and the current one, oldest first, each with a
//     direct upgrade script to the next (sql/securitylake--A--B.sql), as PostgreSQL sees them.
//  2. CREATE EXTENSION securitylake VERSION '<oldest>' under this library: the worker says
//     once that it is idle (version check) and does not crash-loop.
//  3. Filled with the oldest version's own API and tables: sources (create_source as it was
//     then), queued events, a pending batch (as a crash leaves it), dead letters, the upload
//     log, delivery state, credentials.
//  4. ALTER EXTENSION securitylake UPDATE TO each next version in turn: every row is still
//     there with the values it had, and the database equals a fresh install of that version
//     (compare.mjs: pg_dump -s, pg_dump -s --binary-upgrade, member objects and privileges,
//     roles). A difference fails with a unified diff; the files are kept under
//     build/test-logs/upgrade/.
//  5. At the newest version the worker resumes (one LOG line) and delivers every queued
//     event, the pending batch to the key it was claimed with, to the S3 gate.
//
// The next release only adds files (its frozen script, its upgrade script): the test finds
// them. Run alone: test/one test/upgrade/upgrade.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { AUTH_SCHEMA, authEvents, BASE_TIME } from '../e2e/fixtures.mjs';
import { ROOT, startCluster } from './cluster.mjs';
import { pgDump, normaliseDump, membersReport, rolesReport, diffFiles } from './compare.mjs';

const EXT = 'securitylake';
const DB = 'sl_upgrade'; // the upgraded database, served by the cluster's worker
const BUCKET = 'aws-security-data-lake-us-east-1-upgradelake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-upgrade-us-east-1';
const EXTERNAL_ID = 'upgrade-external-id-17';
const USER = { accessKeyId: 'AKIAUPGRADETESTUSER1', secretAccessKey: 'upgradeSecretKey/For+The+Gate00000000001' };
const LOGS = join(process.env.TEST_LOGS ?? join(ROOT, 'build', 'test-logs'), 'upgrade');
const DAY = 86400000;

let cluster;
let gate;
const state = { chain: [], events: [], pending: null, idlePid: null };

const sql = (text, db = DB) => psql(text, { db, user: 'postgres', env: cluster.env });
const rows = (text, db = DB) => query(text, { db, user: 'postgres', env: cluster.env });
const value = (text, db = DB) => one(text, { db, user: 'postgres', env: cluster.env });

// ---------------------------------------------------------------------------------------
// Versions

function semverCmp(a, b) {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return 0;
}

const defaultVersion = () => /^default_version\s*=\s*'([^']+)'/m.exec(readFileSync(join(ROOT, `${EXT}.control`), 'utf8'))[1];
const sqlFiles = () => readdirSync(join(ROOT, 'sql')).filter((f) => f.startsWith(`${EXT}--`) && f.endsWith('.sql'));
const frozenVersions = () => sqlFiles().filter((f) => !f.slice(EXT.length + 2).includes('--'))
  .map((f) => f.slice(EXT.length + 2, -4));

// ---------------------------------------------------------------------------------------
// Data: every row of the extension's tables and the sequences' positions.

function tablesOf(db = DB) {
  return rows(`SELECT c.oid::regclass::text AS name FROM pg_class c
                WHERE c.relnamespace = '${EXT}'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1`, db).map((r) => r.name);
}

// One JSON line per table (jsonb_agg: no newlines), then the sequences. PREAMBLE runs first
// in the same session (the update, in the same transaction: the worker sees neither the new
// version nor the rows change before the rows are read).
function snapshot(tables, { preamble = '', postamble = '' } = {}) {
  const out = sql(`${preamble}
SELECT format('SELECT jsonb_build_object(%L, coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), ''[]''))::text FROM %s t', name, name)
  FROM unnest(ARRAY[${tables.map(lit).join(', ')}]::text[]) name
 WHERE to_regclass(name) IS NOT NULL \\gexec
SELECT jsonb_build_object('sequences', coalesce(jsonb_object_agg(schemaname || '.' || sequencename, last_value), '{}'))::text
  FROM pg_sequences WHERE schemaname = '${EXT}';
${postamble}`);
  return Object.assign({}, ...out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

// Every row of BEFORE is in AFTER with the same values, compared on the columns both have
// (a column an upgrade adds has no old value; one it drops is the schema comparison's
// business: a fresh install must lack it too).
function assertRowsSurvived(before, after, tables, step) {
  for (const t of tables) {
    assert.ok(after[t], `table ${t} is gone after ${step}: its ${before[t].length} rows were lost (move them in the upgrade script, and say here where they went)`);
    const had = new Set(before[t].length ? Object.keys(before[t][0]) : []);
    const cols = new Set(after[t].length ? Object.keys(after[t][0]).filter((k) => had.has(k)) : had);
    const project = (r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => cols.has(k))));
    assert.deepEqual(after[t].map(project).sort(), before[t].map(project).sort(), `rows of ${t} changed by ${step}`);
  }
  assert.deepEqual(after.sequences, before.sequences, `sequence positions changed by ${step}`);
}

// ---------------------------------------------------------------------------------------
// The worker's log lines

const idleLines = (log) => [...log.matchAll(/\[(\d+)\] LOG:\s+securitylake worker is idle: (.*)/g)].map((m) => ({ pid: Number(m[1]), text: m[2] }));
const resumeLines = (log) => [...log.matchAll(/\[(\d+)\] LOG:\s+securitylake worker resumes: (.*)/g)].map((m) => ({ pid: Number(m[1]), text: m[2] }));

async function waitFor(what, fn, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const workerPids = () => rows(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`, 'postgres').map((r) => r.pid);

// ---------------------------------------------------------------------------------------

before(async () => {
  if (skipNoPg) return;
  mkdirSync(LOGS, { recursive: true });
  cluster = await startCluster(DB);
  gate = await startGate({
    users: [USER], buckets: [BUCKET],
    roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }],
  });
});

after(async () => {
  await gate?.stop();
  cluster?.stop();
});

test('the chain of versions: frozen scripts unchanged, a direct upgrade script between each release and the next', { skip: skipNoPg }, () => {
  const current = defaultVersion();
  const frozen = frozenVersions();
  assert.ok(!frozen.includes(current), `sql/${EXT}--${current}.sql is frozen, but ${current} is still default_version`);
  state.chain = [...frozen, current].sort(semverCmp);
  assert.equal(state.chain.at(-1), current, `default_version ${current} is older than a frozen release`);
  assert.ok(state.chain.length >= 2, 'there is no released version to upgrade from');

  // A released script never changes: databases out there were created by it.
  const listed = new Map(readFileSync(join(ROOT, 'test/upgrade/frozen.sha256'), 'utf8').trim().split('\n')
    .map((l) => l.split(/\s+/)).map(([h, f]) => [f, h]));
  for (const v of frozen) {
    const f = `sql/${EXT}--${v}.sql`;
    const hash = createHash('sha256').update(readFileSync(join(ROOT, f))).digest('hex');
    assert.ok(listed.has(f), `${f} has no hash in test/upgrade/frozen.sha256 (tools/freeze-version writes it)`);
    assert.equal(hash, listed.get(f), `${f} was edited after its release: restore it (git checkout) and change the next upgrade script instead`);
  }

  // Each release has a direct upgrade script to the next, shipped and seen by PostgreSQL.
  const available = rows(`SELECT version FROM pg_available_extension_versions WHERE name = '${EXT}'`).map((r) => r.version);
  for (const v of state.chain) assert.ok(available.includes(v), `version ${v} is not installed (make install)`);
  for (let i = 1; i < state.chain.length; i++) {
    const [a, b] = [state.chain[i - 1], state.chain[i]];
    assert.ok(sqlFiles().includes(`${EXT}--${a}--${b}.sql`), `no upgrade script sql/${EXT}--${a}--${b}.sql`);
    const path = value(`SELECT path FROM pg_extension_update_paths('${EXT}') WHERE source = ${lit(a)} AND target = ${lit(b)}`);
    assert.equal(path, `${a}--${b}`, `PostgreSQL does not upgrade ${a} to ${b} directly (path: ${path})`);
  }
});

test('the oldest version, filled with its own API; the worker idles with one LOG line and no crash loop', { skip: skipNoPg }, async () => {
  const oldest = state.chain[0];
  sql(`CREATE EXTENSION ${EXT} VERSION ${lit(oldest)}`);
  assert.equal(value(`SELECT extversion FROM pg_extension WHERE extname = '${EXT}'`), oldest);

  // Sources and credentials as the oldest version configures them (0.1.0's create_source:
  // name, location, role_arn, external_id, class_uid, region, account_id, then named options).
  const options = JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true });
  const cappedOptions = JSON.stringify({ ...JSON.parse(options), max_queued_rows: 1000000 });
  sql(`SELECT ${EXT}.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
       SELECT ${EXT}.create_source('up_auth', 's3://${BUCKET}/ext/up_auth/1.0/', ${lit(ROLE)}, ${lit(EXTERNAL_ID)}, 3002,
              'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
              publish_rate => '1 hour', options => ${lit(options)}::jsonb);
       -- A cap (max_queued_rows, an option in 0.1.0) makes the extension create its backpressure
       -- trigger on the queue: the update must cope with objects made at run time.
       SELECT ${EXT}.create_source('up_session', 's3://${BUCKET}/ext/up_session/1.0/', ${lit(ROLE)}, ${lit(EXTERNAL_ID)}, 3003,
              'eu-west-1', '210987654321', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
              publish_rate => '1 hour', options => ${lit(cappedOptions)}::jsonb);`);
  assert.equal(value(`SELECT count(*) FROM pg_trigger WHERE tgrelid = '${EXT}.queue'::regclass AND tgname = 'securitylake_backpressure'`), 1);

  // Queued events: routed by class (source NULL) and by name, two days.
  const auth = authEvents(120, { days: 2, seed: 17 });
  const session = authEvents(40, { days: 1, seed: 18 }).map((e) => ({ ...e, class_uid: 3003 }));
  const esc = (v) => (v === null ? '\\N' : String(v).replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n'));
  const copy = [...auth.map((e) => [null, e]), ...session.map((e) => ['up_session', e])]
    .map(([src, e]) => [src, JSON.stringify(e)].map(esc).join('\t')).join('\n');
  sql(`COPY ${EXT}.queue (source, event) FROM STDIN;\n${copy}\n\\.\n`);
  state.events = [...auth, ...session];

  // A pending batch, as a worker leaves one when it crashes between claim and commit: the
  // first 30 auth events of 2026-11-20, recorded with the key they must reach the lake under.
  const day1End = BASE_TIME + DAY;
  state.pending = {
    key: 'ext/up_auth/1.0/region=us-east-1/accountId=123456789012/eventDay=20261120/0000000000000000-0-1-00000000000000aa.parquet',
    ids: rows(`SELECT id FROM ${EXT}.queue WHERE source IS NULL AND (event->>'time')::bigint < ${day1End} ORDER BY id LIMIT 30`).map((r) => r.id),
  };
  assert.equal(state.pending.ids.length, 30);
  sql(`INSERT INTO ${EXT}.batch (source, region, account_id, event_day, object_key, ids, attempts)
       VALUES ('up_auth', 'us-east-1', '123456789012', '2026-11-20', ${lit(state.pending.key)}, '{${state.pending.ids.join(',')}}', 1);
       -- Dead letters, an earlier delivery, delivery state.
       INSERT INTO ${EXT}.dead_letter (source, event, reason, enqueued_at) VALUES
         ('up_auth', '{"class_uid": 3002}', 'missing required attribute time', now() - interval '1 day'),
         (NULL, '{"class_uid": 9999, "time": 1}', 'no source for class_uid 9999', now() - interval '2 hours');
       INSERT INTO ${EXT}.uploads (source, object_key, region, account_id, event_day, rows, bytes, attempts) VALUES
         ('up_auth', 'ext/up_auth/1.0/region=us-east-1/accountId=123456789012/eventDay=20261119/earlier.parquet',
          'us-east-1', '123456789012', '2026-11-19', 500, 40960, 1);
       UPDATE ${EXT}.source_state SET last_upload_at = now() - interval '1 hour' WHERE source = 'up_auth';`);

  // The worker (which started once the database existed) idles: one line, and it stays up.
  const [idle] = await waitFor('the worker\'s idle line', () => idleLines(cluster.log()).length && idleLines(cluster.log()), 30000);
  assert.match(idle.text, new RegExp(`is version ${oldest.replaceAll('.', '\\.')} but its library is version ${defaultVersion().replaceAll('.', '\\.')}`));
  await new Promise((r) => setTimeout(r, 3500)); // three and a half naptimes (1 s)
  const log = cluster.log();
  assert.equal(idleLines(log).length, 1, 'the idle line is logged once, not per cycle');
  assert.deepEqual(workerPids(), [idle.pid], 'the worker that logged it is still the one running');
  assert.doesNotMatch(log.slice(log.indexOf('securitylake worker is idle')), /background worker "securitylake worker" \(PID \d+\) exited/,
    'the worker does not exit (no crash loop)');
  assert.equal(value(`SELECT count(*) FROM ${EXT}.queue`), state.events.length, 'an idle worker delivers nothing');
  state.idlePid = idle.pid;
});

test('ALTER EXTENSION UPDATE through every version: the rows survive, the database equals a fresh install', { skip: skipNoPg }, () => {
  const tables = tablesOf();
  let before = snapshot(tables);
  for (let i = 1; i < state.chain.length; i++) {
    const [from, to] = [state.chain[i - 1], state.chain[i]];
    const step = `ALTER EXTENSION ${EXT} UPDATE TO '${to}' (from ${from})`;
    // The update and the read in one transaction: the worker resumes only at its commit.
    const after = snapshot(tables, { preamble: `BEGIN;\nALTER EXTENSION ${EXT} UPDATE TO ${lit(to)};`, postamble: 'COMMIT;' });
    assert.equal(value(`SELECT extversion FROM pg_extension WHERE extname = '${EXT}'`), to);
    assertRowsSurvived(before, after, tables, step);
    before = after;
    compareWithFreshInstall(from, to);
  }
});

// The upgraded database (DB, now at TO) against a fresh CREATE EXTENSION ... VERSION TO.
function compareWithFreshInstall(from, to) {
  // The backpressure trigger is made at run time by a source's max_queued_rows, which a
  // fresh install has no source for: drop it the way users do, with the cap.
  sql(`UPDATE ${EXT}.source SET max_queued_rows = NULL WHERE max_queued_rows IS NOT NULL`);
  const rolesUpgraded = rolesReport({ env: cluster.env });
  const fresh = `sl_fresh_${to.replace(/\W/g, '_')}`;
  sql(`CREATE DATABASE ${fresh}`, 'postgres');
  sql(`CREATE EXTENSION ${EXT} VERSION ${lit(to)}`, fresh);

  const dir = LOGS;
  const labels = (what) => ({ freshLabel: `${what}: fresh install of ${to} (CREATE EXTENSION ${EXT} VERSION '${to}')`,
    upgradedLabel: `${what}: ${from} after ALTER EXTENSION ${EXT} UPDATE TO '${to}'` });
  const parts = [
    ['pg_dump --schema-only', `${to}.dump`, (db) => normaliseDump(pgDump(db, { env: cluster.env }))],
    ['pg_dump --schema-only --binary-upgrade (every member object)', `${to}.binary-upgrade-dump`,
      (db) => normaliseDump(pgDump(db, { env: cluster.env, binaryUpgrade: true }))],
    ['member objects and privileges (catalogs)', `${to}.members`, (db) => membersReport(db, { env: cluster.env })],
  ];
  const diffs = [];
  for (const [what, name, get] of parts) {
    const d = diffFiles(get(fresh), get(DB), { dir, name, ...labels(what) });
    if (d) diffs.push(d);
  }
  const rolesFresh = rolesReport({ env: cluster.env });
  const r = diffFiles(rolesFresh, rolesUpgraded, { dir, name: `${to}.roles`, ...labels('roles (cluster-wide)') });
  if (r) diffs.push(r);
  if (diffs.length) {
    const text = diffs.join('\n');
    const shown = text.split('\n').slice(0, 300).join('\n');
    assert.fail(`sql/${EXT}--${from}--${to}.sql does not turn a ${from} database into what a fresh ${to} install creates.\n`
      + `Lines "-" are only in the fresh install (add them to the upgrade script), "+" only in the upgraded database.\n`
      + `Full files: ${dir}/${to}.*.fresh and ${to}.*.upgraded\n\n${shown}`
      + (shown.length < text.length ? `\n... (${text.split('\n').length - 300} more lines)` : ''));
  }
}

test('after the update the worker resumes and delivers every queued event and the pending batch', { skip: skipNoPg }, async () => {
  const current = defaultVersion();
  const [resumed] = await waitFor('the worker\'s resume line', () => resumeLines(cluster.log()).length && resumeLines(cluster.log()), 15000);
  assert.match(resumed.text, new RegExp(`is version ${current.replaceAll('.', '\\.')}`));
  assert.equal(resumed.pid, state.idlePid, 'the same worker resumes: it never restarted');
  assert.equal(idleLines(cluster.log()).length, 1, 'idle was logged once in all');

  // The worker re-delivers the pending batch at once (every cycle starts with them); the
  // rest waits for publish_rate (1 hour) or flush().
  rows(`SELECT * FROM ${EXT}.flush(NULL, '30 s')`);
  assert.equal(value(`SELECT count(*) FROM ${EXT}.queue`), 0, 'the queue is drained');
  assert.equal(value(`SELECT count(*) FROM ${EXT}.batch`), 0, 'no batch is left pending');
  const pendingUpload = rows(`SELECT rows FROM ${EXT}.uploads WHERE object_key = ${lit(state.pending.key)}`);
  assert.deepEqual(pendingUpload.map((r) => Number(r.rows)), [state.pending.ids.length], 'the pending batch went to its recorded key with its rows');
  assert.equal(Number(value(`SELECT sum(rows) FROM ${EXT}.uploads WHERE object_key NOT LIKE '%/earlier.parquet'`)),
    state.events.length, 'every queued event is in an uploaded object');
  assert.equal(value(`SELECT count(*) FROM ${EXT}.dead_letter`), 2, 'no event was dead-lettered; the old dead letters are kept');
  assert.equal(value(`SELECT count(*) FROM ${EXT}.uploads WHERE object_key LIKE '%/earlier.parquet'`), 1, 'the earlier upload log is kept');

  // In the lake: every event exactly once, the pending batch's under its key.
  const objects = storedObjects(gate.dataDir, BUCKET);
  assert.ok(objects.some((o) => o.key === state.pending.key), `the pending batch's object ${state.pending.key} is in the bucket`);
  const duck = await openDuck();
  try {
    const uids = [];
    for (const o of objects) {
      for (const r of await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet(${dlit(o.path)})`)) uids.push(r.uid);
    }
    assert.deepEqual(uids.sort(), state.events.map((e) => e.metadata.uid).sort(), 'every queued event is in the lake exactly once');
  } finally {
    duck.close();
  }
});
