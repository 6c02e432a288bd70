// pg_cron schedules flush(): the job actually runs it (cron.job_run_details).
// pg_cron 1.4 has minute granularity, so the test waits for the next minute boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, skipNoPg } from '../lib/pg.mjs';

test('a pg_cron job runs securitylake.flush()', { skip: skipNoPg, timeout: 150000 }, async () => {
  psql(`CREATE EXTENSION IF NOT EXISTS pg_cron; CREATE EXTENSION IF NOT EXISTS securitylake;
        SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'securitylake';
        SELECT cron.schedule('securitylake', '* * * * *', 'SELECT count(*) FROM securitylake.flush()');`);
  const jobid = one(`SELECT jobid FROM cron.job WHERE jobname = 'securitylake'`);
  let run = null;
  for (let i = 0; i < 140 && !run; i++) {
    await sleep(1000);
    const rows = JSON.parse(psql(`SELECT coalesce(json_agg(d), '[]') FROM cron.job_run_details d WHERE jobid = ${jobid} AND status IN ('succeeded', 'failed')`));
    run = rows[0] ?? null;
  }
  psql(`SELECT cron.unschedule(${jobid})`);
  assert.ok(run, 'the job ran within two minutes');
  assert.equal(run.status, 'succeeded', run.return_message);
  assert.equal(run.command, 'SELECT count(*) FROM securitylake.flush()');
});
