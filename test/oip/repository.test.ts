import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { closeGrpcClients, infer, modelMetadata, modelReady } from '../../src/client/oip-client.js';
import { Engine } from '../../src/core/engine.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { ModelRepository } from '../../src/repository/index.js';
import { GraphPipeFrontend } from '../../src/server/graphpipe-frontend.js';
import { HttpServer } from '../../src/server/http-server.js';
import { OipFrontend } from '../../src/server/oip-frontend.js';
import { RepositoryFrontend } from '../../src/server/repository-frontend.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const skip = needShared('models/squeezenet1.1.onnx', 'models/mnist.onnx');

function place(dir: string, name: string, version: string, model: string): void {
  mkdirSync(join(dir, name, version), { recursive: true });
  symlinkSync(sharedPath(`models/${model}`), join(dir, name, version, 'model.onnx'));
}

async function post(url: string, path: string): Promise<{ status: number; json: unknown }> {
  const r = await request(`${url}${path}`, { method: 'POST' });
  return { status: r.statusCode, json: await r.body.json() };
}

describe('model repository', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-repo-'));
  let engine: Engine;
  let repo: ModelRepository;
  let http: HttpServer;
  let url = '';
  before(async () => {
    place(dir, 'squeezenet', '1', 'squeezenet1.1.onnx');
    place(dir, 'mnist', '1', 'mnist.onnx');
    place(dir, 'mnist', '2', 'mnist.onnx');
    place(dir, 'mnist', '3', 'mnist.onnx');
    writeFileSync(
      join(dir, 'mnist', 'config.json'),
      JSON.stringify({ version_policy: { latest: 2 }, description: 'digits', labels: ['0', '1'], app: { preset: 'mnist' } }),
    );
    // A model that cannot load: garbage bytes.
    mkdirSync(join(dir, 'broken', '1'), { recursive: true });
    writeFileSync(join(dir, 'broken', '1', 'model.onnx'), 'not an onnx model');
    engine = new Engine();
    repo = new ModelRepository({ dir, engine });
    await repo.loadAll();
    engine.defaultModel = 'squeezenet';
    http = new HttpServer({
      engine,
      frontends: [new RepositoryFrontend(repo), new OipFrontend({ directory: repo }), new GraphPipeFrontend()],
    });
    await http.listen(0);
    url = http.url;
  });
  after(async () => {
    closeGrpcClients();
    await http?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('serves two models at once, each under OIP and GraphPipe; the root path serves the default model', async () => {
    const mn = await infer(url, 'mnist', { Input3: Tensor.zeros('float32', [1, 1, 28, 28]) });
    assert.equal(mn.modelVersion, '3');
    assert.deepEqual(mn.outputs.Plus214_Output_0?.shape, [1, 10]);
    const sq = await infer(url, 'squeezenet', { data_0: Tensor.zeros('float32', [1, 3, 224, 224]) });
    assert.deepEqual(sq.outputs.softmaxout_1?.shape, [1, 1000, 1, 1]);
    const [viaGp] = await multiRemoteRaw(`${url}/models/mnist/versions/2`, [Tensor.zeros('float32', [1, 1, 28, 28])]);
    assert.deepEqual(viaGp?.shape, [1, 10]);
    const [root] = await multiRemoteRaw(url, [Tensor.zeros('float32', [1, 3, 224, 224])]);
    assert.deepEqual(root?.shape, [1, 1000, 1, 1]);
  });

  test('version policy latest 2 serves versions 3 and 2, not 1; config fields are carried in metadata', async () => {
    const md = await modelMetadata(url, 'mnist');
    assert.deepEqual(md.versions, ['3', '2']);
    assert.equal(md.platform, 'onnxruntime_onnx');
    assert.deepEqual(md.parameters, { description: 'digits', preset: 'mnist', labels: ['0', '1'] });
    assert.equal(await modelReady(url, 'mnist', { version: '2' }), true);
    await assert.rejects(modelReady(url, 'mnist', { version: '1' }), (e: unknown) => e instanceof ModelpipeError && e.status === 404);
    const r = await infer(url, 'mnist', { Input3: Tensor.zeros('float32', [1, 1, 28, 28]) }, { version: '2' });
    assert.equal(r.modelVersion, '2');
  });

  test('a model that fails to load is not ready, with the loader message, and the others serve', async () => {
    assert.equal(await modelReady(url, 'broken'), false);
    const ready = await request(`${url}/v2/models/broken/ready`);
    assert.equal(ready.statusCode, 503);
    assert.match(((await ready.body.json()) as { error: string }).error, /failed to load broken version 1/);
    const idx = (await post(url, '/v2/repository/index')).json as { name: string; version?: string; state: string; reason: string }[];
    const broken = idx.find((e) => e.name === 'broken');
    assert.equal(broken?.state, 'UNAVAILABLE');
    assert.match(broken?.reason ?? '', /failed to load broken version 1/);
    assert.deepEqual(
      idx.filter((e) => e.state === 'READY').map((e) => `${e.name}@${e.version}`),
      ['mnist@3', 'mnist@2', 'squeezenet@1'],
    );
    await assert.rejects(
      infer(url, 'broken', { x: [1] }),
      (e: unknown) => e instanceof ModelpipeError && e.status === 503 && /not ready/.test(e.message),
    );
    const load = await post(url, '/v2/repository/models/broken/load');
    assert.equal(load.status, 500);
    assert.match((load.json as { error: string }).error, /failed to load broken/);
  });

  test('model names are validated: no path traversal', async () => {
    const r = await post(url, `/v2/repository/models/${encodeURIComponent('../etc')}/load`);
    assert.equal(r.status, 400);
    assert.match((r.json as { error: string }).error, /invalid model name/);
    assert.equal((await post(url, '/v2/repository/models/absent/load')).status, 404);
  });

  test('unload and load under concurrent traffic: 8 clients, 3 reloads, zero failed requests', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const input = { Input3: Tensor.zeros('float32', [1, 1, 28, 28]) };
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          await infer(url, 'mnist', input);
          ok++;
        } catch (err: unknown) {
          failures.push((err as Error).message);
        }
      }
    });
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const r = await post(url, '/v2/repository/models/mnist/load');
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(failures, []);
    assert.ok(ok > 20, `only ${ok} requests completed`);
    // Old entries were drained and removed: one engine entry per served version.
    assert.equal(engine.names().filter((n) => n.startsWith('mnist@')).length, 2);
    // Unload: the model answers 404/503 at once, other models keep serving; load brings it back.
    assert.equal((await post(url, '/v2/repository/models/mnist/unload')).status, 200);
    await assert.rejects(infer(url, 'mnist', input), (e: unknown) => e instanceof ModelpipeError && e.status === 503);
    assert.equal(engine.names().filter((n) => n.startsWith('mnist@')).length, 0);
    await infer(url, 'squeezenet', { data_0: Tensor.zeros('float32', [1, 3, 224, 224]) });
    assert.equal((await post(url, '/v2/repository/models/mnist/load')).status, 200);
    assert.equal((await infer(url, 'mnist', input)).modelVersion, '3');
  });

  test('polling picks up a new model and a removed one', async () => {
    place(dir, 'mnist2', '1', 'mnist.onnx');
    await repo.rescan();
    assert.equal(await modelReady(url, 'mnist2'), true);
    rmSync(join(dir, 'mnist2'), { recursive: true });
    await repo.rescan();
    assert.equal(await modelReady(url, 'mnist2'), false);
  });
});

test('config.json is checked: typos fail the load with the file named', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-repo-'));
  try {
    mkdirSync(join(dir, 'm', '1'), { recursive: true });
    copyFileSync(sharedPath('models/mnist.onnx'), join(dir, 'm', '1', 'model.onnx'));
    writeFileSync(join(dir, 'm', 'config.json'), '{"instanses": 2}');
    const repo = new ModelRepository({ dir, engine: new Engine() });
    await assert.rejects(repo.load('m'), /m\/config.json: unknown field "instanses"/);
    assert.equal(repo.status('m')?.state, 'UNAVAILABLE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
