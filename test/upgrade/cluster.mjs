// A throwaway PostgreSQL cluster of the upgrade test's own (test/lib/pgcluster.sh: the
// extension preloaded, its worker serving DB). Its own so that the worker serves the very
// database that is upgraded, and its log holds only what this test did.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PG_BIN } from '../lib/pg.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function pgcluster(fn, ...args) {
  const r = spawnSync('bash', ['-c', `. test/lib/pgcluster.sh && ${fn} "$@"`, fn, ...args],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PG_BIN } });
  if (r.status !== 0) throw new Error(`${fn} failed: ${r.stdout}${r.stderr}`);
}

export async function startCluster(db) {
  // Under test/run's temporary directory when there is one (it removes it, and its
  // leftover check looks there for processes still running).
  const dir = mkdtempSync(join(process.env.SECURITYLAKE_TEST_TMP ?? tmpdir(), 'upgrade-pg-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  pgcluster('pg_cluster_start', dir, String(port), db);
  const logPath = join(dir, 'server.log');
  return {
    dir,
    port,
    db,
    env: { PGHOST: dir, PGPORT: String(port), PGUSER: 'postgres' },
    log: () => readFileSync(logPath, 'utf8'),
    // For settings that need one (postmaster context), such as securitylake.database.
    restart() {
      pgcluster('pg_as_postgres', `${PG_BIN}/pg_ctl`, '-D', join(dir, 'data'), '-w', '-t', '60', '-l', logPath, 'restart');
    },
    stop() {
      pgcluster('pg_cluster_stop', dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
