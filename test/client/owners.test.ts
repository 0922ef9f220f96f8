import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { GraphPipeClient } from '../../src/client/graphpipe-client.js';
import * as api from '../../src/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { RemoteModel } from '../../src/models/remote-model.js';
import { graphPipeUrlHandler, openInferenceUrlHandler } from '../../src/runinference/remote-url-handlers.js';
import { hybridSequenced, serverSequenced } from '../../src/sequencing/sequencing.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';
import { DIST, runNode } from '../helpers/spawn.js';
import { doubled, input, io } from './doubling-model.js';
import { type CountingProxy, countingProxy } from './proxy.js';

/**
 * Whoever owns a client closes it: a remote model when it is closed (the engine does
 * on unload and shutdown), sequencing hops with their model, RunInference URL handlers
 * at unload. Seen from a counting relay in front of the backend: every connection the
 * owner opened is ended by the client side once the owner is done.
 */

const values = (t: Tensor | undefined) => [...((t?.data ?? []) as Float32Array)];

describe('owners close their clients', () => {
  let back: RunningServer;
  let grpc: OipGrpcServer;
  let http: CountingProxy;
  let h2: CountingProxy;

  before(async () => {
    back = await serveModel(new FunctionModel((i) => ({ y: doubled(i.x as Tensor) }), { name: 'double', ...io }));
    grpc = new OipGrpcServer({ engine: back.engine });
    h2 = await countingProxy(await grpc.listen(0));
    http = await countingProxy(Number(new URL(back.url).port));
  });
  after(async () => {
    await Promise.all([http.close(), h2.close()]);
    await grpc.close();
    await back.close();
  });
  const viaHttp = () => `http://127.0.0.1:${http.port}`;

  /** Runs `use`, then `done`, and checks the relay saw the owner open and then end its connections. */
  async function released(proxy: CountingProxy, use: () => Promise<void>, done: () => Promise<void>): Promise<void> {
    await proxy.drained();
    proxy.resetCount();
    await use();
    assert.ok(proxy.opened() >= 1, 'the owner connected through the relay');
    await done();
    await proxy.drained();
    assert.equal(proxy.endedByClient(), proxy.opened(), 'every connection was ended by the client side');
  }

  test('a RemoteModel closes its client when its server shuts down', async () => {
    let front: RunningServer | undefined;
    await released(
      http,
      async () => {
        front = await serveModel(await RemoteModel.connect({ url: viaHttp() }));
        const c = new GraphPipeClient(front.url);
        assert.deepEqual(values((await c.inferManyRaw([input()]))[0]), [3, -4]);
        await c.close();
      },
      async () => front?.close(),
    );
  });

  test('server and hybrid sequencing close their hop clients with the model', async () => {
    const identity = (i: Record<string, unknown>) => i.x as Tensor;
    for (const model of [
      serverSequenced(identity, viaHttp(), { name: 'front', ...io }),
      hybridSequenced(identity, { name: 'front', ...io, allowHops: [viaHttp()] }),
    ]) {
      let front: RunningServer | undefined;
      await released(
        http,
        async () => {
          front = await serveModel(model);
          const c = new GraphPipeClient(front.url);
          assert.deepEqual(values((await c.inferManyRaw([input()], { config: viaHttp() }))[0]), [3, -4]);
          await c.close();
        },
        async () => front?.close(),
      );
    }
  });

  test('RunInference URL handlers hold a client from load() to unload(), and load again after', async () => {
    const handlers = [
      { proxy: http, h: graphPipeUrlHandler(viaHttp()) },
      { proxy: h2, h: openInferenceUrlHandler(`grpc://127.0.0.1:${h2.port}`, { model: 'double', inputName: 'x' }) },
    ];
    for (const { proxy, h } of handlers) {
      const run = async () => {
        await h.load();
        const r = await h.runBatch([input(), input()]);
        assert.equal(r.predictions.length, 2);
        assert.deepEqual(values(r.predictions[1]?.y), [3, -4]);
      };
      await released(proxy, run, async () => h.unload?.());
      await released(proxy, run, async () => h.unload?.()); // a second life on a fresh client
    }
  });

  test('the functional helpers share pools that closeDefaultClients (and the deprecated closeGrpcClients) close', async () => {
    await released(
      http,
      async () => {
        assert.deepEqual(values((await api.graphPipeMultiRemoteRaw(viaHttp(), [input()]))[0]), [3, -4]);
        assert.equal((await api.oipInfer(viaHttp(), 'double', { x: input() })).outputs.y?.shape[0], 1);
      },
      () => api.closeDefaultClients(),
    );
    await released(
      h2,
      async () => {
        await api.oipInfer(`grpc://127.0.0.1:${h2.port}`, 'double', { x: input() });
      },
      () => api.closeGrpcClients(),
    );
    // Later calls open fresh ones.
    assert.equal(await api.oipServerLive(`grpc://127.0.0.1:${h2.port}`), true);
    await api.closeDefaultClients();
  });

  test('the old names still work, as aliases of the protocol-named ones', async () => {
    assert.equal(api.remote, api.graphPipeRemote);
    assert.equal(api.remoteRaw, api.graphPipeRemoteRaw);
    assert.equal(api.multiRemote, api.graphPipeMultiRemote);
    assert.equal(api.multiRemoteRaw, api.graphPipeMultiRemoteRaw);
    assert.equal(api.metadata, api.graphPipeMetadata);
    assert.equal(api.infer, api.oipInfer);
    assert.equal(api.modelMetadata, api.oipModelMetadata);
    assert.equal(api.modelReady, api.oipModelReady);
    assert.equal(api.serverLive, api.oipServerLive);
    assert.equal(api.serverReady, api.oipServerReady);
    assert.deepEqual(await api.remote(back.url, [[1, 2]]), [[2, 4]]);
    assert.equal((await api.metadata(back.url)).name, 'double');
    assert.equal((await api.modelMetadata(back.url, 'double')).name, 'double');
    await api.closeGrpcClients();
  });

  test('a process that closes its clients exits by itself, without process.exit', { timeout: 25_000 }, async () => {
    // Two ways this fails: close() holding something that keeps the process alive (the
    // child hangs past the timeout), or close() waiting on something that does not (an
    // unref'd HTTP/2 session: the child exits before close() settles, without 'done').
    const dir = mkdtempSync(join(tmpdir(), 'mp-client-exit-'));
    try {
      const lib = (p: string) => pathToFileURL(join(DIST, 'src', p)).href;
      const script = join(dir, 'child.mjs');
      writeFileSync(
        script,
        `import { GraphPipeClient } from '${lib('client/graphpipe-client.js')}';
import { OipClient } from '${lib('client/oip-client.js')}';
import { Tensor } from '${lib('tensor/index.js')}';
const [gp, grpc] = process.argv.slice(2);
const x = new Tensor('float32', [1, 2], new Float32Array([1, 2]));
const clients = [new GraphPipeClient(gp), new OipClient(gp), new OipClient(grpc)];
await clients[0].inferManyRaw([x]);
await clients[1].infer('double', { x });
await clients[2].infer('double', { x });
await Promise.all(clients.map((c) => c.close()));
console.log('done');
`,
      );
      const r = await runNode([script, back.url, `grpc://127.0.0.1:${h2.port}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'done');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
