// A throwaway test CA and a server certificate for AWS's own host names, made with the
// openssl CLI when a gate starts with { https: true }: the client then reaches
// https://<bucket>.s3.<region>.amazonaws.com (routed to 127.0.0.1 by CURLOPT_CONNECT_TO)
// and verifies the chain against caFile, exactly as it would verify AWS's.
//
//   makeTestTls(dir, ['us-east-1', 'eu-west-1']) → { dir, caFile, certFile, keyFile }
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function tlsNames(regions) {
  const names = ['localhost'];
  for (const r of regions) {
    names.push(`*.s3.${r}.amazonaws.com`, `s3.${r}.amazonaws.com`, `sts.${r}.amazonaws.com`, `securitylake.${r}.amazonaws.com`);
  }
  return names;
}

export function makeTestTls(dir, regions) {
  mkdirSync(dir, { recursive: true });
  const f = (n) => join(dir, n);
  const openssl = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2',
    '-subj', '/CN=securitylake gate test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=gate']);
  writeFileSync(f('ext.cnf'), [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth',
    `subjectAltName=${[...tlsNames(regions).map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',')}`, ''].join('\n'));
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { dir, caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}
