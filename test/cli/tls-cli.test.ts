import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import type { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { warnIfExposed } from '../../src/flags/security-flags.js';
import { TokenAuth } from '../../src/server/auth.js';
import type { Logger } from '../../src/observe/logger.js';
import { serveModel } from '../../src/server/serve.js';
import { ServerTls } from '../../src/server/tls.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';
import { type TestCerts, makeTestCerts } from '../helpers/certs.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, freePort, runNode, stop } from '../helpers/spawn.js';

/**
 * `modelpipe serve` with --tls-cert/--tls-key/--auth-tokens as an operator runs it:
 * the CLI clients with --ca/--token over HTTPS and gRPC over TLS, SIGHUP (through
 * the relaunching launcher) giving new connections the renewed certificate, the
 * warning for a public address without authentication, and the batcher's hop flags.
 */

const TOKEN = 'cli-test-token-0123456789abcdef';

/** Starts a CLI server and resolves with the first URL matching `re` it prints. */
async function startServer(args: string[], re: RegExp): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
  const proc = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MODELPIPE_TOKENS: '' },
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL within 30 s:\n${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[0]);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  return { proc, url, output: () => out };
}

function peerCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(String(s.getPeerCertificate().subject?.CN));
      s.end();
    });
    s.once('error', reject);
  });
}

describe('serve with TLS and tokens', { skip: needShared('models/mnist.onnx') }, () => {
  let certs: TestCerts;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let grpcPort = 0;
  let input = '';
  before(async () => {
    certs = makeTestCerts();
    copyFileSync(certs.serverCert, join(certs.dir, 'live.crt'));
    copyFileSync(certs.serverKey, join(certs.dir, 'live.key'));
    writeFileSync(join(certs.dir, 'tokens'), `${TOKEN} infer,metadata cli\n`);
    input = join(certs.dir, 'digit.json');
    writeFileSync(input, JSON.stringify([[Array.from({ length: 28 }, () => new Array(28).fill(0))]]));
    grpcPort = await freePort();
    server = await startServer(
      [
        'serve',
        sharedPath('models/mnist.onnx'),
        '--listen',
        '127.0.0.1:0',
        '--grpc-listen',
        `127.0.0.1:${grpcPort}`,
        '--tls-cert',
        join(certs.dir, 'live.crt'),
        '--tls-key',
        join(certs.dir, 'live.key'),
        '--auth-tokens',
        join(certs.dir, 'tokens'),
      ],
      /https:\/\/127\.0\.0\.1:\d+/,
    );
  });
  after(async () => {
    await stop(server?.proc);
    certs?.cleanup();
  });

  test('infer and metadata with --ca and --token; without the token: one line with the code', async () => {
    const url = server?.url as string;
    const md = await runNode([CLI, 'metadata', url, '--ca', certs.caCert, '--token', TOKEN]);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /"name"/);
    const r = await runNode([CLI, 'infer', url, '--input', input, '--ca', certs.caCert, '--token', TOKEN]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as number[][]).flat().length, 10);
    const g = await runNode(
      [CLI, 'infer', `https://127.0.0.1:${grpcPort}`, '--protocol', 'v2-grpc', '--model', 'mnist', '--input', input].concat([
        '--ca',
        certs.caCert,
      ]),
      { MODELPIPE_TOKEN: TOKEN },
    );
    assert.equal(g.code, 0, g.stderr);
    const denied = await runNode([CLI, 'infer', url, '--input', input, '--ca', certs.caCert]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /MP_ERR_UNAUTHENTICATED/);
  });

  test('SIGHUP: the renewed certificate is served to new connections (HTTP and gRPC)', async () => {
    const ca = certs.read(certs.caCert);
    const port = Number(new URL(server?.url as string).port);
    assert.equal(await peerCn(port, ca), 'server-1');
    copyFileSync(certs.server2Cert, join(certs.dir, 'live.crt'));
    copyFileSync(certs.server2Key, join(certs.dir, 'live.key'));
    server?.proc.kill('SIGHUP');
    const deadline = Date.now() + 15_000;
    while ((await peerCn(port, ca)) !== 'server-2') {
      assert.ok(Date.now() < deadline, `still server-1 after SIGHUP:\n${server?.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await peerCn(grpcPort, ca), 'server-2');
    assert.equal(server?.proc.exitCode, null, 'the server lives on after SIGHUP');
    assert.match(server?.output() ?? '', /reloaded TLS certificates and tokens/);
  });
});

test('a public address without tokens gets a warning (checked without binding one)', () => {
  const warned: string[] = [];
  const log = { warn: (_o: object, m: string) => warned.push(m) } as unknown as Logger;
  const auth = new TokenAuth({ inline: `${TOKEN} infer` });
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) warnIfExposed(host, {}, log);
  for (const host of ['0.0.0.0', '::', '10.1.2.3']) warnIfExposed(host, { auth }, log);
  assert.equal(warned.length, 0);
  warnIfExposed('0.0.0.0', {}, log, 'HTTP');
  warnIfExposed('::', {}, log, 'gRPC');
  assert.equal(warned.length, 2);
  assert.match(String(warned[0]), /HTTP listens on 0\.0\.0\.0 without authentication/);
});

test('batcher: --hop-ca/--hop-token reach an HTTPS target that needs a token; its own clients need theirs', async () => {
  const certs = makeTestCerts();
  const twice = (t: Tensor): Tensor =>
    new Tensor(
      'float32',
      t.shape,
      (t.data as Float32Array).map((v) => v * 2),
    );
  const target = await serveModel(
    new FunctionModel(async (i) => ({ y: twice(i.x as Tensor) }), {
      name: 'doubler',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    }),
    { tls: new ServerTls({ cert: certs.serverCert, key: certs.serverKey }), auth: new TokenAuth({ inline: `${TOKEN} infer` }) },
  );
  const front = `front-token-${'f'.repeat(20)}`;
  const batcher = spawn(
    process.execPath,
    [CLI, 'batcher', '--target', target.url, '--listen', '127.0.0.1:0', '--hop-ca', certs.caCert, '--hop-token', TOKEN],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MODELPIPE_TOKENS: `${front} infer` } },
  );
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`batcher printed no URL:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[0]);
        }
      };
      batcher.stdout.on('data', onData);
      batcher.stderr.on('data', onData);
      batcher.once('exit', (code) => reject(new Error(`batcher exited with ${code}:\n${out}`)));
    });
    const [y] = await multiRemoteRaw(url, [fromNested([[1, 2]], 'float32')], { security: { token: front } });
    assert.deepEqual([...((y as Tensor).data as Float32Array)], [2, 4]);
    await assert.rejects(
      multiRemoteRaw(url, [fromNested([[1, 2]], 'float32')], { security: {} }),
      (e: ModelpipeError) => e.code === 'MP_ERR_UNAUTHENTICATED',
    );
  } finally {
    await stop(batcher);
    await target.close();
    certs.cleanup();
  }
});
