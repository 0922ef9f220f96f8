import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { closeGrpcClients, infer, modelMetadata, serverLive } from '../../src/client/oip-client.js';
import { Engine } from '../../src/core/engine.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { encodeRequest } from '../../src/protocol/graphpipe/index.js';
import { ModelRepository } from '../../src/repository/index.js';
import { TokenAuth, parseTokens, tokenIdentity } from '../../src/server/auth.js';
import { GraphPipeFrontend } from '../../src/server/graphpipe-frontend.js';
import { HttpServer } from '../../src/server/http-server.js';
import { OipFrontend } from '../../src/server/oip-frontend.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { RepositoryFrontend } from '../../src/server/repository-frontend.js';
import { sendText } from '../../src/server/respond.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';

/**
 * Bearer tokens with scopes on real sockets: every route class over HTTP and
 * gRPC (missing → 401 with WWW-Authenticate, wrong scope → 403, right → 200),
 * open health, rotation, reload, and hops that forward their token.
 */

const ALL = 'all-scopes-token-0123456789';
const ALL2 = 'rotated-all-scopes-token-98765'; // a second token with the same scopes: rotation
const INFER = 'infer-only-token-0123456789';
const META = 'metadata-only-token-012345';
const METRICS = 'metrics-only-token-0123456';
const CONTROL = 'control-only-token-0123456';
const TOKENS = `# test tokens
${ALL} all admin
${ALL2} all
${INFER} infer batch-job
${META} metadata
${METRICS} metrics
${CONTROL} control`;

function doubler(name = 'doubler'): FunctionModel {
  return new FunctionModel(
    async (i) => ({
      y: new Tensor(
        'float32',
        (i.x as Tensor).shape,
        ((i.x as Tensor).data as Float32Array).map((v) => v * 2),
      ),
    }),
    {
      name,
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    },
  );
}

const x = () => fromNested([[1, 2]], 'float32');
const values = (t: Tensor | undefined): number[] => [...((t as Tensor).data as Float32Array)];

/** One request per route class: [name, scope it needs, method, path, body]. */
const ROUTES: [string, string, 'GET' | 'POST', string, Uint8Array | string | undefined][] = [
  ['GraphPipe infer', 'infer', 'POST', '/', undefined],
  ['GraphPipe GET metadata', 'metadata', 'GET', '/', undefined],
  [
    'OIP infer',
    'infer',
    'POST',
    '/v2/models/doubler/infer',
    JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] }),
  ],
  ['OIP model metadata', 'metadata', 'GET', '/v2/models/doubler', undefined],
  ['OIP server metadata', 'metadata', 'GET', '/v2', undefined],
  ['repository index', 'control', 'POST', '/v2/repository/index', '{}'],
  ['metrics', 'metrics', 'GET', '/metrics', undefined],
];
const TOKEN_OF: Record<string, string> = { infer: INFER, metadata: META, control: CONTROL, metrics: METRICS };

describe('bearer-token authentication', () => {
  let dir: string;
  let http: HttpServer;
  let url: string;
  let grpc: OipGrpcServer;
  let auth: TokenAuth;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelpipe-auth-'));
    writeFileSync(join(dir, 'tokens'), TOKENS);
    mkdtempSync(join(dir, 'repo-'));
    auth = new TokenAuth({ file: join(dir, 'tokens') });
    const engine = new Engine();
    engine.add('doubler', doubler(), {});
    const repository = new ModelRepository({ dir: mkdtempSync(join(dir, 'repo-')), engine });
    http = new HttpServer({
      engine,
      auth,
      frontends: [new RepositoryFrontend(repository), new OipFrontend(), new GraphPipeFrontend()],
      // Shows what a per-client limiter keys by: the authenticated token's identity.
      routes: [
        (req, res, ctx) => {
          if (ctx.path !== '/whoami') return false;
          sendText(res, 200, tokenIdentity(req) ?? 'nobody');
          return true;
        },
      ],
    });
    await http.listen(0);
    url = http.url;
    grpc = new OipGrpcServer({ engine, auth });
    await grpc.listen(0);
  });
  after(async () => {
    closeGrpcClients();
    await grpc?.close();
    await http?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body: Uint8Array | string | undefined, token?: string) => {
    const b =
      body ??
      (method === 'POST' ? encodeRequest({ type: 'infer', config: '', inputNames: [], inputs: [x()], outputNames: [] }) : undefined);
    const r = await request(`${url}${path}`, {
      method: method as 'GET',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      ...(b !== undefined ? { body: b } : {}),
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  };

  for (const [name, scope, method, path, body] of ROUTES) {
    test(`${name} needs ${scope}: missing → 401, other scope → 403, ${scope} or all → 200`, async () => {
      const none = await call(method, path, body);
      assert.equal(none.status, 401, none.text);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.equal(none.headers['x-modelpipe-error'], 'MP_ERR_UNAUTHENTICATED');
      const wrong = await call(method, path, body, 'not-a-configured-token-000000');
      assert.equal(wrong.status, 401);
      const other = Object.entries(TOKEN_OF).find(([s]) => s !== scope)?.[1] as string;
      const denied = await call(method, path, body, other);
      assert.equal(denied.status, 403, denied.text);
      assert.equal(denied.headers['x-modelpipe-error'], 'MP_ERR_PERMISSION_DENIED');
      assert.equal(denied.headers['www-authenticate'], undefined);
      for (const t of [TOKEN_OF[scope] as string, ALL, ALL2])
        assert.equal((await call(method, path, body, t)).status, 200, `${name} with ${t}`);
    });
  }

  test('health probes stay open; an OIP error body is JSON with the message', async () => {
    for (const p of [
      '/health/live',
      '/health/ready',
      '/control/is_alive',
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/doubler/ready',
    ])
      assert.equal((await call('GET', p, undefined)).status, 200, p);
    const r = await call('GET', '/v2/models/doubler', undefined);
    assert.match(JSON.parse(r.text).error, /missing bearer token/);
  });

  test('the clients send their token; a wrong or missing one is a typed 401/403', async () => {
    const [y] = await multiRemoteRaw(url, [x()], { security: { token: INFER } });
    assert.deepEqual(values(y), [2, 4]);
    const r = await infer(url, 'doubler', { x: x() }, { security: { token: INFER } });
    assert.deepEqual(values(r.outputs.y), [2, 4]);
    await assert.rejects(
      multiRemoteRaw(url, [x()], { security: {} }),
      (e: ModelpipeError) => e.code === 'MP_ERR_UNAUTHENTICATED' && e.status === 401,
    );
    await assert.rejects(
      infer(url, 'doubler', { x: x() }, { security: { token: META } }),
      (e: ModelpipeError) => e.code === 'MP_ERR_PERMISSION_DENIED' && e.status === 403,
    );
  });

  test('gRPC: the token travels as authorization metadata; UNAUTHENTICATED / PERMISSION_DENIED otherwise', async () => {
    const g = `grpc://${grpc.address}`;
    const r = await infer(g, 'doubler', { x: x() }, { security: { token: INFER } });
    assert.deepEqual(values(r.outputs.y), [2, 4]);
    await assert.rejects(
      infer(g, 'doubler', { x: x() }, { security: {} }),
      (e: ModelpipeError) => e.code === 'MP_ERR_UNAUTHENTICATED' && e.status === 401,
    );
    await assert.rejects(
      infer(g, 'doubler', { x: x() }, { security: { token: META } }),
      (e: ModelpipeError) => e.code === 'MP_ERR_PERMISSION_DENIED' && e.status === 403,
    );
    assert.equal((await modelMetadata(g, 'doubler', { security: { token: META } })).name, 'doubler');
    await assert.rejects(modelMetadata(g, 'doubler', { security: { token: INFER } }), (e: ModelpipeError) => e.status === 403);
    assert.equal(await serverLive(g, { security: {} }), true); // health stays open
  });

  test('the authenticated identity is on the request (for per-client limits)', async () => {
    assert.equal((await call('POST', '/whoami', undefined, INFER)).text, 'batch-job');
    assert.match((await call('POST', '/whoami', undefined, ALL2)).text, /^sha256:[0-9a-f]{8}$/);
  });

  test('reload: a rewritten token file takes effect, the old token stops working', async () => {
    const NEW = 'brand-new-token-after-rotation';
    writeFileSync(join(dir, 'tokens'), `${NEW} infer\n${ALL} all admin\n`);
    auth.reload();
    assert.equal((await call('POST', '/', undefined, NEW)).status, 200);
    assert.equal((await call('POST', '/', undefined, INFER)).status, 401);
    writeFileSync(join(dir, 'tokens'), TOKENS);
    auth.reload();
  });
});

describe('token configuration', () => {
  test('token lines: bad ones are refused without echoing the token', () => {
    const bad = (text: string, why: RegExp) =>
      assert.throws(
        () => parseTokens(text, 'tokens.txt'),
        (e: unknown) =>
          e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG' && why.test(e.message) && !e.message.includes('secret'),
      );
    bad('secret-short infer', /at least 16/);
    bad('secret-long-enough-token-xyz inference', /unknown scope/);
    bad('secret-long-enough-token-xyz', /expected/);
    bad('secret-long-enough-token-é infer', /RFC 6750/);
    assert.deepEqual(
      [...(parseTokens('a-valid-token-0123456 infer,metrics n1;another-token-0123456 all', 'env')[1]?.scopes ?? [])],
      ['infer', 'metadata', 'control', 'metrics'],
    );
  });

  test('--auth-health: health needs a valid token too', async () => {
    const engine = new Engine();
    engine.add('doubler', doubler(), {});
    const http = new HttpServer({ engine, auth: new TokenAuth({ inline: `${META} metadata`, protectHealth: true }) });
    await http.listen(0);
    try {
      assert.equal((await request(`${http.url}/health/ready`)).statusCode, 401);
      assert.equal((await request(`${http.url}/health/ready`, { headers: { authorization: `Bearer ${META}` } })).statusCode, 200);
    } finally {
      await http.close();
    }
  });
});
