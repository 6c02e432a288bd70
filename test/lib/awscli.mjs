// The Debian AWS CLI v2 against the local gate, with only the given user's keys: no
// profile, no config file, no metadata service. Returns the parsed JSON output.
import { spawnSync } from 'node:child_process';

export function awsCli(gateUrl, user, args) {
  const r = spawnSync('/usr/bin/aws', [...args, '--endpoint-url', gateUrl, '--region', 'us-east-1', '--output', 'json'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: user.accessKeyId, AWS_SECRET_ACCESS_KEY: user.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
  });
  if (r.status !== 0) throw new Error(`aws ${args.join(' ')}: ${r.stderr}`);
  return r.stdout ? JSON.parse(r.stdout) : null;
}
