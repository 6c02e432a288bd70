// Issue 11, finding 2: any role that can connect could stall delivery. 0.1.0 serialised
// claims with pg_advisory_xact_lock(8466, hashtext(<source>)) and held each batch with
// pg_advisory_lock(8467, <batch id>): keys anyone can take, and pg_locks shows them.
//
// Here a role with no grant at all (only what PUBLIC has: CONNECT, TEMP, pg_locks) takes
// the old well-known keys of both sources and of the first batch ids, then polls pg_locks
// and takes every lock it sees the workers hold — advisory keys in both forms (one bigint,
// two integers), LOCK TABLE on every relation (refused: it has no grant) — and keeps
// what it got. Delivery of both sources goes on: flush() of each returns within its
// timeout and the lake holds every event exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, skipNoPg, PG_BIN } from '../lib/pg.mjs';
import { openDuck } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, loginRole, dropRole, lakeUids, exactlyOnce, waitForWorker } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-lockslake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-locks-us-east-1';
const EXTERNAL_ID = 'locks-external-id';
const USER = { accessKeyId: 'AKIALOCKSTESTUSER001', secretAccessKey: 'locksSecretKeyForTheGate000000000000001' };
const NOBODY = 'trust_nobody';
const SOURCES = ['lk_a', 'lk_b'];
const ATTACK_SECONDS = 240;
let gate;
let duck;
let attacker;

// The attacker's session: one DO block that holds what it takes until it is terminated.
const ATTACK = `
CREATE TEMP TABLE seen (pid int, locktype text, mode text, key text, taken bool, error text);
DO $attack$
DECLARE
    l record;
    k1 int;
    k2 int;
    got bool;
    err text;
    deadline timestamptz := clock_timestamp() + interval '${ATTACK_SECONDS} s';
BEGIN
    -- 0.1.0's well-known keys: a claim lock per source, a lock per batch id.
    ${SOURCES.map((s) => `PERFORM pg_advisory_lock(8466, hashtext(${lit(s)}));`).join('\n    ')}
    FOR i IN 1..2000 LOOP
        PERFORM pg_try_advisory_lock(8467, i);
    END LOOP;
    RAISE NOTICE 'attacker ready';
    -- Then whatever the workers are seen holding.
    LOOP
        -- Every lock another backend holds (which backend is a worker, PUBLIC cannot see).
        FOR l IN SELECT k.pid, k.locktype, k.mode, k.classid, k.objid, k.objsubid, k.relation
                   FROM pg_locks k
                  WHERE k.granted AND k.pid <> pg_backend_pid()
                    AND (k.locktype = 'advisory' OR (k.locktype = 'relation' AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())))
        LOOP
            got := false;
            err := NULL;
            BEGIN
                IF l.locktype = 'advisory' AND l.objsubid = 1 THEN
                    got := pg_try_advisory_lock((l.classid::bigint << 32) | l.objid::bigint);
                ELSIF l.locktype = 'advisory' THEN
                    k1 := (l.classid::bigint - CASE WHEN l.classid::bigint >= 2147483648 THEN 4294967296 ELSE 0 END)::int;
                    k2 := (l.objid::bigint - CASE WHEN l.objid::bigint >= 2147483648 THEN 4294967296 ELSE 0 END)::int;
                    got := pg_try_advisory_lock(k1, k2);
                ELSE
                    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', l.relation::regclass);
                    got := true;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                err := SQLERRM;
            END;
            INSERT INTO seen VALUES (l.pid, l.locktype, l.mode,
                CASE WHEN l.locktype = 'advisory' THEN concat_ws(':', l.classid, l.objid, l.objsubid) ELSE l.relation::regclass::text END,
                got, err);
        END LOOP;
        -- The test says stop by creating a role (pg_roles is all it can read).
        EXIT WHEN clock_timestamp() > deadline OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trust_stop');
        PERFORM pg_sleep(0.005);
    END LOOP;
END
$attack$;
SELECT coalesce(json_agg(s), '[]') FROM (
    SELECT pid, locktype, count(*) AS seen, count(*) FILTER (WHERE taken) AS taken,
           json_agg(DISTINCT key) AS keys, json_agg(DISTINCT error) FILTER (WHERE error IS NOT NULL) AS errors
      FROM seen GROUP BY 1, 2) s;
`;

function startAttacker() {
  const child = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-A', '-t', '-d', process.env.PGDATABASE, '-U', NOBODY],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  const a = { child, out: '', err: '', done: null };
  child.stdout.on('data', (d) => { a.out += d; });
  child.stderr.on('data', (d) => { a.err += d; });
  a.done = new Promise((resolve) => child.on('close', resolve));
  child.stdin.end(ATTACK);
  return a;
}

function attackerPid() {
  return one(`SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE usename = '${NOBODY}'`, SAFE);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`, SAFE);
  for (const [i, name] of SOURCES.entries()) {
    psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', ${i === 0 ? lit(ROLE) : 'NULL'},
          ${i === 0 ? lit(EXTERNAL_ID) : 'NULL'}, 3002, 'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
          batch_record_count => 200, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true }))}::jsonb)`, SAFE);
  }
  loginRole(NOBODY);
});

after(async () => {
  if (skipNoPg) return;
  try { psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${NOBODY}'`, SAFE); } catch { /* reported */ }
  if (attacker) await attacker.done;
  dropRole(NOBODY);
  dropRole('trust_stop');
  duck?.close();
  await gate?.stop();
});

test('a role with no grants takes every lock it can see the workers hold (and 0.1.0\'s well-known keys) and keeps them: both sources still deliver',
  { skip: skipNoPg, timeout: 600000 }, async () => {
    assert.equal(one(`SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = '${NOBODY}'`, SAFE), 0, 'the attacker holds no grant');
    assert.equal(one(`SELECT has_schema_privilege('${NOBODY}', 'securitylake', 'USAGE')`, SAFE), false, '... not even schema usage');
    const worker = await waitForWorker();
    attacker = startAttacker();
    // Wait until it holds 0.1.0's claim keys of both sources.
    for (let i = 0; i < 300; i++) {
      if (one(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
               WHERE a.usename = '${NOBODY}' AND l.locktype = 'advisory' AND l.classid = 8466 AND l.granted`, SAFE) === SOURCES.length) break;
      assert.ok(attacker.child.exitCode === null, `the attacker runs: ${attacker.err}`);
      await sleep(100);
    }
    const held = one(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.usename = '${NOBODY}' AND l.locktype = 'advisory' AND l.granted`, SAFE);
    assert.ok(held >= SOURCES.length + 2000, `the attacker holds the well-known keys (${held} advisory locks)`);

    const expected = [];
    const timings = [];
    for (const [i, source] of SOURCES.entries()) {
      // Enough for several claims (batch_record_count 200) and batches.
      const events = authEvents(1000, { seed: 500 + i, days: 3 });
      expected.push(...events.map((e) => e.metadata.uid));
      psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${events.map((e) => `${source}\t${JSON.stringify(e).replaceAll('\\', '\\\\')}`).join('\n')}\n\\.\n`, SAFE);
    }
    for (const source of SOURCES) {
      const t0 = Date.now();
      psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, '60 s')`, SAFE);
      timings.push(`${source} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    assert.equal(one('SELECT count(*) FROM securitylake.queue', SAFE), 0, 'both sources drained');
    const pid = attackerPid();
    assert.ok(pid > 0, 'the attacker was connected throughout');
    const still = one(`SELECT count(*) FROM pg_locks WHERE pid = ${pid} AND locktype = 'advisory' AND granted`, SAFE);
    psql('CREATE ROLE trust_stop NOLOGIN', SAFE);
    await attacker.done;
    assert.ok(attacker.out.trim().startsWith('['), `the attacker reported: ${attacker.out} ${attacker.err}`);
    const summary = JSON.parse(attacker.out);
    const seen = await lakeUids(duck, gate.dataDir, BUCKET);
    assert.deepEqual(exactlyOnce(seen, expected), { lost: 0, duplicated: 0, unexpected: 0 });
    const ofWorker = summary.filter((r) => r.pid === worker);
    assert.ok(ofWorker.length > 0, `the attacker saw locks the worker held: ${JSON.stringify(summary)}`);
    const fmt = (r) => `${r.locktype} x${r.seen}, ${r.taken} taken${r.errors ? ` (refused: ${r.errors.join('; ')})` : ''}`;
    console.log(`trust: locks: a role with no grants held ${still} advisory locks (0.1.0's keys 8466/hashtext(source) and 8467/1..2000) ` +
      `and tried every lock it saw others hold — the worker's: ${ofWorker.map(fmt).join('; ')} — while flush() delivered ` +
      `${SOURCES.length} sources: ${timings.join(', ')}; lost=0 duplicated=0`);
  });
