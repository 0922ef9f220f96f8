import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GraphPipeClient } from '../../src/client/graphpipe-client.js';
import { OipClient, type OipTransport } from '../../src/client/oip-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';
import { type CountingProxy, countingProxy } from './proxy.js';
import { doubled, input, io } from './doubling-model.js';

/**
 * Client objects against a real modelpipe server (a function model) over every
 * protocol and transport, seen through counting relays so that what a client does
 * with its connections is visible from outside: close() releases them, a closed
 * client refuses calls with a stable code, and two clients share nothing.
 */

/** Holds each call of the "gate" model until release() (an in-flight call, without timing). */
function gate() {
  let entered: () => void = () => {};
  let release: () => void = () => {};
  const state = {
    entered: new Promise<void>((r) => {
      entered = r;
    }),
    released: new Promise<void>((r) => {
      release = r;
    }),
  };
  const model = new FunctionModel(
    async (i) => {
      entered();
      await state.released;
      return { y: doubled(i.x as Tensor) };
    },
    { name: 'gate', ...io },
  );
  return { model, entered: state.entered, release: () => release() };
}

async function closedError(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelpipeError, String(e));
    assert.equal(e.code, 'MP_ERR_CLIENT_CLOSED');
    return true;
  });
}

describe('client objects', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let http: CountingProxy;
  let h2: CountingProxy;
  const clients: { close(): Promise<void> }[] = [];
  const track = <C extends { close(): Promise<void> }>(c: C): C => {
    clients.push(c);
    return c;
  };

  before(async () => {
    srv = await serveModel(new FunctionModel((i) => ({ y: doubled(i.x as Tensor) }), { name: 'double', ...io }));
    grpc = new OipGrpcServer({ engine: srv.engine });
    h2 = await countingProxy(await grpc.listen(0));
    http = await countingProxy(Number(new URL(srv.url).port));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([http.close(), h2.close()]);
    await grpc.close();
    await srv.close();
  });

  const gpUrl = () => `http://127.0.0.1:${http.port}`;
  const oipUrl = (t: OipTransport) => (t === 'grpc' ? `grpc://127.0.0.1:${h2.port}` : `http://127.0.0.1:${http.port}`);
  const proxyOf = (t: OipTransport | 'graphpipe') => (t === 'grpc' ? h2 : http);

  test('GraphPipeClient: infer, inferRaw, inferMany, inferManyRaw and metadata', async () => {
    const c = track(new GraphPipeClient(gpUrl()));
    assert.equal((await c.metadata()).name, 'double');
    assert.deepEqual(await c.infer([[1, 2]]), [[2, 4]]);
    assert.deepEqual([...((await c.inferRaw(input())).data as Float32Array)], [3, -4]);
    assert.deepEqual(await c.inferMany([[[0.5, 1]]], { inputNames: ['x'], outputNames: ['y'] }), [[[1, 2]]]);
    const [y] = await c.inferManyRaw([input()]);
    assert.deepEqual([...((y as Tensor).data as Float32Array)], [3, -4]);
  });

  for (const transport of ['rest', 'rest-binary', 'grpc'] as const) {
    test(`OipClient (${transport}): infer, metadata, health, readiness and the extensions`, async () => {
      const c = track(new OipClient(oipUrl(transport), { transport }));
      assert.equal(c.transport, transport);
      const r = await c.infer('double', { x: input() });
      assert.deepEqual([...((r.outputs.y as Tensor).data as Float32Array)], [3, -4]);
      const md = await c.modelMetadata('double');
      assert.deepEqual(
        md.inputs.map((i) => [i.name, i.datatype, i.shape]),
        [['x', 'FP32', [-1, 2]]],
      );
      assert.equal(await c.serverLive(), true);
      assert.equal(await c.serverReady(), true);
      assert.equal(await c.modelReady('double'), true);
      assert.ok((await c.serverMetadata()).extensions.length > 0);
      const stats = await c.modelStatistics('double');
      assert.equal(stats.model_stats?.[0]?.name, 'double');
      assert.equal(typeof (await c.modelConfig('double')), 'object');
      await assert.rejects(c.modelMetadata('nope'), (e: unknown) => e instanceof ModelpipeError && e.code !== 'MP_ERR_CLIENT_CLOSED');
    });
  }

  for (const kind of ['graphpipe', 'rest-binary', 'grpc'] as const) {
    const make = () => (kind === 'graphpipe' ? new GraphPipeClient(gpUrl()) : new OipClient(oipUrl(kind), { transport: kind }));
    const call = (c: GraphPipeClient | OipClient, model = 'double') =>
      c instanceof GraphPipeClient ? c.inferManyRaw([input()]) : c.infer(model, { x: input() });

    test(`${kind}: close() releases the client's connections, and a later call fails with MP_ERR_CLIENT_CLOSED`, async () => {
      const proxy = proxyOf(kind);
      // The earlier tests' clients, closed now rather than left to the server's idle timeout.
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await proxy.drained();
      proxy.resetCount();
      const c = make();
      await Promise.all([call(c), call(c), call(c)]);
      assert.ok(proxy.open() >= 1, 'the client keeps its connection open between calls');
      const opened = proxy.opened();
      const closing = c.close();
      assert.equal(c.close(), closing, 'close() is idempotent: the same promise');
      await closing;
      await proxy.drained();
      assert.equal(proxy.endedByClient(), opened, 'every connection was ended by the client, not the server');
      await closedError(call(c));
      if (c instanceof OipClient) await closedError(c.modelMetadata('double'));
      else await closedError(c.metadata());
    });

    test(`${kind}: a call in flight when close() is called still gets its answer`, async () => {
      // A model that holds its call until released; GraphPipe serves one model at its root.
      const g = gate();
      const one = kind === 'graphpipe' ? await serveModel(g.model) : undefined;
      if (!one) srv.engine.add(`gate-${kind}`, g.model);
      const c = one ? new GraphPipeClient(one.url) : make();
      try {
        const pending = call(c, `gate-${kind}`);
        await g.entered;
        const closing = c.close();
        g.release();
        const out = await pending;
        const y = Array.isArray(out) ? out[0] : out.outputs.y;
        assert.deepEqual([...((y?.data ?? []) as Float32Array)], [3, -4]);
        await closing;
        await closedError(call(c, `gate-${kind}`));
      } finally {
        await one?.close();
      }
    });

    test(`${kind}: a call made just before close(), its connection not yet up, still gets its answer`, async () => {
      const c = make();
      const pending = call(c);
      await c.close();
      const out = await pending;
      assert.equal((Array.isArray(out) ? out[0] : out.outputs.y)?.shape[0], 1);
    });

    test(`${kind}: two clients to the same URL share no connection and no state`, async () => {
      const proxy = proxyOf(kind);
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await proxy.drained();
      proxy.resetCount();
      const a = make();
      const b = track(make());
      await call(a);
      await call(b);
      assert.equal(proxy.opened(), 2, 'one connection each');
      await a.close();
      await closedError(call(a));
      await call(b); // b is unaffected by a's close, and still on its own connection
      assert.equal(proxy.opened(), 2);
    });
  }

  test('an OipClient refuses a transport that does not fit its URL, with a stable code', () => {
    assert.throws(
      () => new OipClient(oipUrl('grpc'), { transport: 'rest' }),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG',
    );
    assert.throws(
      () => new OipClient(gpUrl(), { transport: 'soap' as OipTransport }),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG',
    );
  });
});
