import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { remoteRaw } from '../../src/client/graphpipe-client.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { edgeCases } from './cases.js';
import { startIdentityServers } from './modelpipe-servers.js';
import { needPeers, pyClient } from './peers.js';

interface PyTensor {
  dtype?: string;
  shape: number[];
  data?: string;
  strings?: string[];
}
interface PyResult {
  outputs?: PyTensor[];
  metadata?: { name: string; server: string; inputs: { name: string; type: number; shape: number[] }[] };
  error?: { type: string; message: string };
}

const py = (spec: object) => pyClient('gpy.py', JSON.stringify(spec)) as Promise<PyResult>;
const npDtype = (t: Tensor) => (t.dtype === 'string' ? undefined : t.dtype);
const toPy = (t: Tensor): PyTensor =>
  t.dtype === 'string'
    ? { shape: [...t.shape], strings: (t.data as Uint8Array[]).map((s) => Buffer.from(s).toString('base64')) }
    : { dtype: npDtype(t) as string, shape: [...t.shape], data: Buffer.from(t.bytes()).toString('base64') };

// graphpipe-py (remote.metadata, execute, execute_multi) against modelpipe's servers.
describe('graphpipe-py client → modelpipe server', { timeout: 240_000, skip: needPeers() }, () => {
  let srv: { url: string; close(): Promise<void> };
  before(async () => {
    srv = await startIdentityServers();
  });
  after(() => srv?.close());

  test('metadata', async () => {
    const r = await py({ op: 'metadata', url: `${srv.url}/models/multi` });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.metadata?.name, 'multi');
    assert.equal(r.metadata?.server, 'modelpipe');
    assert.deepEqual(
      r.metadata?.inputs.map((i) => [i.name, i.type, i.shape]),
      [
        ['a', 10, [-1, -1]],
        ['b', 8, [-1]],
        ['c', 12, [-1]],
      ],
    );
  });

  test('execute: every dtype with its edge values, bit for bit', async () => {
    for (const { name, t } of edgeCases()) {
      const r = await py({ op: 'execute', url: `${srv.url}/models/id-${t.dtype}`, inputs: [toPy(t)] });
      assert.equal(r.error, undefined, `${name}: ${r.error?.message}`);
      assert.deepEqual(r.outputs?.[0], toPy(t), name);
    }
  });

  test('execute_multi: names, several inputs and outputs, config', async () => {
    const a = new Tensor('float32', [1, 2], new Float32Array([1.5, -0]));
    const b = new Tensor('int64', [2], new BigInt64Array([2n ** 63n - 1n, -(2n ** 53n) - 1n]));
    const c = Tensor.fromStrings(['p', 'q'], [2]);
    const r = await py({
      op: 'execute_multi',
      url: `${srv.url}/models/multi`,
      inputs: [c, a, b].map(toPy),
      input_names: ['c', 'a', 'b'],
      output_names: ['ob', 'cfg', 'oa', 'oc'],
      config: 'py ☃',
    });
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual(r.outputs, [b, Tensor.fromStrings(['py ☃'], [1]), a, c].map(toPy));
  });

  test("the errors it raises carry modelpipe's code and message", async () => {
    const wrong = new Tensor('float64', [1, 1], new Float64Array([1]));
    const r = await py({ op: 'execute', url: `${srv.url}/models/id-float32`, inputs: [toPy(wrong)] });
    assert.equal(r.error?.type, 'HTTPError');
    assert.match(r.error?.message ?? '', /^400 Client Error: MP_ERR_INPUT_DTYPE: input x expects float32, got float64 for url/);
  });

  test("squeezenet: the same output as modelpipe's own client", {
    skip: needShared('models/squeezenet1.1.onnx', 'images/mug227.png'),
  }, async () => {
    let squeeze: RunningServer | undefined;
    try {
      squeeze = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }));
      const input = await squeezenetInput(sharedPath('images/mug227.png'));
      const ours = await remoteRaw(squeeze.url, input);
      const r = await py({ op: 'execute', url: squeeze.url, inputs: [toPy(input)] });
      assert.equal(r.error, undefined, r.error?.message);
      assert.deepEqual(r.outputs?.[0], toPy(ours));
    } finally {
      await squeeze?.close();
    }
  });
});
