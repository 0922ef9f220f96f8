import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { metadata, multiRemote, remoteRaw } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { type RunningServer, serve } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';
import { argmax, squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('modelpipe batcher in front of a function-model server', () => {
  let target: RunningServer;
  let proxy: ChildProcess | undefined;
  let url = '';
  const calls: { rows: number; config: string }[] = [];
  before(async () => {
    target = await serve(
      async (inputs, config) => {
        const words = inputs.words as Tensor;
        calls.push({ rows: words.shape[0] as number, config });
        if (config === 'explode') throw new Error('upstream model exploded');
        await sleep(30);
        return { upper: Tensor.fromStrings(words.strings().map((w) => `${w.toUpperCase()}${config}`)) };
      },
      {
        name: 'upper',
        inputs: [{ name: 'words', dtype: 'string', shape: [-1] }],
        outputs: [{ name: 'upper', dtype: 'string', shape: [-1] }],
        scheduler: { batching: undefined },
      },
    );
    const p = await startPrintingUrl([
      CLI,
      'batcher',
      '--target',
      target.url,
      '--listen',
      '127.0.0.1:0',
      '--max-queue-delay-us',
      '20000',
      '--upstream-connections',
      '1',
    ]);
    proxy = p.proc;
    url = p.url;
  });
  after(async () => {
    await stop(proxy);
    await target?.close();
  });

  test('its metadata is the target model', async () => {
    const md = await metadata(url);
    assert.equal(md.name, 'upper');
    assert.deepEqual(md.inputs[0]?.shape, [-1]);
  });

  test('string tensors are merged, forwarded and split back; configs never mixed', async () => {
    calls.length = 0;
    const words = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox'];
    const outs = await Promise.all(words.map((w, i) => multiRemote(url, [Tensor.fromStrings([w])], { config: i % 2 ? '!' : '?' })));
    assert.deepEqual(
      outs.map((o) => (o[0] as string[])[0]),
      words.map((w, i) => `${w.toUpperCase()}${i % 2 ? '!' : '?'}`),
    );
    assert.ok(calls.length < words.length, `expected merged upstream calls, got ${calls.length}`);
    assert.equal(
      calls.reduce((n, c) => n + c.rows, 0),
      words.length,
    );
  });

  test('an upstream error reaches every affected request and names the upstream', async () => {
    const results = await Promise.allSettled([1, 2, 3].map(() => multiRemote(url, [Tensor.fromStrings(['x'])], { config: 'explode' })));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as ModelpipeError;
      assert.ok(e instanceof ModelpipeError);
      assert.match(e.message, new RegExp(`${target.url.replace(/[.]/g, '\\.')}: model upper failed: upstream model exploded`));
    }
  });
});

test('modelpipe batcher in front of a modelpipe ONNX server', {
  skip: needShared('models/squeezenet1.1.onnx', 'images/mug227.png'),
}, async () => {
  const srv = await startPrintingUrl([CLI, 'serve', sharedPath('models/squeezenet1.1.onnx'), '--listen', '127.0.0.1:0', '--no-batch']);
  const px = await startPrintingUrl([
    CLI,
    'batcher',
    '--target',
    srv.url,
    '--listen',
    '127.0.0.1:0',
    '--max-queue-delay-us',
    '50000',
    '--upstream-connections',
    '1',
  ]);
  try {
    const mug = await squeezenetInput(sharedPath('images/mug227.png'));
    const outs = await Promise.all(Array.from({ length: 6 }, () => remoteRaw(px.url, mug)));
    for (const o of outs) assert.equal(argmax(o.data as Float32Array), 504);
    const m = await fetch(`${srv.url}/metrics`).then((r) => r.text());
    const upstream = Number(/modelpipe_requests_total\{model="squeezenet1.1",protocol="graphpipe",outcome="ok"\} (\d+)/.exec(m)?.[1]);
    assert.ok(upstream < 6, `the target should see merged batches, saw ${upstream} requests`);
  } finally {
    await stop(px.proc);
    await stop(srv.proc);
  }
});
