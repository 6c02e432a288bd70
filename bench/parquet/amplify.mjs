// Amplify the Authentication samples in data/ to N NDJSON events, varying what varies
// in real traffic so dictionaries are realistic: time (increasing), metadata.uid
// (unique), src_endpoint.ip (65k addresses), actor.user.name/uid (5000 users),
// actor.session.uid (unique).
//   node bench/parquet/amplify.mjs N OUT.ndjson
import { readdirSync, readFileSync, createWriteStream } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [n = '1000000', out = 'events.ndjson'] = process.argv.slice(2);
const dataDir = join(dirname(fileURLToPath(import.meta.url)), 'data');
const templates = readdirSync(dataDir).filter((f) => f.endsWith('.json')).sort().map((f) => {
  const e = JSON.parse(readFileSync(join(dataDir, f), 'utf8'));
  e.time = '__TIME__';
  e.metadata.uid = '__EUID__';
  e.src_endpoint = { ...(e.src_endpoint ?? {}), ip: '__IP__' };
  e.actor = e.actor ?? {};
  e.actor.user = { ...(e.actor.user ?? {}), name: '__USER__', uid: '__USERUID__' };
  e.actor.session = { ...(e.actor.session ?? {}), uid: '__SESSION__' };
  return JSON.stringify(e);
});

const stream = createWriteStream(out);
const t0 = 1732752000000;
let buf = [];
for (let i = 0; i < Number(n); i++) {
  const user = (i * 7919) % 5000;
  const line = templates[i % templates.length]
    .replace('"__TIME__"', String(t0 + i * 37))
    .replace('__EUID__', `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-${i.toString(16).padStart(8, '0')}`)
    .replace('__IP__', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
    .replace('__USER__', `user${user}`)
    .replace('__USERUID__', `AIDA${String(user).padStart(12, '0')}`)
    .replace('__SESSION__', `s-${i.toString(36)}`);
  buf.push(line);
  if (buf.length === 10000) {
    if (!stream.write(buf.join('\n') + '\n')) await new Promise((r) => stream.once('drain', r));
    buf = [];
  }
}
if (buf.length) stream.write(buf.join('\n') + '\n');
stream.end();
