// Shared helpers for the adversarial repros.
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit } from '../../lib/pg.mjs';
import { admin } from '../../lib/gate.mjs';

export const USER = { accessKeyId: 'AKIAATTACKTESTUSER01', secretAccessKey: 'attackSecretKeyForTheGate0000000000001' };

export function setFault(fault) {
  psql(`ALTER SYSTEM SET securitylake.test_fault = ${lit(fault)}; SELECT pg_reload_conf();`);
}

export function workerPids() {
  return psql(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'securitylake worker' ORDER BY pid`).trim().split('\n').filter(Boolean).map(Number);
}

export async function waitForWorker(notPid = 0) {
  for (let i = 0; i < 600; i++) {
    try {
      const p = workerPids().filter((x) => x !== notPid);
      if (p.length) return p[0];
    } catch { /* recovering */ }
    await sleep(100);
  }
  throw new Error('no securitylake worker');
}

export async function restartWorker() {
  const old = workerPids();
  psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`);
  for (let i = 0; i < 600; i++) {
    const p = workerPids().filter((x) => !old.includes(x));
    if (p.length) return p[0];
    await sleep(100);
  }
  throw new Error('worker did not come back');
}

export async function waitStalled(gate, n = 1, ms = 60000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const held = await admin(gate, 'stall');
    if (held.length >= n) return held;
    await sleep(200);
  }
  throw new Error('nothing stalled');
}

export function setupExtension(gate, sql) {
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        ${sql}`);
}

export function flushOutcome(source, timeout) {
  const t0 = Date.now();
  try {
    psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, ${lit(timeout)})`);
    return { ok: true, secs: (Date.now() - t0) / 1000 };
  } catch (e) {
    return { ok: false, secs: (Date.now() - t0) / 1000, error: e.message.split('\n')[0] };
  }
}
export { sleep, one, psql, lit };
