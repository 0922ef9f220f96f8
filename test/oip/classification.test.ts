import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RemoteError } from '../../src/client/errors.js';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { HttpServer } from '../../src/server/http-server.js';
import { labelSource, readLabelsFile } from '../../src/server/oip-classification.js';
import { OipFrontend } from '../../src/server/oip-frontend.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { Tensor } from '../../src/tensor/index.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';

/**
 * The classification extension over REST (JSON and binary) and gRPC: squeezenet
 * with ImageNet labels on a real image, and a function model with exact answers.
 */

const skip = needShared('models/squeezenet1.1.onnx', 'models/imagenet-labels.txt', 'images/mug227.png');
const text = (t: Tensor | undefined) => ((t?.data ?? []) as Uint8Array[]).map((b) => Buffer.from(b).toString());

describe('OIP classification extension', { skip }, () => {
  const engine = new Engine();
  let http: HttpServer;
  let grpc: OipGrpcServer;
  let url = '';
  let grpcUrl = '';
  let repo = '';
  before(async () => {
    engine.add('squeezenet', await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx'), name: 'squeezenet' }));
    // Batched scores [-1, 2, 2]: each row's 4 elements ranked flattened; ties go to the lower index.
    engine.add(
      'scores',
      new FunctionModel((i) => ({ y: i.x as Tensor }), {
        name: 'scores',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2, 2] }],
      }),
    );
    // Labels as `serve --repository` finds them: DIR/<model>/labels.txt (none for scores).
    repo = mkdtempSync(join(tmpdir(), 'mp-classify-'));
    mkdirSync(join(repo, 'squeezenet'));
    writeFileSync(join(repo, 'squeezenet', 'labels.txt'), readLabelsFile(sharedPath('models/imagenet-labels.txt')).join('\n'));
    const labels = labelSource({ repository: repo });
    http = new HttpServer({ engine, frontends: [new OipFrontend(labels ? { labels } : {})] });
    await http.listen(0, '127.0.0.1');
    url = http.url;
    grpc = new OipGrpcServer({ engine, ...(labels ? { labels } : {}) });
    grpcUrl = `grpc://127.0.0.1:${await grpc.listen(0)}`;
  });
  after(async () => {
    closeGrpcClients();
    await grpc?.close();
    await http?.close();
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  test('/v2 lists the extension', async () => {
    const j = (await (await fetch(`${url}/v2`)).json()) as { extensions: string[] };
    assert.ok(j.extensions.includes('classification'));
  });

  for (const [how, target, binary] of [
    ['REST JSON', () => url, false],
    ['REST binary', () => url, true],
    ['gRPC', () => grpcUrl, true],
  ] as const) {
    test(`squeezenet top-3 of a coffee mug, labelled (${how})`, async () => {
      const x = await squeezenetInput(sharedPath('images/mug227.png'));
      const r = await infer(target(), 'squeezenet', { data_0: x }, { outputs: ['softmaxout_1'], classification: 3, binary });
      const y = r.outputs.softmaxout_1;
      assert.equal(y?.dtype, 'string');
      assert.deepEqual(y?.shape, [1, 3]);
      const top = text(y);
      assert.match(top[0] as string, /^0\.\d{6}:504:coffee mug$/);
      const scores = top.map((s) => Number(s.split(':')[0]));
      assert.ok((scores[0] as number) >= (scores[1] as number) && (scores[1] as number) >= (scores[2] as number));
      // Same ranking as the raw scores.
      const raw = await infer(target(), 'squeezenet', { data_0: x }, { outputs: ['softmaxout_1'], binary });
      const p = raw.outputs.softmaxout_1?.data as Float32Array;
      assert.equal((p[504] as number).toFixed(6), top[0]?.split(':')[0]);
    });

    test(`function model: exact ranking per batch row, no labels (${how})`, async () => {
      const x = new Tensor('float32', [2, 2, 2], Float32Array.from([0.1, 0.7, 0.2, 0.7, 5, -1, 3, 2]));
      const r = await infer(target(), 'scores', { x }, { outputs: ['y'], classification: 2, binary });
      assert.deepEqual(r.outputs.y?.shape, [2, 2]);
      assert.deepEqual(text(r.outputs.y), [
        `${Math.fround(0.7).toFixed(6)}:1`,
        `${Math.fround(0.7).toFixed(6)}:3`,
        '5.000000:0',
        '3.000000:2',
      ]);
      // k larger than the row: every element, ranked.
      const all = await infer(target(), 'scores', { x }, { outputs: ['y'], classification: 9, binary });
      assert.deepEqual(all.outputs.y?.shape, [2, 4]);
      assert.deepEqual(text(all.outputs.y).slice(4), ['5.000000:0', '3.000000:2', '2.000000:3', '-1.000000:1']);
    });

    test(`a bad k is a clear 400, not a crash (${how})`, async () => {
      const x = new Tensor('float32', [1, 2, 2], Float32Array.from([1, 2, 3, 4]));
      await assert.rejects(
        infer(target(), 'scores', { x }, { outputs: ['y'], classification: 0, binary }),
        (e: unknown) => e instanceof RemoteError && e.code === 'MP_ERR_BAD_REQUEST' && /classification/.test(e.message),
      );
    });
  }
});

test('readLabelsFile: a missing or oversized file is MP_ERR_BAD_CONFIG naming the file and why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-labels-'));
  try {
    const big = join(dir, 'big.txt');
    writeFileSync(big, '');
    truncateSync(big, 16 * 1024 * 1024 + 1); // sparse: no memory or disk to speak of
    const bad = (why: RegExp) => (e: unknown) =>
      e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG' && e.message.startsWith('cannot read labels ') && why.test(e.message);
    assert.throws(() => readLabelsFile(big), bad(/big\.txt: larger than 16777216 bytes$/));
    assert.throws(() => readLabelsFile(join(dir, 'none.txt')), bad(/none\.txt: .*ENOENT/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
