// flush() forces the sources of its own database only. One server's workers serve several
// databases (securitylake.database = 'a, b'), and flush requests go through one ring in
// shared memory: a flush('same') in one database must not force another database's source
// of the same name past its thresholds, nor a flush() of every source force the other
// database's sources. A cluster of its own (the setting needs a restart).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';
import { storedObjects } from '../lib/duck.mjs';
import { startCluster } from '../upgrade/cluster.mjs';
import { waitFor } from '../lib/worker.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-dblake';
const USER = { accessKeyId: 'AKIADATABASESUSER001', secretAccessKey: 'databasesSecretKeyForTheGate00000000001' };
const DBS = ['flush_a', 'flush_b'];
let cluster;
let gate;

const sql = (db, text) => psql(text, { db, user: 'postgres', env: cluster.env });
const value = (db, text) => one(text, { db, user: 'postgres', env: cluster.env });
const queued = (db) => value(db, `SELECT count(*) FROM securitylake.queue`);
const objects = (db) => storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${db}/`)).length;

before(async () => {
  if (skipNoPg) return;
  cluster = await startCluster(DBS[0]);
  sql(DBS[0], `CREATE DATABASE ${DBS[1]}`);
  sql(DBS[0], `ALTER SYSTEM SET securitylake.database = '${DBS.join(', ')}'`);
  cluster.restart();
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  for (const db of DBS) {
    sql(db, `CREATE EXTENSION securitylake;
             SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
             SELECT securitylake.create_source('same', 's3://${BUCKET}/ext/${db}/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
               schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 day',
               options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
  }
});

after(async () => {
  await gate?.stop();
  cluster?.stop();
});

test('a flush() in one database forces none of another database\'s sources, by name or all of them', { skip: skipNoPg, timeout: 180000 }, async () => {
  for (const [i, db] of DBS.entries()) copyEvents(authEvents(100, { seed: 600 + i }), { source: 'same', pg: { db, user: 'postgres', env: cluster.env } });
  // Both databases' workers run before the flushes.
  await waitFor(() => value(DBS[0], `SELECT count(DISTINCT datname) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`) === 2,
    { timeoutMs: 30000, what: 'a worker for each database' });

  sql(DBS[0], `SELECT count(*) FROM securitylake.flush('same', '60 s')`);
  assert.equal(queued(DBS[0]), 0, 'the flushed database delivered its source');
  sql(DBS[0], `SELECT count(*) FROM securitylake.flush(NULL, '60 s')`);
  await sleep(3000);   // several cycles of the other database's worker (naptime 1 s)
  const other = { queued: queued(DBS[1]), objects: objects(DBS[1]) };
  console.log(`flush: databases: after flush('same') and flush() in ${DBS[0]}: ${DBS[0]} ${objects(DBS[0])} object(s), ${DBS[1]} ${other.queued} rows still queued, ${other.objects} object(s)`);
  assert.deepEqual(other, { queued: 100, objects: 0 }, `${DBS[1]}'s source "same" waits for its own thresholds`);

  sql(DBS[1], `SELECT count(*) FROM securitylake.flush('same', '60 s')`);
  assert.equal(queued(DBS[1]), 0, 'and its own flush() delivers it');
  assert.equal(objects(DBS[1]), 1);
});
