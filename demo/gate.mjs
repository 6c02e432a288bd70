// The local S3/STS gate with the demo's identity: `node demo/gate.mjs DATA_DIR`.
import { startGate } from '../test/lib/gate.mjs';

const gate = await startGate({
  port: 0,
  dataDir: process.argv[2],
  keepData: true,
  users: [{ accessKeyId: 'AKIADEMOUSER00000001', secretAccessKey: 'demoSecretKeyForTheLocalGate000000000001' }],
  roles: [{ roleArn: 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-demo-us-east-1', externalId: 'demo-external-id' }],
  buckets: ['aws-security-data-lake-us-east-1-demolake'],
});
console.log(`gate listening ${gate.url}`);
const stop = async () => { await gate.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
