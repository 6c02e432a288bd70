// Load: 8 producer sessions (pgbench, one autocommit INSERT per transaction) with and
// without the worker draining, on a durable server (fsync on, as in production). Prints the producers' rate both ways (goal: >= 90% with
// the worker), the queue depth sampled over time (must stay bounded), errors (none).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, skipNoPg, PG_BIN } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 20);
const BUCKET = 'aws-security-data-lake-us-east-1-loadlake';
const SAMPLE_EVERY = SECONDS > 120 ? 10 : 2;   // seconds between queue-depth samples
const USER = { accessKeyId: 'AKIALOADTESTUSER0001', secretAccessKey: 'loadSecretKeyForTheGate000000000000001' };
let gate;
let tmp;

function pgbench(seconds, script) {
  return new Promise((resolve) => {
    const p = spawn(`${PG_BIN}/pgbench`, ['-n', '-c', '8', '-j', '8', '-T', String(seconds), '-f', script,
      '-h', process.env.PGHOST, '-p', process.env.PGPORT, '-U', 'postgres', process.env.PGDATABASE]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('close', (code) => resolve({ code, out }));
  });
}

function tps(out) {
  return Number(/tps = ([0-9.]+) \(without initial connection time\)/.exec(out)?.[1] ?? 0);
}

before(async () => {
  if (skipNoPg) return;
  tmp = mkdtempSync(join(tmpdir(), 'securitylake-load-'));
  // Durable like a production server for this test (the test cluster runs with fsync off
  // for speed): producers pay for their commits, the worker for its own.
  psql(`ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET full_page_writes = on; SELECT pg_reload_conf();`);
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('load', 's3://${BUCKET}/ext/load/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 20000, publish_rate => '2 seconds',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  try { psql(`ALTER SYSTEM RESET fsync; ALTER SYSTEM RESET full_page_writes; SELECT pg_reload_conf();`); } catch { /* reported */ }
  await gate?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test(`8 producers for ${SECONDS} s with and without the worker draining`, { skip: skipNoPg, timeout: (4 * SECONDS + 120) * 1000 }, async () => {
  const script = join(tmp, 'insert.sql');
  const event = JSON.stringify(authEvents(1, { seed: 5 })[0]).replaceAll("'", "''");
  writeFileSync(script, `INSERT INTO securitylake.queue (event) VALUES ('${event}');\n`);

  psql(`SELECT securitylake.alter_source('load', options => '{"enabled": false}')`);
  const without = await pgbench(SECONDS, script);
  assert.equal(without.code, 0, without.out);
  psql(`DELETE FROM securitylake.queue; VACUUM securitylake.queue;`);

  psql(`SELECT securitylake.alter_source('load', options => '{"enabled": true}')`);
  const depths = [];
  const sizes = [];   // the queue relation's size (heap + indexes + TOAST), MiB: bloat under sustained drain
  const run = pgbench(SECONDS, script);
  const sampler = (async () => {
    for (let t = 0; t < SECONDS; t += SAMPLE_EVERY) {
      await sleep(SAMPLE_EVERY * 1000);
      depths.push(one('SELECT count(*) FROM securitylake.queue'));
      sizes.push(Math.round(one(`SELECT pg_total_relation_size('securitylake.queue')`) / 1048576));
    }
  })();
  const withWorker = await run;
  await sampler;
  assert.equal(withWorker.code, 0, withWorker.out);
  psql(`SELECT count(*) FROM securitylake.flush('load', '120 s')`);

  const rateWithout = tps(without.out);
  const rateWith = tps(withWorker.out);
  const delivered = Number(one(`SELECT coalesce(sum(rows), 0) FROM securitylake.uploads WHERE source = 'load'`));
  const maxDepth = Math.max(...depths);
  console.log(`load: producers ${rateWithout.toFixed(0)} inserts/s without the worker, ${rateWith.toFixed(0)} with it = ${(100 * rateWith / rateWithout).toFixed(0)}% (goal >= 90%)`);
  console.log(`load: queue depth every ${SAMPLE_EVERY} s: ${depths.join(' ')}; queue relation MiB: ${sizes.join(' ')}; delivered ${delivered}; dead letters ${one('SELECT count(*) FROM securitylake.dead_letter')}`);
  assert.ok(!/ERROR|deadlock/i.test(withWorker.out + without.out), 'no producer error, no deadlock');
  assert.equal(one('SELECT count(*) FROM securitylake.dead_letter'), 0);
  assert.ok(rateWith > 0 && delivered >= rateWith * SECONDS * 0.9, 'everything the producers inserted was delivered');
  // Bounded: the worker keeps up, so the queue never holds more than a few seconds of inserts.
  assert.ok(maxDepth < rateWith * 10, `queue depth stays bounded (max ${maxDepth})`);
});
