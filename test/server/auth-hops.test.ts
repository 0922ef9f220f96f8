import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { setDefaultClientSecurity } from '../../src/client/security.js';
import type { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { RemoteModel } from '../../src/models/remote-model.js';
import { hybridSequenced, serverSequenced } from '../../src/sequencing/sequencing.js';
import { graphPipeUrlHandler } from '../../src/runinference/remote-url-handlers.js';
import { TokenAuth } from '../../src/server/auth.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';

/**
 * Outgoing hops against a server that needs a token: each forwards its own
 * `security`, or the process's (--hop-token), and fails with a typed error without.
 */

const INFER = 'infer-only-token-0123456789';

function doubler(name: string): FunctionModel {
  const twice = (t: Tensor): Tensor =>
    new Tensor(
      'float32',
      t.shape,
      (t.data as Float32Array).map((v) => v * 2),
    );
  return new FunctionModel(async (i) => ({ y: twice(i.x as Tensor) }), {
    name,
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
  });
}

const x = () => fromNested([[1, 2]], 'float32');
const values = (t: Tensor | undefined): number[] => [...((t as Tensor).data as Float32Array)];

describe('outgoing hops forward their token', () => {
  let back: RunningServer;
  before(async () => {
    back = await serveModel(doubler('back'), { auth: new TokenAuth({ inline: `${INFER} infer` }) });
  });
  after(() => back?.close());

  test('a remote model (the batcher proxy building block) with a token works; without one it is refused', async () => {
    const withToken = await RemoteModel.connect({ url: back.url, security: { token: INFER } }).catch((e: unknown) => e);
    // metadata over GraphPipe is a POST, so it needs the infer scope
    assert.ok(withToken instanceof RemoteModel, String(withToken));
    const front = await serveModel(withToken);
    try {
      const [y] = await multiRemoteRaw(front.url, [x()], { security: {} });
      assert.deepEqual(values(y), [2, 4]);
    } finally {
      await front.close();
    }
    await assert.rejects(RemoteModel.connect({ url: back.url, security: {} }), (e: ModelpipeError) => e.code === 'MP_ERR_UNAUTHENTICATED');
  });

  test('a sequencing hop with the token works; the same hop without it fails with MP_ERR_HOP naming the 401', async () => {
    const inputs = [{ name: 'x', dtype: 'float32' as const, shape: [-1, 2] }];
    const outputs = [{ name: 'y', dtype: 'float32' as const, shape: [-1, 2] }];
    const identity = async (i: Record<string, unknown>) => i.x as Tensor;
    const good = await serveModel(
      serverSequenced(identity, { url: back.url, security: { token: INFER } }, { name: 'front', inputs, outputs }),
    );
    const bad = await serveModel(serverSequenced(identity, { url: back.url, security: {} }, { name: 'front', inputs, outputs }));
    try {
      assert.deepEqual(values((await multiRemoteRaw(good.url, [x()], { security: {} }))[0]), [2, 4]);
      await assert.rejects(
        multiRemoteRaw(bad.url, [x()], { security: {} }),
        (e: ModelpipeError) => e.code === 'MP_ERR_HOP' && /bearer token/.test(e.message),
      );
    } finally {
      await good.close();
      await bad.close();
    }
  });

  test("a hop without its own settings uses the process's (--hop-token): hybrid next hops, Classy stages, the batcher", async () => {
    const io = {
      inputs: [{ name: 'x', dtype: 'float32' as const, shape: [-1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32' as const, shape: [-1, 2] }],
    };
    const front = await serveModel(hybridSequenced(async (i) => i.x as Tensor, { name: 'front', ...io, allowHops: [back.url] }));
    try {
      const viaFront = () => multiRemoteRaw(front.url, [x()], { config: back.url, security: {} });
      setDefaultClientSecurity({});
      await assert.rejects(viaFront(), (e: ModelpipeError) => e.code === 'MP_ERR_HOP' && /bearer token/.test(e.message));
      setDefaultClientSecurity({ token: INFER });
      assert.deepEqual(values((await viaFront())[0]), [2, 4]);
      // RunInference's remote handlers: metadata at load, then batches.
      setDefaultClientSecurity({});
      await assert.rejects(graphPipeUrlHandler(back.url).load(), (e: ModelpipeError) => e.code === 'MP_ERR_UNAUTHENTICATED');
      setDefaultClientSecurity({ token: INFER });
      const h = graphPipeUrlHandler(back.url);
      await h.load();
      const out = await h.runBatch([x()]);
      assert.deepEqual(values((out.predictions[0] as Record<string, Tensor>).y), [2, 4]);
    } finally {
      setDefaultClientSecurity(undefined);
      await front.close();
    }
  });
});
