import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Client, Metadata, type ServiceError, credentials, status } from '@grpc/grpc-js';
import { GrpcChannel } from '../../src/client/grpc-channel.js';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { fieldDataOffset, inferenceService } from '../../src/protocol/oip/index.js';
import { GrpcHttp2Server } from '../../src/server/grpc-transport.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';

/**
 * modelpipe's gRPC server, called by grpc-js's generated client (an independent
 * implementation of gRPC and protobuf) and by raw HTTP/2 for the transport's
 * edge cases: typed and raw contents, large and compressed messages, statuses
 * with metadata, deadlines, limits, non-gRPC requests, and alignment.
 */

type Call = (req: object, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: unknown) => void) => void;

function call<T>(c: Client, method: string, req: object, deadlineMs = 10_000): Promise<T> {
  const fn = (c as unknown as Record<string, Call>)[method] as Call;
  return new Promise((resolve, reject) =>
    fn.call(c, req, new Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  return (await p.then(
    () => assert.fail('expected a failed call'),
    (e: unknown) => e,
  )) as ServiceError;
}

interface InferRes {
  model_name: string;
  outputs: { name: string; datatype: string; shape: string[]; contents: { fp32_contents: number[] } | null }[];
  raw_output_contents: Buffer[];
}

describe('OIP gRPC server, called by the grpc-js client', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let small: OipGrpcServer;
  let client: Client;
  let gzipClient: Client;
  let port = 0;
  before(async () => {
    const twice = new FunctionModel(
      async (i) => {
        const a = i.a as Tensor;
        const b = i.b as Tensor;
        if ((a.data as Float32Array)[0] === -1) await new Promise((r) => setTimeout(r, 3000));
        return {
          a2: new Tensor(
            'float32',
            a.shape,
            (a.data as Float32Array).map((x) => x * 2),
          ),
          b1: new Tensor(
            'int32',
            b.shape,
            (b.data as Int32Array).map((x) => x + 1),
          ),
        };
      },
      {
        name: 'twice',
        inputs: [
          { name: 'a', dtype: 'float32', shape: [-1, -1] },
          { name: 'b', dtype: 'int32', shape: [-1] },
        ],
        outputs: [
          { name: 'a2', dtype: 'float32', shape: [-1, -1] },
          { name: 'b1', dtype: 'int32', shape: [-1] },
        ],
      },
    );
    srv = await serveModel(twice);
    grpc = new OipGrpcServer({ engine: srv.engine });
    port = await grpc.listen(0);
    srv.engine.add(
      'expand',
      new FunctionModel(() => ({ big: new Tensor('float32', [1, 1000], new Float32Array(1000).fill(1)) }), {
        name: 'expand',
        inputs: [{ name: 'x', dtype: 'float32', shape: [1] }],
        outputs: [{ name: 'big', dtype: 'float32', shape: [1, 1000] }],
      }),
    );
    small = new OipGrpcServer({ engine: srv.engine, maxMessageBytes: 1000 });
    const Ctor = inferenceService();
    const opts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
    client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure(), opts);
    gzipClient = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure(), { ...opts, 'grpc.default_compression_algorithm': 2 });
  });
  after(async () => {
    client.close();
    gzipClient.close();
    await grpc.close();
    await small.close();
    await srv.close();
  });

  test('health and metadata', async () => {
    assert.deepEqual(await call(client, 'ServerLive', {}), { live: true });
    assert.deepEqual(await call(client, 'ServerReady', {}), { ready: true });
    assert.deepEqual(await call(client, 'ModelReady', { name: 'twice' }), { ready: true });
    const md = await call<{ name: string; inputs: { name: string; datatype: string }[] }>(client, 'ModelMetadata', { name: 'twice' });
    assert.equal(md.name, 'twice');
    assert.deepEqual(
      md.inputs.map((i) => [i.name, i.datatype]),
      [
        ['a', 'FP32'],
        ['b', 'INT32'],
      ],
    );
  });

  const inputs = [
    { name: 'a', datatype: 'FP32', shape: [2, 2] },
    { name: 'b', datatype: 'INT32', shape: [3] },
  ];

  test('typed contents in, typed contents out', async () => {
    const r = await call<InferRes>(client, 'ModelInfer', {
      model_name: 'twice',
      inputs: [
        { ...inputs[0], contents: { fp32_contents: [1, 2, 3, 4] } },
        { ...inputs[1], contents: { int_contents: [7, 8, 9] } },
      ],
    });
    assert.equal(r.model_name, 'twice');
    assert.deepEqual(r.outputs[0]?.contents?.fp32_contents, [2, 4, 6, 8]);
    assert.deepEqual(r.raw_output_contents, []);
  });

  test('raw contents, two inputs (the second unaligned), gzip-compressed too', async () => {
    for (const c of [client, gzipClient]) {
      const r = await call<InferRes>(c, 'ModelInfer', {
        model_name: 'twice',
        inputs,
        raw_input_contents: [Buffer.from(new Float32Array([1, 2, 3, 4]).buffer), Buffer.from(new Int32Array([-5, 0, 5]).buffer)],
      });
      const [a2, b1] = r.raw_output_contents.map((b) => Buffer.from(b));
      assert.deepEqual([...new Float32Array((a2 as Buffer).buffer.slice(a2?.byteOffset, (a2?.byteOffset ?? 0) + 16))], [2, 4, 6, 8]);
      assert.deepEqual([...new Int32Array((b1 as Buffer).buffer.slice(b1?.byteOffset, (b1?.byteOffset ?? 0) + 12))], [-4, 1, 6]);
    }
  });

  test('a 12 MB raw tensor (beyond gRPC’s customary 4 MB) both ways', async () => {
    const n = 3 * 1024 * 1024;
    const a = new Float32Array(n).map((_, i) => i % 1000);
    const r = await call<InferRes>(client, 'ModelInfer', {
      model_name: 'twice',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [1, n] },
        { name: 'b', datatype: 'INT32', shape: [1] },
      ],
      raw_input_contents: [Buffer.from(a.buffer), Buffer.from(new Int32Array([1]).buffer)],
    });
    const out = Buffer.from(r.raw_output_contents[0] as Buffer);
    const got = new Float32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i += 9973) assert.equal(got[i], (i % 1000) * 2);
  });

  test('errors carry the status, the message and modelpipe’s code in metadata', async () => {
    const unknown = await grpcError(
      call(client, 'ModelInfer', { model_name: 'nope', inputs, raw_input_contents: [Buffer.alloc(16), Buffer.alloc(12)] }),
    );
    assert.equal(unknown.code, status.NOT_FOUND);
    assert.match(unknown.details, /nope/);
    assert.deepEqual(unknown.metadata.get('x-modelpipe-error'), ['MP_ERR_UNKNOWN_MODEL']);
    const dtype = await grpcError(
      call(client, 'ModelInfer', {
        model_name: 'twice',
        inputs: [
          { name: 'a', datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [1] } },
          { name: 'b', datatype: 'INT32', shape: [1], contents: { int_contents: [1] } },
        ],
      }),
    );
    assert.equal(dtype.code, status.INVALID_ARGUMENT);
    assert.deepEqual(dtype.metadata.get('x-modelpipe-error'), ['MP_ERR_INPUT_DTYPE']);
  });

  test('the client’s deadline ends a slow call promptly', async () => {
    const t0 = performance.now();
    const err = await grpcError(
      call(
        client,
        'ModelInfer',
        {
          model_name: 'twice',
          inputs: [
            { name: 'a', datatype: 'FP32', shape: [1, 1], contents: { fp32_contents: [-1] } },
            { name: 'b', datatype: 'INT32', shape: [1], contents: { int_contents: [1] } },
          ],
        },
        200,
      ),
    );
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    assert.ok(performance.now() - t0 < 2000);
  });

  test('a message over the limit, either way, is RESOURCE_EXHAUSTED and the server goes on', async () => {
    const p = await small.listen(0);
    const c = new (inferenceService())(`127.0.0.1:${p}`, credentials.createInsecure());
    try {
      const err = await grpcError(
        call(c, 'ModelInfer', { model_name: 'twice', inputs, raw_input_contents: [Buffer.alloc(4000), Buffer.alloc(12)] }),
      );
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.details, /exceeds the limit of 1000 bytes/);
      const big = await grpcError(
        call(c, 'ModelInfer', {
          model_name: 'expand',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
        }),
      );
      assert.equal(big.code, status.RESOURCE_EXHAUSTED);
      assert.match(big.details, /response of \d+ bytes exceeds the limit of 1000 bytes/);
      assert.deepEqual(await call(c, 'ServerLive', {}), { live: true });
    } finally {
      c.close();
    }
  });

  test('modelpipe’s OIP client: a response over its maxResponseBytes is refused with a clear error', async () => {
    const url = `grpc://127.0.0.1:${port}`;
    const ok = await infer(url, 'expand', { x: new Tensor('float32', [1], new Float32Array([1])) });
    assert.deepEqual(ok.outputs.big?.shape, [1, 1000]);
    await assert.rejects(infer(url, 'expand', { x: new Tensor('float32', [1], new Float32Array([1])) }, { maxResponseBytes: 1000 }), {
      code: 'MP_ERR_REMOTE',
      message: /response of \d+ bytes exceeds the limit of 1000/,
    });
    closeGrpcClients();
  });

  test('unknown methods, non-POST and non-gRPC requests', async () => {
    const ch = new GrpcChannel(`127.0.0.1:${port}`);
    const err = await ch
      .unary('/inference.GRPCInferenceService/RepositoryIndex', [], { timeoutMs: 5000, maxReceiveBytes: 1 << 20 })
      .catch((e) => e);
    assert.equal(err.code, status.UNIMPLEMENTED);
    assert.equal(err.metadata['x-modelpipe-error'], 'MP_ERR_OIP_NOT_FOUND');
    const bad = await ch
      .unary('/inference.GRPCInferenceService/ModelInfer', [Buffer.from([0xff, 0xff, 0xff])], { timeoutMs: 5000, maxReceiveBytes: 1 << 20 })
      .catch((e) => e);
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.equal(bad.metadata['x-modelpipe-error'], 'MP_ERR_BAD_REQUEST');
    ch.close();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const statusOf = (headers: http2.OutgoingHttpHeaders): Promise<number> =>
      new Promise((resolve) => {
        const s = session.request(headers);
        s.on('response', (h) => resolve(Number(h[':status'])));
        s.resume();
        s.end();
      });
    assert.equal(await statusOf({ ':method': 'GET', ':path': '/inference.GRPCInferenceService/ServerLive' }), 405);
    assert.equal(await statusOf({ ':method': 'POST', ':path': '/x', 'content-type': 'application/json' }), 415);
    // An encoding the server cannot read: UNIMPLEMENTED, with the stable code beside it.
    const snappy = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
      const s = session.request({
        ':method': 'POST',
        ':path': '/inference.GRPCInferenceService/ServerLive',
        'content-type': 'application/grpc',
        'grpc-encoding': 'snappy',
      });
      s.on('response', resolve);
      s.resume();
      s.end();
    });
    assert.equal(snappy['grpc-status'], String(status.UNIMPLEMENTED));
    assert.equal(snappy['x-modelpipe-error'], 'MP_ERR_BAD_REQUEST');
    session.close();
  });
});

test('gRPC transport: the first raw_input_contents lands 64-byte aligned, whatever comes before it', async () => {
  const offsets: number[] = [];
  const server = new GrpcHttp2Server(
    new Map([
      [
        '/t/Align',
        {
          alignField: 7,
          handle: async (msg: Buffer) => {
            offsets.push((msg.byteOffset + (fieldDataOffset(msg, 7) ?? Number.NaN)) % 64);
            return [];
          },
        },
      ],
    ]),
    { maxMessageBytes: 64 << 20 },
  );
  const port = await server.listen(0, '127.0.0.1');
  const ch = new GrpcChannel(`127.0.0.1:${port}`);
  const serialize = inferenceService().service.ModelInfer?.requestSerialize as (v: object) => Buffer;
  for (const name of ['m', 'model-with-a-longer-name', 'x'.repeat(77)]) {
    const msg = serialize({
      model_name: name,
      inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 100_000] }],
      raw_input_contents: [Buffer.alloc(400_000, 1)],
    });
    await ch.unary('/t/Align', [msg], { timeoutMs: 5000, maxReceiveBytes: 1024 });
  }
  ch.close();
  await server.close();
  assert.deepEqual(offsets, [0, 0, 0]);
});

test('gRPC transport: a decompressed message is in memory of its own (safe to transfer), however small', async () => {
  const owned: boolean[] = [];
  const server = new GrpcHttp2Server(
    new Map([
      [
        '/t/Own',
        {
          handle: async (msg: Buffer) => {
            owned.push(msg.byteOffset === 0 && msg.byteLength === msg.buffer.byteLength);
            return [msg];
          },
        },
      ],
    ]),
    { maxMessageBytes: 64 << 20 },
  );
  const port = await server.listen(0, '127.0.0.1');
  const gz = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
  try {
    for (const size of [10, 5000, 300_000]) {
      const sent = Buffer.alloc(size, 7);
      const back = await new Promise<Buffer>((resolve, reject) =>
        gz.makeUnaryRequest(
          '/t/Own',
          (b: Buffer) => b,
          (b: Buffer) => b,
          sent,
          (err, res) => (err ? reject(err) : resolve(res as Buffer)),
        ),
      );
      assert.ok(back.equals(sent));
    }
  } finally {
    gz.close();
    await server.close();
  }
  assert.deepEqual(owned, [true, true, true]);
});
