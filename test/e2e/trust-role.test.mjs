// The worker's statements run as securitylake_worker, not as the superuser it connects as
// (issue 11; docs/security.md). Its session is the bootstrap superuser's — a background
// worker connects as one — so pg_stat_activity cannot tell; what the statements run as can be
// seen from inside them: a trigger (SECURITY INVOKER) on the tables the worker writes records
// current_user, session_user and the search_path in force for every claim, upload and dead
// letter (the trigger function sets none of its own, so it sees the worker's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, query, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-rolelake';
const USER = { accessKeyId: 'AKIAROLETESTUSER0001', secretAccessKey: 'roleSecretKeyForTheGate00000000000000001' };
let gate;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('who', 's3://${BUCKET}/ext/who/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);
        DROP TABLE IF EXISTS public.trust_who;
        CREATE TABLE public.trust_who (tbl text, op text, cur text, ses text, sp text);
        GRANT INSERT ON public.trust_who TO PUBLIC;
        CREATE OR REPLACE FUNCTION public.trust_who_record() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER AS $$
          BEGIN
            INSERT INTO public.trust_who VALUES (TG_TABLE_NAME, TG_OP, current_user, session_user,
                                                 pg_catalog.current_setting('search_path'));
            RETURN NULL;
          END $$;
        GRANT EXECUTE ON FUNCTION public.trust_who_record() TO PUBLIC;
        CREATE TRIGGER trust_who AFTER INSERT OR DELETE ON securitylake.batch FOR EACH ROW EXECUTE FUNCTION public.trust_who_record();
        CREATE TRIGGER trust_who AFTER INSERT ON securitylake.uploads FOR EACH ROW EXECUTE FUNCTION public.trust_who_record();
        CREATE TRIGGER trust_who AFTER INSERT ON securitylake.dead_letter FOR EACH ROW EXECUTE FUNCTION public.trust_who_record();`);
});

after(async () => {
  if (skipNoPg) return;
  psql(`DROP TABLE IF EXISTS public.trust_who; DROP EXTENSION IF EXISTS securitylake CASCADE;
        DROP FUNCTION IF EXISTS public.trust_who_record(); CREATE EXTENSION securitylake;`);
  await gate?.stop();
});

test('the worker claims, commits and dead-letters as securitylake_worker, not as the superuser it connects as, with its search_path pinned', { skip: skipNoPg, timeout: 120000 }, () => {
  copyEvents(authEvents(20, { seed: 501 }), { source: 'who' });
  psql(`INSERT INTO securitylake.queue (source, event) VALUES ('who', '{"class_uid": 3002, "metadata": {"uid": "who-no-time"}}')`);
  psql(`SELECT count(*) FROM securitylake.flush('who', '60 s')`);
  const seen = query(`SELECT tbl, op, cur, ses, sp, count(*)::int AS n FROM public.trust_who GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2`);
  const superusers = query(`SELECT rolname FROM pg_roles WHERE rolsuper`).map((r) => r.rolname);
  // Every path the worker took wrote as securitylake_worker: the batch recorded (claim) and
  // deleted (commit), the upload logged, the bad event dead-lettered.
  assert.deepEqual(seen.map((r) => `${r.tbl} ${r.op}`), ['batch DELETE', 'batch INSERT', 'dead_letter INSERT', 'uploads INSERT'], JSON.stringify(seen));
  for (const r of seen) {
    assert.equal(r.cur, 'securitylake_worker', `${r.tbl} ${r.op} ran as ${r.cur} (session ${r.ses})`);
    assert.ok(superusers.includes(r.ses), `the worker's session is the bootstrap superuser's (${r.ses})`);
    assert.equal(r.sp, 'pg_catalog, pg_temp', `${r.tbl} ${r.op}: search_path in force`);
  }
});
