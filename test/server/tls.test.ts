import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { tlsDispatcher } from '../../src/client/security.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { ServerTls } from '../../src/server/tls.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';
import { type TestCerts, makeTestCerts } from '../helpers/certs.js';

/**
 * TLS on real loopback sockets with certificates made by openssl at test time:
 * HTTPS GraphPipe and OIP REST, gRPC over TLS, mutual TLS, and reloads (the
 * SIGHUP path) that give new connections the new certificate.
 */

function doubler(): FunctionModel {
  const twice = (t: Tensor): Tensor =>
    new Tensor(
      'float32',
      t.shape,
      (t.data as Float32Array).map((v) => v * 2),
    );
  return new FunctionModel(async (i) => ({ y: twice(i.x as Tensor) }), {
    name: 'doubler',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
  });
}

const x = () => fromNested([[1, 2]], 'float32');
const values = (t: Tensor | undefined): number[] => [...((t as Tensor).data as Float32Array)];

/** The CN of the certificate a fresh TLS connection to `port` is shown (ALPN `alpn`). */
function peerCn(port: number, ca: Buffer, alpn: string, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: [alpn], servername: 'localhost', ...client }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.end();
      resolve(String(cn));
    });
    s.once('error', reject);
  });
}

async function failsToConnect(p: Promise<unknown>, why: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelpipeError, String(e));
    assert.match(`${e.message} ${String((e as { cause?: unknown }).cause)}`, why);
    return true;
  });
}

describe('TLS: HTTPS and gRPC over TLS', () => {
  let certs: TestCerts;
  let serverTls: ServerTls;
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let ca: Buffer;
  before(async () => {
    certs = makeTestCerts();
    ca = certs.read(certs.caCert);
    // The server reads "live" files that the reload test overwrites, as an operator's renewal would.
    copyFileSync(certs.serverCert, join(certs.dir, 'live.crt'));
    copyFileSync(certs.serverKey, join(certs.dir, 'live.key'));
    serverTls = new ServerTls({ cert: join(certs.dir, 'live.crt'), key: join(certs.dir, 'live.key') });
    srv = await serveModel(doubler(), { tls: serverTls });
    grpc = new OipGrpcServer({ engine: srv.engine, tls: serverTls });
    await grpc.listen(0);
  });
  after(async () => {
    closeGrpcClients();
    await grpc?.close();
    await srv?.close();
    certs?.cleanup();
  });

  test('the server says https:// and GraphPipe inference works for a client trusting the CA', async () => {
    assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const [y] = await multiRemoteRaw(srv.url, [x()], { security: { ca } });
    assert.deepEqual(values(y), [2, 4]);
  });

  test('a client that does not trust the CA is refused (the certificate is really checked)', async () => {
    await failsToConnect(multiRemoteRaw(srv.url, [x()], { security: {} }), /self[- ]signed|unable to verify|certificate/i);
    await failsToConnect(multiRemoteRaw(srv.url.replace('https:', 'http:'), [x()], { security: {} }), /socket|closed|reset|parse|HTTP/i);
  });

  test('equal settings in fresh objects share one connection pool', () => {
    assert.equal(tlsDispatcher({ ca }), tlsDispatcher({ ca: Buffer.from(ca), token: 'any-token-at-all-0000' }));
    assert.notEqual(tlsDispatcher({ ca }), tlsDispatcher({ ca: certs.read(certs.serverCert) }));
  });

  test('OIP REST over HTTPS', async () => {
    const r = await infer(srv.url, 'doubler', { x: x() }, { security: { ca } });
    assert.deepEqual(values(r.outputs.y), [2, 4]);
    const json = await infer(srv.url, 'doubler', { x: x() }, { security: { ca }, binary: false });
    assert.deepEqual(values(json.outputs.y), [2, 4]);
  });

  test('OIP gRPC over TLS (grpcs://) with the project client', async () => {
    const r = await infer(`grpcs://${grpc.address}`, 'doubler', { x: x() }, { security: { ca } });
    assert.deepEqual(values(r.outputs.y), [2, 4]);
    await failsToConnect(infer(`grpcs://${grpc.address}`, 'doubler', { x: x() }, { security: {}, timeoutMs: 5000 }), /certificate|self/i);
  });

  test('reload: new connections get the new certificate; a broken one is refused and the current one kept', async () => {
    const httpPort = Number(new URL(srv.url).port);
    const grpcPort = Number(grpc.address.split(':').at(-1));
    assert.equal(await peerCn(httpPort, ca, 'http/1.1'), 'server-1');
    assert.equal(await peerCn(grpcPort, ca, 'h2'), 'server-1');
    copyFileSync(certs.server2Cert, join(certs.dir, 'live.crt'));
    copyFileSync(certs.server2Key, join(certs.dir, 'live.key'));
    serverTls.reload();
    assert.equal(await peerCn(httpPort, ca, 'http/1.1'), 'server-2');
    assert.equal(await peerCn(grpcPort, ca, 'h2'), 'server-2');
    // Requests keep working across the swap.
    const [y] = await multiRemoteRaw(srv.url, [x()], { security: { ca } });
    assert.deepEqual(values(y), [2, 4]);

    writeFileSync(join(certs.dir, 'live.key'), 'not a key');
    assert.throws(
      () => serverTls.reload(),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TLS_CONFIG',
    );
    assert.equal(await peerCn(httpPort, ca, 'http/1.1'), 'server-2');
  });
});

describe('mutual TLS', () => {
  let certs: TestCerts;
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let ca: Buffer;
  before(async () => {
    certs = makeTestCerts();
    ca = certs.read(certs.caCert);
    const t = new ServerTls({ cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert });
    srv = await serveModel(doubler(), { tls: t });
    grpc = new OipGrpcServer({ engine: srv.engine, tls: t });
    await grpc.listen(0);
  });
  after(async () => {
    closeGrpcClients();
    await grpc?.close();
    await srv?.close();
    certs?.cleanup();
  });

  test('no client certificate, or one from another CA: refused', async () => {
    await failsToConnect(multiRemoteRaw(srv.url, [x()], { security: { ca } }), /certificate|socket|closed|reset|handshake/i);
    const stranger = { ca, cert: certs.read(certs.strangerCert), key: certs.read(certs.strangerKey) };
    await failsToConnect(multiRemoteRaw(srv.url, [x()], { security: stranger }), /certificate|socket|closed|reset|handshake|unknown ca/i);
    await failsToConnect(infer(`grpcs://${grpc.address}`, 'doubler', { x: x() }, { security: { ca }, timeoutMs: 5000 }), /./);
  });

  test('with a client certificate from the client CA: GraphPipe, OIP REST and gRPC work', async () => {
    const security = { ca, cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) };
    const [y] = await multiRemoteRaw(srv.url, [x()], { security });
    assert.deepEqual(values(y), [2, 4]);
    const r = await infer(srv.url, 'doubler', { x: x() }, { security });
    assert.deepEqual(values(r.outputs.y), [2, 4]);
    const g = await infer(`grpcs://${grpc.address}`, 'doubler', { x: x() }, { security });
    assert.deepEqual(values(g.outputs.y), [2, 4]);
  });
});
