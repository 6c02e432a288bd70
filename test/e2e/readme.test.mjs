// The README's first screen, as written: the two-line setup registers a custom source with
// Security Lake (the gate's emulation) and the event inserted reaches the lake, read back by
// DuckDB. The test adds only the endpoints that point the calls at the gate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { fencedBlocks } from '../lib/markdown.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const README = readFileSync(`${ROOT}README.md`, 'utf8');
const BUCKET = 'aws-security-data-lake-us-east-1-readmelake';
const USER = { accessKeyId: 'AKIAREADMETESTUSER01', secretAccessKey: 'readmeSecretKey/ForTheGate000000000000001' };
let gate;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [], securityLake: { account: '123456789012', allow: [USER.accessKeyId], bucket: BUCKET } });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  await gate?.stop();
});

test('README: the two-line setup on its first screen registers a source and delivers the event', { skip: skipNoPg }, async () => {
  const first = fencedBlocks(README)[0];
  assert.equal(first.lang, 'sql', 'the first block of the README is the setup');
  assert.ok(first.line < 30, 'on the first screen');
  const statements = first.body.split('\n').filter((l) => l.trim() && !l.trim().startsWith('--'));
  assert.equal(statements.length, 2, 'two lines');
  assert.match(statements[0], /^SELECT securitylake\.register_custom_source\(/);
  assert.match(statements[1], /^INSERT INTO securitylake\.queue \(event\) VALUES /);

  const options = { securitylake_endpoint: gate.url, endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true };
  psql(statements[0].replace(/\);$/, `, options => ${lit(JSON.stringify(options))}::jsonb);`));
  psql(statements[1]);
  const [asked] = await admin(gate, 'securitylake/sources');
  assert.deepEqual([asked.sourceName, asked.eventClasses, asked.principal], ['app_auth', ['AUTHENTICATION'], '123456789012']);
  const flushed = query(`SELECT * FROM securitylake.flush('app_auth', '60 s')`);
  assert.equal(flushed.length, 1);
  assert.equal(one(`SELECT count(*) FROM securitylake.dead_letter`), 0);
  const object = storedObjects(gate.dataDir, BUCKET).find((o) => o.key === flushed[0].object_key);
  const duck = await openDuck();
  try {
    const rows = await duck.rows(`SELECT "user".name AS name, class_uid FROM read_parquet(${dlit(object.path)})`);
    assert.deepEqual(rows, [{ name: 'alice', class_uid: 3002 }]);
  } finally {
    duck.close();
  }
});
