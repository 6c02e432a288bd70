// The README's pg_cron recipe, as written: the test reads the statement from README.md, runs
// it as a member of securitylake_admin, and the job it schedules delivers what is queued. The
// schedule itself (once a day) is kept and checked, then moved to every minute so the test
// need not wait a day; pg_cron 1.4 has minute granularity, so the run comes within two minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';
import { fencedBlocks } from '../lib/markdown.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const BUCKET = 'aws-security-data-lake-us-east-1-cronlake';
const USER = { accessKeyId: 'AKIACRONTESTUSER0001', secretAccessKey: 'cronSecretKey/ForTheGate00000000000000001' };
const OPERATOR = 'cron_lake_operator';
let gate;

// The one statement of the README that schedules a job.
const recipe = fencedBlocks(readFileSync(`${ROOT}README.md`, 'utf8')).filter((b) => b.lang === 'sql' && /cron\.schedule\(/.test(b.body));

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  psql(`CREATE EXTENSION IF NOT EXISTS pg_cron; DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT cron.unschedule(jobid) FROM cron.job;
        DROP ROLE IF EXISTS ${OPERATOR}; CREATE ROLE ${OPERATOR} LOGIN IN ROLE securitylake_admin;
        GRANT USAGE ON SCHEMA cron TO ${OPERATOR};
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('cron_auth', 's3://${BUCKET}/ext/cron_auth/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
               publish_rate => '1 day', options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  if (!skipNoPg) {
    psql(`SELECT cron.unschedule(jobid) FROM cron.job; REVOKE USAGE ON SCHEMA cron FROM ${OPERATOR};
          DROP OWNED BY ${OPERATOR}; DROP ROLE IF EXISTS ${OPERATOR};`);
  }
  await gate?.stop();
});

test('README: the pg_cron recipe, run as written, delivers what is queued', { skip: skipNoPg, timeout: 200000 }, async () => {
  assert.equal(recipe.length, 1, 'one cron.schedule statement in README.md');
  const statement = recipe[0].body.trim();
  psql(statement, { user: OPERATOR });
  const job = one(`SELECT row_to_json(j) FROM cron.job j`);
  assert.equal(job.username, OPERATOR);
  assert.equal(job.database, process.env.PGDATABASE);
  const [, name, schedule, command] = statement.match(/cron\.schedule\('([^']+)', '([^']+)', \$\$(.*)\$\$\);$/s);
  assert.deepEqual([job.jobname, job.schedule, job.command], [name, schedule, command]);

  // Events that publish_rate (a day) would hold back: only the job delivers them.
  const events = Array.from({ length: 25 }, (_, i) => ({
    class_uid: 3002, category_uid: 3, activity_id: 1, type_uid: 300201, severity_id: 1, time: Date.UTC(2026, 11, 1, 10, i),
    metadata: { version: '1.1.0', uid: `cron-${i}`, product: { name: 'cron-test', vendor_name: 'securitylake' } }, user: { name: 'carol' },
  }));
  psql(`INSERT INTO securitylake.queue (event) VALUES ${events.map((e) => `(${lit(JSON.stringify(e))})`).join(', ')}`);
  psql(`SELECT cron.alter_job(${job.jobid}, schedule => '* * * * *')`);   // (the test's change, as superuser)

  let run = null;
  for (let i = 0; i < 150 && !run; i++) {
    await sleep(1000);
    run = query(`SELECT status, return_message, command FROM cron.job_run_details WHERE jobid = ${job.jobid} AND status IN ('succeeded', 'failed')`)[0] ?? null;
  }
  assert.ok(run, 'the job ran within two and a half minutes');
  assert.equal(run.status, 'succeeded', run.return_message);
  assert.equal(run.command, command);
  assert.equal(one(`SELECT username FROM cron.job WHERE jobid = ${job.jobid}`), OPERATOR, 'it ran as the operator, not a superuser');
  assert.equal(one(`SELECT count(*) FROM securitylake.queue`), 0);
  assert.equal(one(`SELECT coalesce(sum(rows), 0) FROM securitylake.uploads WHERE source = 'cron_auth'`), 25);
});
