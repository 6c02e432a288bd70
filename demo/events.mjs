// Prints demo input for demo/run: `node demo/events.mjs N` writes N Authentication
// events as COPY text lines; `node demo/events.mjs --schema` prints the source's schema.
import { AUTH_SCHEMA, authEvents } from '../test/e2e/fixtures.mjs';

if (process.argv[2] === '--schema') {
  process.stdout.write(JSON.stringify(AUTH_SCHEMA));
} else {
  const n = Number(process.argv[2] ?? 5000);
  const half = Math.floor(n / 2);
  const events = [
    ...authEvents(half, { days: 3, seed: 1, region: 'us-east-1', account: '123456789012' }),
    ...authEvents(n - half, { days: 2, seed: 2, region: 'eu-west-1', account: '210987654321' }),
  ];
  // COPY's text format treats backslashes as escapes: double them.
  process.stdout.write(events.map((e) => JSON.stringify(e).replaceAll('\\', '\\\\')).join('\n') + '\n');
}
