// Retries as Security Lake's provider role allows them, and what a retry leaves behind.
//
// 1. The provider role may not s3:AbortMultipartUpload (AmazonSecurityLakePermissionsBoundary
//    allows PutObject, GetObject, ListBucket and GetBucketLocation). A batch retried after a
//    failed attempt starts a multipart upload; when that attempt fails too, the next one
//    cannot abort it: it must go on without (an upload never completed writes nothing at
//    the key), not fail at the abort for ever. Found by a fresh-context attack: 23 attempts,
//    the events never delivered after S3 recovered.
// 2. The planner settings the worker turns off for its probes of the queue (enable_seqscan,
//    enable_bitmapscan, enable_hashjoin, enable_mergejoin; src/step.c) are off in the
//    transactions that read the queue by id, and on again after them: set at the wrong
//    source they stayed off for the rest of the worker's life. Seen from inside the worker
//    by triggers that record the settings of the transactions that write its tables.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, one, query, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { psqlResult, setSettings, resetSettings } from '../lib/worker.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-retrylake';
const USER = { accessKeyId: 'AKIARETRIESTESTUSER1', secretAccessKey: 'retriesSecretKeyForTheGate00000000000001' };
let gate;
let duck;

function createSource(name) {
  psql(`SELECT securitylake.create_source(${lit(name)}, ${lit(`s3://${BUCKET}/ext/${name}/1.0/`)}, NULL, NULL, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
        options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
}

async function lakeUids(name) {
  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${name}/`));
  if (objects.length === 0) return [];
  return (await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}])`)).map((r) => r.uid).sort();
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
  setSettings({ 'securitylake.max_backoff': '2s' });
});

after(async () => {
  if (skipNoPg) return;
  try { resetSettings(['securitylake.max_backoff']); } catch { /* reported by the tests */ }
  try { psql(`DROP TABLE IF EXISTS public.settings_seen CASCADE; DROP FUNCTION IF EXISTS public.settings_seen_trigger() CASCADE`); } catch { /* idem */ }
  duck?.close();
  await gate?.stop();
});

test('without s3:AbortMultipartUpload, a batch whose retries failed mid-upload is delivered exactly once when S3 recovers', { skip: skipNoPg, timeout: 180000 }, async () => {
  createSource('noabort');
  await admin(gate, 'deny', { ops: ['abort'] });
  const events = authEvents(50, { seed: 999 });
  copyEvents(events, { source: 'noabort' });
  const mark = (await admin(gate, 'requests')).length;
  try {
    // PutObject and UploadPart refused, CreateMultipartUpload allowed: the retries start
    // uploads that fail and cannot be aborted.
    await admin(gate, 'faults', { count: 100000, kinds: ['RequestTimeTooSkewed'], target: 's3', ops: ['put', 'part'] });
    for (let i = 0; i < 8 && one(`SELECT coalesce(max(attempts), 0) FROM securitylake.batch WHERE source = 'noabort'`) < 3; i++) {
      psqlResult(`SELECT count(*) FROM securitylake.flush('noabort', '2 s')`);
    }
    assert.ok(one(`SELECT max(attempts) FROM securitylake.batch WHERE source = 'noabort'`) >= 3, 'three attempts failed');
    await admin(gate, 'faults', { count: 0 });
    psql(`SELECT count(*) FROM securitylake.flush('noabort', '60 s')`);
  } finally {
    await admin(gate, 'faults', { count: 0 });
    await admin(gate, 'deny', { ops: [] });
  }
  const kinds = (await admin(gate, 'requests')).slice(mark).filter((r) => r.path?.includes('/ext/noabort/')).map((r) => `${r.kind}:${r.status}`);
  console.log(`retries: abort denied: ${kinds.filter((k) => k.startsWith('abort')).length} AbortMultipartUpload refused; requests ${kinds.join(' ')}`);
  assert.ok(kinds.includes('abort:403'), 'an abort was tried and refused');
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'noabort'`), 0, 'delivered after S3 recovered');
  assert.equal(one(`SELECT count(*) FROM securitylake.batch WHERE source = 'noabort'`), 0);
  assert.deepEqual(await lakeUids('noabort'), events.map((e) => e.metadata.uid).sort(), 'every event once');
  assert.equal(one(`SELECT last_error FROM securitylake.status WHERE source = 'noabort'`), null);
});

test('the planner settings for queue probes are off in the claim\'s transaction and on again after it', { skip: skipNoPg, timeout: 120000 }, async () => {
  psql(`CREATE TABLE public.settings_seen (tbl text, op text, seqscan text, bitmapscan text, hashjoin text, mergejoin text);
        GRANT INSERT ON public.settings_seen TO PUBLIC;
        CREATE FUNCTION public.settings_seen_trigger() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
        BEGIN
          INSERT INTO public.settings_seen VALUES (TG_TABLE_NAME, TG_OP, current_setting('enable_seqscan'), current_setting('enable_bitmapscan'),
                                                   current_setting('enable_hashjoin'), current_setting('enable_mergejoin'));
          RETURN NULL;
        END $$;
        CREATE TRIGGER settings_seen AFTER INSERT OR UPDATE ON securitylake.batch FOR EACH ROW EXECUTE FUNCTION public.settings_seen_trigger();`);
  try {
    createSource('settings');
    copyEvents(authEvents(100, { seed: 5 }), { source: 'settings' });
    // The first attempt fails (a claim: the batch INSERTed), the retry delivers (the batch
    // UPDATEd in transactions of their own: counting the attempt, taking the pending batch).
    // The five 500s are one attempt's five tries, with backoff between them: on a slow
    // machine that outlasts one 2 s flush, so wait for the attempt to be counted before the
    // faults are lifted (lifted early, a later try succeeds and nothing is retried).
    await admin(gate, 'faults', { count: 5, kinds: ['500'], target: 's3' });
    for (let i = 0; i < 15 && one(`SELECT coalesce(max(attempts), 0) FROM securitylake.batch WHERE source = 'settings'`) < 1; i++) {
      psqlResult(`SELECT count(*) FROM securitylake.flush('settings', '2 s')`);
    }
    assert.ok(one(`SELECT max(attempts) FROM securitylake.batch WHERE source = 'settings'`) >= 1, 'the first attempt failed');
    await admin(gate, 'faults', { count: 0 });
    psql(`SELECT count(*) FROM securitylake.flush('settings', '60 s')`);
    const seen = query(`SELECT op, seqscan || '/' || bitmapscan || '/' || hashjoin || '/' || mergejoin AS settings, count(*)::int AS n
                          FROM public.settings_seen WHERE tbl = 'batch' GROUP BY 1, 2 ORDER BY 1, 2`);
    console.log(`retries: settings seen by the worker's transactions on securitylake.batch: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.filter((r) => r.op === 'INSERT').map((r) => r.settings), ['off/off/off/off'], 'the claim plans index probes');
    assert.ok(seen.some((r) => r.op === 'UPDATE'), 'the batch was updated in later transactions');
    assert.deepEqual([...new Set(seen.filter((r) => r.op === 'UPDATE').map((r) => r.settings))], ['on/on/on/on'], 'and those plan as configured');
  } finally {
    await admin(gate, 'faults', { count: 0 });
    psql(`DROP TRIGGER IF EXISTS settings_seen ON securitylake.batch`);
  }
});
