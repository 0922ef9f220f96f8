import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates made at test time with the openssl command: a CA, two server
 * certificates for 127.0.0.1/localhost (CN server-1 and server-2, for reload
 * tests), a client certificate, and a second CA nobody trusts. P-256 keys: fast.
 */
export interface TestCerts {
  dir: string;
  /** Paths. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  server2Cert: string;
  server2Key: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from another CA, which the server must refuse. */
  strangerCert: string;
  strangerKey: string;
  /** PEM contents. */
  read(path: string): Buffer;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err: unknown) {
    if ((err as { code?: string }).code === 'ENOENT') throw new Error('the TLS tests need the openssl command: apt-get install openssl');
    throw err;
  }
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
    ].concat(['-subj', `/CN=${name}`, '-days', '2']),
    dir,
  );
}

function makeLeaf(dir: string, name: string, ca: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`].concat([
      '-subj',
      `/CN=${name}`,
    ]),
    dir,
  );
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`].concat([
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]),
    dir,
  );
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-tls-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'stranger-ca');
  const server = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
  makeLeaf(dir, 'server-1', 'ca', server);
  makeLeaf(dir, 'server-2', 'ca', server);
  makeLeaf(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server-1.crt'),
    serverKey: p('server-1.key'),
    server2Cert: p('server-2.crt'),
    server2Key: p('server-2.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
    read: (path) => readFileSync(path),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
