import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { metadata, multiRemoteRaw, remote } from '../../src/client/graphpipe-client.js';
import type { ApplyFn } from '../../src/models/function-model.js';
import { chain, hybridSequenced, serverSequenced } from '../../src/sequencing/sequencing.js';
import { type RunningServer, serve, serveModel } from '../../src/server/serve.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';
import { canon, toWire } from './cases.js';
import { type GoServer, goClient, needPeers, startGoServers, startGraphpipeBatcher } from './peers.js';

const io = {
  inputs: [{ name: 'x', dtype: 'float32' as const, shape: [-1, -1] }],
  outputs: [{ name: 'y', dtype: 'float32' as const, shape: [-1, -1] }],
};
const mapF =
  (f: (v: number) => number): ApplyFn =>
  (inputs) => {
    const x = inputs.x as Tensor;
    return { y: new Tensor('float32', x.shape, Float32Array.from(x.data as Float32Array, f)) };
  };
const ARTICLE = [
  [1, 3],
  [5, 7],
];

describe('sequencing and batching across graphpipe-go and modelpipe', { timeout: 240_000, skip: needPeers() }, () => {
  let goDouble: GoServer;
  let goPlus1: GoServer;
  let mpDouble: RunningServer;
  let mpPlus1: RunningServer;
  before(async () => {
    [goDouble, goPlus1] = (await startGoServers(['double', 'plus1'])) as [GoServer, GoServer];
    mpDouble = await serve(
      mapF((v) => v * 2),
      { name: 'double', ...io },
    );
    mpPlus1 = await serve(
      mapF((v) => v + 1),
      { name: 'plus1', ...io },
    );
  });
  after(async () => {
    await Promise.all([goDouble?.close(), goPlus1?.close(), mpDouble?.close(), mpPlus1?.close()]);
  });

  test("client sequencing: the article's ×2 then +1, each stage on either implementation", async () => {
    for (const [a, b] of [
      [goDouble.url, mpPlus1.url],
      [mpDouble.url, goPlus1.url],
      [goDouble.url, goPlus1.url],
    ] as const) {
      const out = await chain(
        [a, b],
        [
          [0, 1],
          [2, 3],
        ],
      );
      assert.deepEqual(Array.from(out.at(-1)?.data as Float32Array), ARTICLE.flat(), `${a} → ${b}`);
    }
  });

  test('server and hybrid sequencing: a modelpipe stage whose next hop is graphpipe-go, called by graphpipe-go', async () => {
    const server = await serveModel(
      serverSequenced(
        mapF((v) => v * 2),
        goPlus1.url,
        { name: 'srv', ...io },
      ),
    );
    const hybrid = await serveModel(
      hybridSequenced(
        mapF((v) => v * 2),
        { name: 'hyb', ...io, allowHops: [goPlus1.url] },
      ),
    );
    try {
      assert.deepEqual(
        await remote(server.url, [
          [0, 1],
          [2, 3],
        ]),
        ARTICLE,
      );
      const x = toWire(
        fromNested(
          [
            [0, 1],
            [2, 3],
          ],
          'float32',
        ),
      );
      const [s, h] = await goClient([
        { op: 'native', url: server.url, inputs: [x] },
        { op: 'raw', url: hybrid.url, inputs: [x], config: goPlus1.url },
      ]);
      for (const r of [s, h]) {
        assert.equal(r?.error, undefined, r?.error);
        assert.deepEqual(canon(r?.outputs?.[0] as never), canon(fromNested(ARTICLE, 'float32')));
      }
    } finally {
      await Promise.all([server.close(), hybrid.close()]);
    }
  });

  test('modelpipe batcher in front of graphpipe-go gp.Serve: requests pass, rows merged and split', async () => {
    let proc: ChildProcess | undefined;
    try {
      const b = await startPrintingUrl([CLI, 'batcher', '--target', goDouble.url, '--listen', '127.0.0.1:0', '--log-level', 'info']);
      proc = b.proc;
      // Every request valid for the target is answered (the target's metadata says int64 and rank 1).
      const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => remote(b.url, [[i, i + 0.5]])));
      for (const [i, o] of outs.entries()) assert.deepEqual(o, [[2 * i, 2 * i + 1]]);
      // What the target refuses, the batcher reports with the target's message (the target answers).
      await assert.rejects(multiRemoteRaw(b.url, [fromNested([[1]], 'float64')]), /Failed to call apply|reflect/);
      // The batcher's metadata is the target's: not exact, and says so.
      assert.notEqual((await metadata(b.url)).server, 'modelpipe');
      assert.doesNotMatch(b.output(), /pins dimension 0/);
      assert.match(b.output(), /not a modelpipe server: its metadata may be approximate/);
    } finally {
      await stop(proc);
    }
  });

  test('modelpipe batcher in front of modelpipe still validates (exact metadata) and merges', async () => {
    let proc: ChildProcess | undefined;
    try {
      const b = await startPrintingUrl([CLI, 'batcher', '--target', mpDouble.url, '--listen', '127.0.0.1:0']);
      proc = b.proc;
      assert.equal((await metadata(b.url)).server, 'modelpipe');
      await assert.rejects(multiRemoteRaw(b.url, [fromNested([[1]], 'float64')]), /MP_ERR_INPUT_DTYPE|expects float32, got float64/);
      assert.deepEqual(await remote(b.url, [[1, 2]]), [[2, 4]]);
    } finally {
      await stop(proc);
    }
  });

  test("graphpipe-go's graphpipe-batcher in front of modelpipe", async () => {
    const gb = await startGraphpipeBatcher(mpDouble.url, ['x'], ['y']);
    try {
      const outs = await Promise.all(Array.from({ length: 6 }, (_, i) => remote(gb.url, [[i, -i]])));
      for (const [i, o] of outs.entries()) assert.deepEqual(o, [[2 * i, -2 * i]]);
      const [r] = await goClient([{ op: 'native', url: gb.url, inputs: [toWire(fromNested([[3, 4]], 'float32'))] }]);
      assert.equal(r?.error, undefined, r?.error);
      assert.deepEqual(canon(r?.outputs?.[0] as never), canon(fromNested([[6, 8]], 'float32')));
    } finally {
      await gb.close();
    }
  });
});
