import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { remoteRaw } from '../../src/client/graphpipe-client.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { DTYPES, Tensor, fromNested } from '../../src/tensor/index.js';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { NUMERIC, canon, edgeCases, large, strings, toWire } from './cases.js';
import { startIdentityServers } from './modelpipe-servers.js';
import { buildGoPeers, goClient, needPeers } from './peers.js';

// graphpipe-go's client (MultiRemoteRaw, MultiRemote, Remote) against modelpipe's servers.
describe('graphpipe-go client → modelpipe server', { timeout: 240_000, skip: needPeers() }, () => {
  let srv: { url: string; close(): Promise<void> };
  const at = (model: string) => `${srv.url}/models/${model}`;
  before(async () => {
    await buildGoPeers();
    srv = await startIdentityServers();
  });
  after(() => srv?.close());

  test('metadata of every typed model: wire types, shapes, names', async () => {
    const dts = [...NUMERIC, 'string'] as const;
    const res = await goClient(dts.map((dt) => ({ op: 'metadata', url: at(`id-${dt}`) })));
    res.forEach((r, i) => {
      const dt = dts[i] as (typeof dts)[number];
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.metadata?.Name, `id-${dt}`);
      assert.equal(r.metadata?.Server, 'modelpipe');
      assert.deepEqual(
        r.metadata?.Inputs.map((x) => [x.Name, x.Type, x.Shape]),
        [['x', DTYPES[dt].wireId, [-1, -1]]],
      );
      assert.deepEqual(
        r.metadata?.Outputs.map((x) => [x.Name, x.Type, x.Shape]),
        [['y', DTYPES[dt].wireId, [-1, -1]]],
      );
    });
  });

  test('MultiRemoteRaw: every dtype with its edge values comes back bit for bit', async () => {
    const cases = [
      ...edgeCases(),
      { name: 'float32 empty', t: new Tensor('float32', [0, 3], new Float32Array(0)) },
      { name: 'int64 empty', t: new Tensor('int64', [2, 0], new BigInt64Array(0)) },
      { name: 'large float32', t: large(1024) },
    ];
    const res = await goClient(cases.map(({ t }) => ({ op: 'raw', url: at(`id-${t.dtype}`), inputs: [toWire(t)] })));
    res.forEach((r, i) => {
      const c = cases[i] as (typeof cases)[number];
      assert.equal(r.error, undefined, `${c.name}: ${r.error}`);
      assert.equal(r.outputs?.length, 1, c.name);
      assert.deepEqual(canon(r.outputs?.[0] as never), canon(c.t), c.name);
    });
  });

  test('MultiRemote and Remote with native Go types (every dtype Go has natively)', async () => {
    // Go has no float16 type: graphpipe-go's native conversion cannot take it.
    const cases = edgeCases().filter((c) => c.name !== 'float16');
    const calls = cases.flatMap(({ t }) => [
      { op: 'native' as const, url: at(`id-${t.dtype}`), inputs: [toWire(t)] },
      { op: 'remote' as const, url: at(`id-${t.dtype}`), inputs: [toWire(t)] },
    ]);
    const res = await goClient(calls);
    res.forEach((r, i) => {
      const c = cases[i >> 1] as (typeof cases)[number];
      const label = `${c.name} ${calls[i]?.op}`;
      assert.equal(r.error, undefined, `${label}: ${r.error}`);
      assert.deepEqual(canon(r.outputs?.[0] as never), canon(c.t), label);
    });
  });

  test('several inputs and outputs, names and a config string', async () => {
    const a = fromNested(
      [
        [1.5, -2],
        [3, 4],
      ],
      'float32',
    );
    const b = new Tensor('int64', [3], new BigInt64Array([2n ** 53n + 1n, -1n, 0n]));
    const c = Tensor.fromStrings(['x', 'y\0z'], [2]);
    const config = 'cfg ☃ with "quotes"';
    const [r] = await goClient([
      {
        op: 'raw',
        url: at('multi'),
        config,
        inputNames: ['c', 'a', 'b'],
        inputs: [c, a, b].map(toWire),
        outputNames: ['cfg', 'ob', 'oa', 'oc'],
      },
    ]);
    assert.equal(r?.error, undefined, r?.error);
    assert.deepEqual(
      r?.outputs?.map((o) => canon(o)),
      [Tensor.fromStrings([config], [1]), b, a, c].map(canon),
    );
  });

  test("modelpipe's errors reach graphpipe-go's client as text, not flatbuffer bytes", async () => {
    const wrong = new Tensor('float64', [1, 2], new Float64Array([1, 2]));
    const [r] = await goClient([{ op: 'raw', url: at('id-float32'), inputs: [toWire(wrong)] }]);
    // graphpipe-go prints a non-200 body as it is: it must be the message itself.
    assert.equal(r?.error, 'Remote failed with 400: input x expects float32, got float64\n');
    const [s] = await goClient([{ op: 'raw', url: at('id-string'), inputs: [toWire(strings())], outputNames: ['nope'] }]);
    assert.match(s?.error ?? '', /^Remote failed with 400: model id-string has no output named "nope"/);
  });

  test("squeezenet: graphpipe-go's client gets modelpipe's own client's output bit for bit", {
    skip: needShared('models/squeezenet1.1.onnx', 'images/mug227.png'),
  }, async () => {
    let squeeze: RunningServer | undefined;
    try {
      squeeze = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }));
      const input = await squeezenetInput(sharedPath('images/mug227.png'));
      const ours = await remoteRaw(squeeze.url, input);
      const [theirs] = await goClient([{ op: 'raw', url: squeeze.url, inputs: [toWire(input)] }]);
      assert.equal(theirs?.error, undefined, theirs?.error);
      assert.deepEqual(canon(theirs?.outputs?.[0] as never), canon(ours));
      assert.deepEqual(ours.shape, [1, 1000, 1, 1]);
    } finally {
      await squeeze?.close();
    }
  });
});
