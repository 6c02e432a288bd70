// DuckDB (@duckdb/node-api) as the reference Parquet reader for tests.
import { DuckDBInstance } from '@duckdb/node-api';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export async function openDuck() {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  return {
    async rows(sql) {
      const reader = await conn.runAndReadAll(sql);
      return reader.getRowObjectsJson();
    },
    close() {
      conn.closeSync?.();
      instance.closeSync?.();
    },
  };
}

// SQL string literal for DuckDB.
export const dlit = (s) => `'${String(s).replaceAll("'", "''")}'`;

// Every object s3rver stored under dir/bucket/, as { key, path }.
export function storedObjects(dataDir, bucket) {
  const root = join(dataDir, bucket);
  const out = [];
  const walk = (d) => {
    let entries = [];
    try { entries = readdirSync(d); } catch { return; }
    for (const e of entries) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('._S3rver_object')) out.push({ key: p.slice(root.length + 1, -'._S3rver_object'.length), path: p });
    }
  };
  walk(root);
  return out.sort((a, b) => a.key.localeCompare(b.key));
}
