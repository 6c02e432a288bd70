// Helpers shared by the trust-boundary tests (test/e2e/trust-*.test.mjs, issue 11): the
// worker's process, settings reloaded, login roles, what the lake holds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, PG_BIN } from '../lib/pg.mjs';
import { storedObjects, dlit } from '../lib/duck.mjs';

export const PGDATA = process.env.SECURITYLAKE_PG_DATA;

// The statements of the tests themselves run with this search_path (given by the client,
// so it overrides what ALTER DATABASE / ALTER ROLE plant): only the workers and flush()
// are under test, never the test's own queries.
export const SAFE = { env: { PGOPTIONS: '-c search_path=pg_catalog -c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0' } };

export function asPostgres(args) {
  return spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
}

export function workerPids() {
  return JSON.parse(psql(`SELECT coalesce(json_agg(pid ORDER BY pid), '[]') FROM pg_catalog.pg_stat_activity
                           WHERE backend_type = 'securitylake worker'`, SAFE).trim());
}

export async function waitForServer() {
  for (let i = 0; i < 600; i++) {
    try { psql('SELECT 1', SAFE); return; } catch { await sleep(100); }
  }
  throw new Error('the server did not come back');
}

// The worker's pid once it runs (and is not the one given).
export async function waitForWorker(notPid = 0, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const pids = workerPids().filter((p) => p !== notPid);
      if (pids.length > 0) return pids[0];
    } catch { /* recovering */ }
    await sleep(100);
  }
  throw new Error('no securitylake worker started');
}

// pg_terminate_backend the worker; the postmaster starts it again (bgw_restart_time).
export async function restartWorker() {
  const old = await waitForWorker();
  psql(`SELECT pg_catalog.pg_terminate_backend(${old})`, SAFE);
  return waitForWorker(old, 60000);
}

export function processAlive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// ALTER SYSTEM SET (or RESET with value null) and wait until new sessions see it.
export async function setSystem(name, value) {
  psql(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = ${lit(value)}`, SAFE);
  psql('SELECT pg_catalog.pg_reload_conf()', SAFE);
  const want = value === null ? null : String(value);
  for (let i = 0; i < 100; i++) {
    const now = one(`SELECT pg_catalog.current_setting(${lit(name)}, true)`, SAFE);
    if (want === null || now === want) { await sleep(200); return; }
    await sleep(50);
  }
  assert.fail(`${name} did not become ${value}`);
}

// A LOGIN role (pg_hba trusts local connections): created afresh.
export function loginRole(name, extra = '') {
  psql(`DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${lit(name)}) THEN
            EXECUTE 'DROP OWNED BY ${name} CASCADE'; EXECUTE 'DROP ROLE ${name}';
          END IF; END $$;
        CREATE ROLE ${name} LOGIN ${extra};`, SAFE);
}

export function dropRole(name) {
  try {
    psql(`DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${lit(name)}) THEN
              EXECUTE 'DROP OWNED BY ${name} CASCADE'; EXECUTE 'DROP ROLE ${name}';
            END IF; END $$;`, SAFE);
  } catch { /* reported by the test */ }
}

// metadata.uid -> how many times it is in the bucket's objects (DuckDB reads them).
export async function lakeUids(duck, dataDir, bucket, prefix = '') {
  const objects = storedObjects(dataDir, bucket).filter((o) => o.key.startsWith(prefix));
  if (objects.length === 0) return new Map();
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}]) GROUP BY 1`);
  return new Map(rows.map((r) => [r.uid, Number(r.n)]));
}

// Every expected uid exactly once, nothing else.
export function exactlyOnce(seen, expected) {
  const want = new Set(expected);
  return {
    lost: expected.filter((u) => !seen.has(u)).length,
    duplicated: [...seen.entries()].filter(([u, n]) => want.has(u) && n > 1).length,
    unexpected: [...seen.keys()].filter((u) => !want.has(u)).length,
  };
}

// /proc/<pid>/status field in kB.
export function procStatusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

export const PG_CTL = `${PG_BIN}/pg_ctl`;
