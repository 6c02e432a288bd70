// The error a statement raises, as PostgreSQL reports it: { state, message, detail, hint }
// (psql with VERBOSITY verbose), or null when the statement succeeds.
import { psql } from './pg.mjs';

export function sqlError(sql, opts) {
  try {
    psql(`\\set VERBOSITY verbose\n${sql}`, opts);
    return null;
  } catch (e) {
    const text = e.stderr ?? String(e.message);
    const m = text.match(/ERROR:\s+([0-9A-Z]{5}): (.*)/);
    if (!m) throw e;
    const field = (name) => (text.match(new RegExp(`^${name}:\\s+(.*)$`, 'm')) ?? [])[1] ?? null;
    return { state: m[1], message: m[2], detail: field('DETAIL'), hint: field('HINT'), text };
  }
}
