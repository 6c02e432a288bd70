// Helpers for node tests that talk to the throwaway PostgreSQL cluster started by
// test/run (PGHOST/PGPORT/PGUSER/PGDATABASE in the environment). psql is the client:
// no extra npm dependency, and it is what users type.
import { execFileSync, spawnSync } from 'node:child_process';

export const havePg = Boolean(process.env.PGHOST && process.env.PGPORT);
export const skipNoPg = havePg ? false : 'needs the cluster started by test/run (PGHOST/PGPORT)';

// PG_BIN: test/run exports it (a private PostgreSQL copy when PG_CONFIG points at one).
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PSQL = `${PG_BIN}/psql`;

// Run SQL; returns stdout (unaligned, tuples only). Throws with psql's stderr on error.
export function psql(sql, { db = process.env.PGDATABASE, user = process.env.PGUSER, env = {} } = {}) {
  const r = spawnSync(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-U', user], {
    input: sql, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 30,
  });
  if (r.status !== 0) {
    const err = new Error(`psql failed: ${r.stderr.trim()}`);
    err.stderr = r.stderr;
    throw err;
  }
  return r.stdout;
}

// Rows of a query as objects (via json_agg, so types survive).
export function query(sql, opts) {
  const out = psql(`SELECT coalesce(json_agg(t), '[]') FROM (${sql}) t;`, opts).trim();
  return JSON.parse(out);
}

export function one(sql, opts) {
  const rows = query(sql, opts);
  if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}: ${sql}`);
  const row = rows[0];
  const keys = Object.keys(row);
  return keys.length === 1 ? row[keys[0]] : row;
}

// SQL literal for a JS string.
export function lit(s) {
  if (s === null || s === undefined) return 'NULL';
  return `'${String(s).replaceAll("'", "''")}'`;
}

// Load NDJSON events into the queue with COPY (fast, exact).
// pg: psql options (e.g. { env: { PGPORT } } for another cluster).
export function copyEvents(events, { source = null, region = null, accountId = null, pg } = {}) {
  const esc = (v) => (v === null || v === undefined ? '\\N' : String(v).replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r'));
  const lines = events.map((e) => [source, typeof e === 'string' ? e : JSON.stringify(e), region, accountId].map(esc).join('\t'));
  psql(`COPY securitylake.queue (source, event, region, account_id) FROM STDIN;\n${lines.join('\n')}\n\\.\n`, pg);
}

export function serverLog() {
  const path = process.env.SECURITYLAKE_PG_LOG;
  return path ? execFileSync('cat', [path], { encoding: 'utf8', maxBuffer: 1 << 30 }) : '';
}

const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

// Wait until the server accepts queries again (after a crash and its recovery).
export async function waitForServer(opts, tries = 600) {
  for (let i = 0; i < tries; i++) {
    try { psql('SELECT 1', opts); return; } catch { await sleepMs(100); }
  }
  throw new Error('server did not come back');
}

// The pid of the securitylake background worker (0 when none is connected).
export function workerPid(opts) {
  return one(`SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`, opts);
}

// Wait for a securitylake worker other than notPid to be connected; returns its pid.
export async function waitForWorker(opts, notPid = 0, tries = 600) {
  for (let i = 0; i < tries; i++) {
    try {
      const pid = workerPid(opts);
      if (pid && pid !== notPid) return pid;
    } catch { /* recovering */ }
    await sleepMs(100);
  }
  throw new Error('securitylake worker did not start');
}
