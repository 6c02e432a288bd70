// Regression test from the attack review of the 0.2.0 glue (it reproduced the bug described below, now fixed).
// K: flush() and the sweep scale with the number of DISTINCT routing keys in the queue,
// which any writer chooses (queue.source is free text). _queued_keys() is a SQL function
// with SET search_path (never inlined): _flush_pending() materialises every key of the
// queue on every poll even for flush('one source'); the sweep moves at most 1000 keys per
// pass, so flush() without a name waits for the writer's junk to be swept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { query, copyEvents, skipNoPg } from '../../lib/pg.mjs';
import { startGate } from '../../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from '../fixtures.mjs';
import { USER, setupExtension, flushOutcome, sleep, one, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-keyslake';
const KEYS = Number(process.env.ATTACK_KEYS ?? 100000);
let gate;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  setupExtension(gate, `SELECT securitylake.create_source('legit', 's3://${BUCKET}/ext/legit/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);
    DROP ROLE IF EXISTS attack_writer; CREATE ROLE attack_writer; GRANT securitylake_writer TO attack_writer;`);
});
after(async () => { if (skipNoPg) return; await gate?.stop(); });

test('a writer\'s made-up source names cost flush() of another source nothing, and are swept', { skip: skipNoPg, timeout: 900000 }, async () => {
  copyEvents(authEvents(5, { seed: 61 }));
  const base = flushOutcome('legit', '60 s');
  // The writer: one tiny row per made-up source name, as securitylake_writer.
  psql(`SET ROLE attack_writer; INSERT INTO securitylake.queue (source, event)
        SELECT 'junk' || g, '{"class_uid": 3002}' FROM generate_series(1, ${KEYS}) g;`);
  copyEvents(authEvents(5, { seed: 62 }));
  const t0 = Date.now();
  const pending = psql(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT securitylake._flush_pending('legit', 9223372036854775807)`);
  // The query's own time (EXPLAIN ANALYZE), not psql's start-up on a loaded machine.
  const probe = Number(/Execution Time: ([0-9.]+) ms/.exec(pending)?.[1] ?? (Date.now() - t0)) / 1000;
  const named = flushOutcome('legit', '120 s');
  copyEvents(authEvents(5, { seed: 63 }));
  const all = flushOutcome(null, '60 s');
  const left = one(`SELECT count(*) FROM securitylake.queue WHERE source LIKE 'junk%'`);
  console.log(`# flush('legit') before the junk: ${JSON.stringify(base)}`);
  console.log(`# one _flush_pending('legit') probe with ${KEYS} junk keys: ${probe} s`);
  console.log(`# flush('legit') with the junk queued: ${JSON.stringify(named)}`);
  console.log(`# flush() (all) 60 s: ${JSON.stringify(all)}; junk rows still queued: ${left}`);
  assert.ok(probe < 0.5 && named.ok && named.secs < 5 && all.ok, 'flush must not depend on what other keys a writer queued');
});
