// Helpers for tests that watch the background worker itself: its pid, its private
// memory (RssAnon, sampled from /proc), the server log since a mark, and settings
// changed for a test (ALTER SYSTEM + reload) and put back afterwards.
import { readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, PG_BIN } from './pg.mjs';

export function workerPid() {
  return one(`SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`);
}

export async function waitForWorker() {
  for (let i = 0; i < 300; i++) {
    const pid = workerPid();
    if (pid) return pid;
    await sleep(100);
  }
  throw new Error('securitylake worker did not start');
}

// The worker's private memory in MiB (RssAnon): VmRSS would also count the shared
// buffers it touched, which belong to the whole server.
export function rssAnonMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/RssAnon:\s+(\d+) kB/.exec(status)[1]) / 1024;
  } catch { return NaN; }
}

// Sample a process's RssAnon every intervalMs until stop() is called; stop() returns
// { peak, samples: [{t, mib}] } (t in ms since start).
export function sampleRss(pid, intervalMs = 50) {
  const samples = [];
  const t0 = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      const mib = rssAnonMiB(pid);
      if (!Number.isNaN(mib)) samples.push({ t: Date.now() - t0, mib });
      await sleep(intervalMs);
    }
  })();
  return {
    samples,
    peakSince(t) { return Math.max(0, ...samples.filter((s) => s.t >= t).map((s) => s.mib)); },
    now() { return Date.now() - t0; },
    async stop() {
      running = false;
      await loop;
      return { peak: Math.max(0, ...samples.map((s) => s.mib)), samples };
    },
  };
}

// Run SQL in a psql child process without blocking the event loop (so samplers run);
// resolves to { code, stdout, stderr }.
export function psqlAsync(sql) {
  return new Promise((resolve) => {
    const p = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(sql);
  });
}

// The server log: logMark() now, logSince(mark) the text written after it.
const LOG = process.env.SECURITYLAKE_PG_LOG;
export function logMark() {
  try { return statSync(LOG).size; } catch { return 0; }
}
export function logSince(mark) {
  const size = logMark();
  if (!LOG || size <= mark) return '';
  const fd = openSync(LOG, 'r');
  try {
    const buf = Buffer.alloc(size - mark);
    readSync(fd, buf, 0, buf.length, mark);
    return buf.toString('utf8');
  } finally { closeSync(fd); }
}

// ALTER SYSTEM settings for a test, reloaded; resetSettings() puts them back.
export function setSettings(settings) {
  psql(Object.entries(settings).map(([k, v]) => `ALTER SYSTEM SET ${k} = ${lit(String(v))};`).join('\n') + '\nSELECT pg_reload_conf();');
}
export function resetSettings(names) {
  psql(names.map((k) => `ALTER SYSTEM RESET ${k};`).join('\n') + '\nSELECT pg_reload_conf();');
}

// Wait until fn() is truthy (polled every intervalMs), or throw after timeoutMs.
export async function waitFor(fn, { timeoutMs = 60000, intervalMs = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// Run SQL and return { code, stdout, stderr } instead of throwing (NOTICEs and errors
// are on stderr).
export function psqlResult(sql, { env = {} } = {}) {
  const r = spawnSync(`${PG_BIN}/psql`, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'], {
    input: sql, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
