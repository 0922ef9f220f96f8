import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, Metadata, type ServiceError, credentials, status } from '@grpc/grpc-js';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { parseModelConfig, toSchedulerOptions } from '../../src/config/index.js';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { inferenceService } from '../../src/protocol/oip/index.js';
import { HttpServer } from '../../src/server/http-server.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

/**
 * The Open Inference Protocol statistics and model configuration extensions, over
 * REST and gRPC (grpc-js's client), against a real ONNX model and a batching one.
 */

const skip = needShared('models/mnist.onnx');

interface Duration {
  count: number | string;
  ns: number | string;
}
interface Stat {
  name: string;
  version: string;
  last_inference: number | string;
  inference_count: number | string;
  execution_count: number | string;
  inference_stats: Record<string, Duration>;
  batch_stats: { batch_size: number | string; compute_input: Duration; compute_infer: Duration; compute_output: Duration }[];
}

function grpcCall<T>(c: Client, method: string, req: object): Promise<T> {
  const fn = (c as unknown as Record<string, (...a: unknown[]) => void>)[method] as (...a: unknown[]) => void;
  return new Promise((resolve, reject) =>
    fn.call(c, req, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (err: unknown, res: unknown) =>
      err ? reject(err) : resolve(res as T),
    ),
  );
}

/** uint64 fields come back from grpc-js as strings: compare as numbers. */
const n = (v: number | string | undefined) => Number(v);

describe('OIP statistics and model configuration extensions', { skip }, () => {
  const engine = new Engine();
  let http: HttpServer;
  let grpc: OipGrpcServer;
  let client: Client;
  let url = '';
  let grpcUrl = '';
  before(async () => {
    engine.add('mnist', await OnnxModel.load({ path: sharedPath('models/mnist.onnx'), name: 'mnist' }));
    const twice = new FunctionModel((i) => ({ y: new Tensor('float32', (i.x as Tensor).shape, (i.x as Tensor).data) }), {
      name: 'twice',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
      instances: 1,
    });
    // Waits long for a batch of 4, so four concurrent requests always make one execution.
    engine.add('twice', twice, { batching: { maxBatchSize: 8, maxQueueDelayUs: 5_000_000, preferredBatchSizes: [4] } });
    http = new HttpServer({ engine });
    await http.listen(0);
    url = http.url;
    grpc = new OipGrpcServer({ engine });
    const port = await grpc.listen(0);
    grpcUrl = `grpc://127.0.0.1:${port}`;
    client = new (inferenceService())(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    closeGrpcClients();
    await grpc?.close();
    await http?.close(); // shuts the engine down too
  });

  const digit = () => ({ Input3: Tensor.zeros('float32', [1, 1, 28, 28]) });
  const getJson = async (path: string) => {
    const r = await fetch(`${url}${path}`);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  test('/v2 lists both extensions', async () => {
    const { body } = await getJson('/v2');
    assert.ok((body.extensions as string[]).includes('statistics'));
    assert.ok((body.extensions as string[]).includes('model_configuration'));
  });

  test('statistics count exactly what was asked, over REST and gRPC, from the /metrics numbers', async () => {
    for (let i = 0; i < 3; i++) await infer(url, 'mnist', digit());
    for (let i = 0; i < 2; i++) await infer(grpcUrl, 'mnist', digit());
    await assert.rejects(infer(url, 'mnist', { Input3: Tensor.zeros('float32', [1, 1, 28, 29]) }));

    const rest = (await getJson('/v2/models/mnist/stats')).body.model_stats as Stat[];
    assert.equal(rest.length, 1);
    const s = rest[0] as Stat;
    assert.equal(s.name, 'mnist');
    assert.equal(s.version, '1');
    assert.equal(s.inference_count, 5);
    assert.equal(s.execution_count, 5);
    const st = s.inference_stats;
    assert.equal(st.success?.count, 5);
    assert.equal(st.fail?.count, 1);
    for (const phase of ['queue', 'compute_input', 'compute_infer', 'compute_output']) assert.equal(st[phase]?.count, 5, phase);
    assert.ok(n(st.success?.ns) > 0 && n(st.compute_infer?.ns) > 0 && n(st.fail?.ns) > 0);
    const parts = ['queue', 'compute_input', 'compute_infer', 'compute_output'].reduce((t, p) => t + n(st[p]?.ns), 0);
    assert.ok(parts <= n(st.success?.ns) + 4, `phases ${parts} ns within the requests' total ${st.success?.ns} ns`);
    assert.deepEqual(
      s.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
      [[1, 5]],
    );
    assert.ok(Math.abs(Date.now() - n(s.last_inference)) < 60_000);

    // One source: the compute phase of /metrics is the same sum.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const sum = /modelpipe_request_duration_seconds_sum\{model="mnist",phase="compute"\} (\S+)/.exec(metrics)?.[1];
    assert.equal(Math.round(Number(sum) * 1e9), n(st.compute_infer?.ns));

    const viaGrpc = await grpcCall<{ model_stats: Stat[] }>(client, 'ModelStatistics', { name: 'mnist' });
    const g = viaGrpc.model_stats[0] as Stat;
    assert.equal(n(g.inference_count), 5);
    assert.equal(n(g.execution_count), 5);
    assert.equal(n(g.inference_stats.success?.count), 5);
    assert.equal(n(g.inference_stats.compute_infer?.ns), n(st.compute_infer?.ns));
    assert.deepEqual(
      g.batch_stats.map((b) => n(b.batch_size)),
      [1],
    );
    const version = (await getJson('/v2/models/mnist/versions/1/stats')).body.model_stats as Stat[];
    assert.equal(version[0]?.inference_count, 5);
  });

  test('a merged batch counts once per execution and per row per inference', async () => {
    const row = () => ({ x: Tensor.zeros('float32', [1, 2]) });
    await Promise.all([1, 2, 3, 4].map(() => infer(url, 'twice', row())));
    const s = ((await getJson('/v2/models/twice/stats')).body.model_stats as Stat[])[0] as Stat;
    assert.equal(s.inference_count, 4);
    assert.equal(s.execution_count, 1);
    assert.equal(s.inference_stats.success?.count, 4);
    assert.deepEqual(
      s.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
      [[4, 1]],
    );
    const all = (await getJson('/v2/models/stats')).body.model_stats as Stat[];
    assert.deepEqual(all.map((x) => x.name).sort(), ['mnist', 'twice']);
  });

  test('model configuration in Triton field names, over REST and gRPC', async () => {
    const { status: code, body: mnist } = await getJson('/v2/models/mnist/config');
    assert.equal(code, 200);
    assert.equal(mnist.name, 'mnist');
    assert.equal(mnist.max_batch_size, 0);
    assert.deepEqual(mnist.input, [{ name: 'Input3', data_type: 'TYPE_FP32', dims: [1, 1, 28, 28] }]);
    assert.deepEqual(mnist.output, [{ name: 'Plus214_Output_0', data_type: 'TYPE_FP32', dims: [1, 10] }]);
    assert.deepEqual(mnist.instance_group, [{ name: 'mnist', count: 1, kind: 'KIND_CPU' }]);
    assert.equal(mnist.dynamic_batching, undefined);

    const twice = (await getJson('/v2/models/twice/config')).body;
    assert.equal(twice.max_batch_size, 8);
    assert.deepEqual(twice.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }]);
    assert.deepEqual(twice.dynamic_batching, {
      preferred_batch_size: [4],
      max_queue_delay_microseconds: 5_000_000,
      default_queue_policy: {
        timeout_action: 'REJECT',
        default_timeout_microseconds: 30_000_000,
        allow_timeout_override: true,
        max_queue_size: 1024,
      },
    });

    const g = await grpcCall<{ config: Record<string, unknown> }>(client, 'ModelConfig', { name: 'twice' });
    assert.equal(g.config.name, 'twice');
    assert.equal(g.config.max_batch_size, 8);
    const input = (g.config.input as { name: string; data_type: string; dims: string[] }[])[0];
    assert.deepEqual([input?.name, input?.data_type, input?.dims.map(Number)], ['x', 'TYPE_FP32', [2]]);
    const group = (g.config.instance_group as { count: number; kind: string }[])[0];
    assert.deepEqual([group?.count, group?.kind], [1, 'KIND_CPU']);
    const db = g.config.dynamic_batching as { max_queue_delay_microseconds: string; preferred_batch_size: number[] };
    assert.deepEqual([Number(db.max_queue_delay_microseconds), db.preferred_batch_size], [5_000_000, [4]]);
  });

  test('unknown models: 404 over REST, NOT_FOUND over gRPC', async () => {
    assert.equal((await getJson('/v2/models/nope/stats')).status, 404);
    assert.equal((await getJson('/v2/models/nope/config')).status, 404);
    assert.equal((await getJson('/v2/models/mnist/versions/9/stats')).status, 404);
    for (const method of ['ModelStatistics', 'ModelConfig']) {
      const err = (await grpcCall(client, method, { name: 'nope' }).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      )) as ServiceError;
      assert.equal(err.code, status.NOT_FOUND, `${method}: ${err.message}`);
    }
  });
});

describe('OIP model configuration: the config a model was added with', () => {
  const engine = new Engine();
  let http: HttpServer;
  let grpc: OipGrpcServer;
  let client: Client;
  before(async () => {
    const model = new FunctionModel((i) => ({ y: i.x as Tensor }), {
      name: 'configured',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
      instances: 1,
    });
    // Added as a server adds a model: its config parsed, converted once, kept for /config.
    const config = parseModelConfig({
      max_batch_size: 6,
      dynamic_batching: { default_queue_policy: { max_queue_size: 0 } },
      version_policy: { specific: { versions: [2] } },
      parameters: { owner: { string_value: 'tests' } },
      modelpipe: { description: 'configured', max_abandoned_runs: 5 },
    });
    engine.add('configured', model, { ...toSchedulerOptions(config, model.batchable), config });
    http = new HttpServer({ engine });
    await http.listen(0);
    grpc = new OipGrpcServer({ engine });
    client = new (inferenceService())(`127.0.0.1:${await grpc.listen(0)}`, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await grpc?.close();
    await http?.close();
  });
  const getJson = async (path: string) => ({ body: (await (await fetch(`${http.url}${path}`)).json()) as Record<string, unknown> });

  test('Triton fields over REST and gRPC, modelpipe fields over REST', async () => {
    const rest = (await getJson('/v2/models/configured/config')).body;
    assert.equal(rest.max_batch_size, 6);
    assert.equal((rest.dynamic_batching as { default_queue_policy: { max_queue_size: number } }).default_queue_policy.max_queue_size, 0);
    assert.deepEqual(rest.version_policy, { specific: { versions: ['2'] } });
    assert.deepEqual(rest.parameters, { owner: { string_value: 'tests' } });
    assert.deepEqual(rest.modelpipe, { description: 'configured', fanout: true, max_abandoned_runs: 5 });
    const g = (await grpcCall<{ config: Record<string, unknown> }>(client, 'ModelConfig', { name: 'configured' })).config;
    assert.equal(g.max_batch_size, 6);
    const policy = g.version_policy as { specific: { versions: string[] } };
    assert.deepEqual(policy.specific.versions.map(Number), [2]);
    assert.deepEqual(g.parameters, { owner: { string_value: 'tests' } });
  });
});
