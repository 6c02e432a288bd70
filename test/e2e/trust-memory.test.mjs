// Issue 11, finding 8 (secrets): where the worker keeps its keys. After deliveries that
// sign with the static keys of securitylake.credential and with a session AssumeRole
// issued, the worker's memory is read through /proc/<pid>/mem (no core dump is made) and
// every copy of the static secret key, the session's secret key and its session token is
// located in its mapping, with that mapping's VmFlags from /proc/<pid>/smaps:
//   - the keys the AWS client holds are in pages marked MADV_DONTDUMP ("dd"): a core dump
//     of the worker does not carry them;
//   - no secret key is in ordinary (dumpable, private) memory at all: the static keys the
//     worker keeps are in DONTDUMP pages too (0.2.0 kept a strdup'ed copy on the heap),
//     and after 10 more cycles (each reads securitylake.credential through SPI) there is
//     still none. The wiping of SPI's own copies (upload.c take_secret, and the row it
//     fetched) is not what keeps that count at 0: with the wiping removed the scan still
//     finds none, the freed SPI memory being reused within the cycle. It stands on review.
//   - the session token is also in libcurl's request headers (ordinary memory): printed,
//     not asserted — the client cannot mark libcurl's buffers.
// The shared buffers hold the credential table's page: that is the table, not the worker
// (and PostgreSQL's shared memory is in every backend); those hits are counted apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, skipNoPg } from '../lib/pg.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, waitForWorker } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-memorylake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-memory-us-east-1';
const EXTERNAL_ID = 'memory-external-id';
const USER = { accessKeyId: 'AKIAMEMORYTESTUSER01', secretAccessKey: 'memoryStaticSecret/Key+0123456789abcdefgh' };
let gate;
let seed = 1100;

// The worker's mappings with their VmFlags.
function mappings(pid) {
  const out = [];
  let cur = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      cur = { start: parseInt(m[1], 16), end: parseInt(m[2], 16), perms: m[3], path: m[4], flags: [] };
      out.push(cur);
    } else if (cur && line.startsWith('VmFlags:')) {
      cur.flags = line.slice(8).trim().split(/\s+/);
    }
  }
  return out;
}

function kindOf(map) {
  if (map.flags.includes('dd')) return 'dontdump';
  if (map.perms[3] === 's' || map.flags.includes('sh')) return 'shared';
  return 'private';
}

// Every occurrence of each secret in the worker's readable memory: { name: { dontdump, shared, private } }.
function scan(pid, secrets) {
  const counts = Object.fromEntries(Object.keys(secrets).map((k) => [k, { dontdump: 0, shared: 0, private: 0 }]));
  const maps = mappings(pid);
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  let read = 0;
  try {
    for (const map of maps) {
      if (map.perms[0] !== 'r' || map.path === '[vvar]' || map.path === '[vsyscall]') continue;
      const len = map.end - map.start;
      const buf = Buffer.alloc(len);
      try { readSync(fd, buf, 0, len, map.start); } catch { continue; }
      read += len;
      for (const [name, value] of Object.entries(secrets)) {
        const needle = Buffer.from(value);
        for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + 1)) counts[name][kindOf(map)]++;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { counts, read, dontdumpMappings: maps.filter((m) => m.flags.includes('dd')).length };
}

function deliver(source, n = 20) {
  const events = authEvents(n, { seed: seed++ });
  psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${events.map((e) => `${source}\t${JSON.stringify(e)}`).join('\n')}\n\\.\n`, SAFE);
  psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, '60 s')`, SAFE);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }] });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.create_source('mem_static', 's3://${BUCKET}/ext/mem_static/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);
        SELECT securitylake.create_source('mem_role', 's3://${BUCKET}/ext/mem_role/', ${lit(ROLE)}, ${lit(EXTERNAL_ID)}, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true }))}::jsonb);`, SAFE);
  psql(`SET log_statement = 'none'; SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`, SAFE);
});

after(async () => {
  if (skipNoPg) return;
  await gate?.stop();
});

test('the worker\'s keys: in MADV_DONTDUMP pages after an AssumeRole, none in ordinary (dumpable) memory, after one cycle or many', { skip: skipNoPg, timeout: 300000 }, async () => {
  const pid = await waitForWorker();
  deliver('mem_static');
  deliver('mem_role');
  const sessions = await admin(gate, 'sessions');
  assert.ok(sessions.length >= 1, 'the worker assumed the role');
  const secrets = {
    'static secret key': USER.secretAccessKey,
    'session secret key': sessions.at(-1).secretAccessKey,
    'session token': sessions.at(-1).sessionToken,
  };
  const once = scan(pid, secrets);
  // Many more cycles: each reads the credential table again (SPI copies of the keys).
  for (let i = 0; i < 10; i++) {
    deliver(i % 2 ? 'mem_role' : 'mem_static', 5);
    await sleep(300);
  }
  const many = scan(pid, secrets);
  const show = (r) => Object.entries(r.counts).map(([k, c]) => `${k}: ${c.dontdump} in dontdump pages, ${c.private} in ordinary memory, ${c.shared} in shared memory`).join('; ');
  console.log(`trust: memory: after one delivery: ${show(once)}`);
  console.log(`trust: memory: after 10 more cycles: ${show(many)}; ${many.dontdumpMappings} MADV_DONTDUMP mappings, ${(many.read / 1048576).toFixed(0)} MiB read`);
  assert.ok(many.dontdumpMappings > 0, 'the worker has MADV_DONTDUMP ("dd") mappings after an AssumeRole');
  assert.ok(many.counts['session secret key'].dontdump > 0, 'the session secret key is held in a dontdump page');
  assert.ok(many.counts['static secret key'].dontdump > 0, 'the static secret key is held in a dontdump page');
  for (const name of ['static secret key', 'session secret key']) {
    assert.equal(many.counts[name].private, 0, `no copy of the ${name} in ordinary (dumpable) memory`);
  }
  assert.equal(once.counts['static secret key'].private, 0, 'none after the first delivery either');
});
