import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import {
  type DeadLetter,
  Flow,
  graphPipeHandler,
  graphPipeUrlHandler,
  openInferenceHandler,
  openInferenceUrlHandler,
  presetPreprocess,
  runPipelineFile,
  top1,
  withPostprocess,
  withPreprocess,
} from '../../src/runinference/index.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

/**
 * Remote handlers end to end: a real modelpipe server (GraphPipe and OIP REST on one port,
 * OIP gRPC beside it on the same engine) serving the shared squeezenet, and the handlers
 * on modelpipe's own clients.
 */
const skip = needShared('models/squeezenet1.1.onnx', 'images/mug227.png', 'images/hummingbird.jpg', 'images/dog.jpg', 'images/fish.png');
const IMAGES: [string, number][] = [
  ['mug227.png', 504],
  ['hummingbird.jpg', 94],
  ['dog.jpg', 207],
  ['fish.png', 0],
];
const MODEL = 'squeezenet1.1'; // the served name: the file's stem
const isCode = (code: string) => (e: unknown) => e instanceof ModelpipeError && e.code === code;

let srv: RunningServer;
let grpc: OipGrpcServer;
let grpcUrl = '';
let dir = '';
before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'runinf-remote-'));
  srv = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }));
  grpc = new OipGrpcServer({ engine: srv.engine });
  grpcUrl = `grpc://127.0.0.1:${await grpc.listen(0)}`;
});
after(async () => {
  closeGrpcClients();
  await grpc?.close();
  await srv?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Successful inference requests the server has answered so far, over every protocol. */
async function served(): Promise<number> {
  const m = await srv.engine.metrics.requests.get();
  return m.values.filter((v) => v.labels.outcome === 'ok').reduce((a, v) => a + v.value, 0);
}

describe('remote handlers against a real modelpipe server', { skip }, () => {
  const pre = presetPreprocess('squeezenet');
  const image = async (n: string) => pre(await readFile(sharedPath(`images/${n}`)));

  it('GraphPipe, OIP REST (binary) and OIP gRPC classify the shared images, one request per batch', async () => {
    const handlers = [
      ['graphpipe', graphPipeUrlHandler(srv.url)],
      ['oip rest', openInferenceUrlHandler(srv.url, { model: MODEL })],
      ['oip grpc', openInferenceUrlHandler(grpcUrl, { model: MODEL, version: '1' })],
    ] as const;
    for (const [what, h] of handlers) {
      const classify = withPostprocess(withPreprocess(h, image), (out) => top1(out.softmaxout_1 as Tensor).index);
      const n0 = await served();
      const out = await Flow.from(IMAGES.map(([n]) => n))
        .runInference(classify, { maxBatchSize: 4, minBatchSize: 4, maxWaitMs: 5000 })
        .collect();
      assert.deepEqual(
        out.map((r) => [r.example, r.inference]),
        IMAGES,
        what,
      );
      assert.equal((await served()) - n0, 1, `${what}: one request for the batch of 4`);
    }
    assert.equal(handlers[0][1].modelId, srv.url);
    assert.equal(handlers[2][1].modelId, `${MODEL}/1`);
  });

  it('names inputs: bare tensors use the default (GraphPipe) or the only input (OIP metadata)', async () => {
    const mug = await image('mug227.png');
    for (const h of [graphPipeUrlHandler(srv.url, { outputs: ['softmaxout_1'] }), openInferenceUrlHandler(grpcUrl, { model: MODEL })]) {
      await h.load();
      for (const x of [mug, { data_0: mug }]) {
        const r = await h.runBatch([x]);
        assert.equal(top1(r.predictions[0]?.softmaxout_1 as Tensor).index, 504);
      }
    }
    // Without metadata (a plain RemoteInfer on the real client), OIP has no default input.
    const bare = openInferenceHandler(async (inputs) => (await infer(srv.url, MODEL, inputs)).outputs, { modelId: MODEL });
    const dead: DeadLetter[] = [];
    await Flow.from([mug])
      .runInference(bare, { deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.equal(dead[0]?.error.code, 'MP_ERR_MISSING_INPUT');
  });

  it('server errors are per-batch dead letters with the server code; an unreachable server fails at load', async () => {
    const dead: DeadLetter[] = [];
    const wrong = new Tensor('float32', [1, 3, 10, 10], new Float32Array(300));
    for (const h of [graphPipeUrlHandler(srv.url), openInferenceUrlHandler(srv.url, { model: MODEL })]) {
      await Flow.from([wrong])
        .runInference(h, { deadLetter: (d) => void dead.push(d) })
        .collect();
    }
    assert.deepEqual(
      dead.map((d) => [d.stage, d.error.code]),
      [
        ['inference', 'MP_ERR_INPUT_DIM'],
        ['inference', 'MP_ERR_INPUT_DIM'],
      ],
    );
    await assert.rejects(
      Flow.from([wrong])
        .runInference(openInferenceUrlHandler(srv.url, { model: 'nope' }))
        .collect(),
      isCode('MP_ERR_UNKNOWN_MODEL'),
    );
    // Port 1 on loopback: nothing listens there.
    await assert.rejects(Flow.from([wrong]).runInference(graphPipeUrlHandler('http://127.0.0.1:1')).collect(), isCode('MP_ERR_CONNECT'));
    // A response that does not match the batch is refused, whatever the transport.
    const short = graphPipeHandler(async () => ({ out: Tensor.zeros('float32', [1, 2]) }), { modelId: 'short' });
    dead.length = 0;
    await Flow.from([wrong, wrong])
      .runInference(short, { minBatchSize: 2, deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.deepEqual(
      dead.map((d) => d.error.code),
      ['MP_ERR_BAD_RESPONSE', 'MP_ERR_BAD_RESPONSE'],
    );
  });

  it('JSON pipeline files take remote handlers (graphpipe and oip over gRPC)', async () => {
    const handlers = [
      { type: 'graphpipe', url: srv.url, preset: 'squeezenet', outputs: ['softmaxout_1'] },
      { type: 'oip', url: grpcUrl, model: MODEL, preset: 'squeezenet' },
    ];
    for (const [i, handler] of handlers.entries()) {
      const db = join(dir, `remote${i}.db`);
      const path = join(dir, `remote${i}.json`);
      await writeFile(
        path,
        JSON.stringify({
          source: { type: 'files', glob: join(sharedPath('images'), '*.{png,jpg}') },
          handler,
          batching: { maxBatchSize: 4 },
          sink: { type: 'sqlite', path: db },
          progress: false,
          summary: false,
        }),
      );
      const report = await runPipelineFile(path);
      assert.equal(report.items, 4, handler.type);
      const rows = new Database(db, { readonly: true }).prepare('SELECT key, inference FROM predictions').all() as {
        key: string;
        inference: string;
      }[];
      for (const [name, cls] of IMAGES) {
        const row = rows.find((r) => r.key.endsWith(`/${name}`));
        const probs = (JSON.parse(row?.inference ?? '{}') as { softmaxout_1: number[][][][] }).softmaxout_1;
        const flat = Float32Array.from((probs?.[0] ?? []).map((c) => c[0]?.[0] as number));
        assert.equal(top1(new Tensor('float32', [flat.length], flat)).index, cls, `${handler.type} ${name}`);
      }
    }
  });
});
