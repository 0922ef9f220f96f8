import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { closeGrpcClients, infer, modelMetadata, modelReady, serverLive, serverReady } from '../../src/client/oip-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { type DType, Tensor, fromFlat, toFlat } from '../../src/tensor/index.js';

/** Raw HTTP, so requests are exactly the bytes the spec shows (curl-shaped). */
function raw(
  url: string,
  method: string,
  path: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const r = httpRequest(
      u,
      { method, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

const DTYPES: [DType, string, (number | bigint | boolean | string)[]][] = [
  ['bool', 'BOOL', [true, false, true, true]],
  ['uint8', 'UINT8', [0, 1, 254, 255]],
  ['uint16', 'UINT16', [0, 1, 65534, 65535]],
  ['uint32', 'UINT32', [0, 1, 4294967294, 4294967295]],
  ['uint64', 'UINT64', [0n, 1n, 2n ** 53n, 2n ** 64n - 1n]],
  ['int8', 'INT8', [-128, -1, 0, 127]],
  ['int16', 'INT16', [-32768, -1, 0, 32767]],
  ['int32', 'INT32', [-2147483648, -1, 0, 2147483647]],
  ['int64', 'INT64', [-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]],
  ['float16', 'FP16', [0.5, -2, 65504, 0.0001]],
  ['float32', 'FP32', [1.5, -0.25, 3.4028234663852886e38, 1e-7]],
  ['float64', 'FP64', [Math.PI, -1e300, 5e-324, 0]],
  ['string', 'BYTES', ['', 'héllo', 'a', 'z'.repeat(300)]],
];

describe('Open Inference Protocol over REST and gRPC (function models)', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let g = '';
  before(async () => {
    // "echo" returns every input as is: one input and output per datatype.
    const specs = DTYPES.map(([dtype, name]) => ({ name: `in_${name}`, dtype, shape: [-1, 2] }));
    const echo = new FunctionModel((i) => Object.fromEntries(DTYPES.map(([, n]) => [`out_${n}`, i[`in_${n}`] as Tensor])), {
      name: 'echo',
      inputs: specs,
      outputs: specs.map((s) => ({ ...s, name: s.name.replace('in_', 'out_') })),
    });
    srv = await serveModel(echo);
    // The spec's example model: input0 [-1,3] FP32 → output0 [-1,3] FP32 (doubled), output1 BYTES.
    srv.engine.add(
      'mymodel',
      new FunctionModel(
        (i) => {
          const a = i.input0 as Tensor;
          return {
            output0: new Tensor(
              'float32',
              a.shape,
              (a.data as Float32Array).map((x) => x * 2),
            ),
            output1: Tensor.fromStrings(['ok'], [1]),
          };
        },
        {
          name: 'mymodel',
          version: '3',
          inputs: [{ name: 'input0', dtype: 'float32', shape: [-1, 3] }],
          outputs: [
            { name: 'output0', dtype: 'float32', shape: [-1, 3] },
            { name: 'output1', dtype: 'string', shape: [1] },
          ],
        },
      ),
    );
    srv.engine.add(
      'mix',
      new FunctionModel((i) => ({ a2: i.a as Tensor, b2: i.b as Tensor, c2: i.c as Tensor }), {
        name: 'mix',
        inputs: [
          { name: 'a', dtype: 'int32', shape: [-1, 2] },
          { name: 'b', dtype: 'string', shape: [-1, 2] },
          { name: 'c', dtype: 'string', shape: [-1, 2] },
        ],
        outputs: [
          { name: 'a2', dtype: 'int32', shape: [-1, 2] },
          { name: 'b2', dtype: 'string', shape: [-1, 2] },
          { name: 'c2', dtype: 'string', shape: [-1, 2] },
        ],
      }),
    );
    grpc = new OipGrpcServer({ engine: srv.engine });
    g = `grpc://127.0.0.1:${await grpc.listen(0)}`;
  });
  after(async () => {
    closeGrpcClients();
    await grpc?.close();
    await srv?.close();
  });

  test('health and server metadata: status codes with empty bodies', async () => {
    for (const p of ['/v2/health/live', '/v2/health/ready']) {
      const r = await raw(srv.url, 'GET', p);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0);
    }
    const md = JSON.parse((await raw(srv.url, 'GET', '/v2')).body.toString()) as { name: string; extensions: string[] };
    assert.equal(md.name, 'modelpipe');
    assert.ok(md.extensions.includes('binary_tensor_data'));
    assert.equal(await serverLive(srv.url), true);
    assert.equal(await serverReady(g), true);
    assert.equal(await serverLive(g), true);
  });

  test('spec example: JSON inference request and response', async () => {
    const body = `{
      "id" : "42",
      "inputs" : [
        { "name" : "input0", "shape" : [ 2, 3 ], "datatype" : "FP32", "data" : [ 1, 2, 3, 4, 5, 6 ] }
      ],
      "outputs" : [ { "name" : "output0" } ]
    }`;
    const r = await raw(srv.url, 'POST', '/v2/models/mymodel/infer', body, { 'content-type': 'application/json' });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(r.body.toString()), {
      model_name: 'mymodel',
      model_version: '3',
      id: '42',
      outputs: [{ name: 'output0', datatype: 'FP32', shape: [2, 3], data: [2, 4, 6, 8, 10, 12] }],
    });
    // Nested data is row-major too; versioned path.
    const n = await raw(
      srv.url,
      'POST',
      '/v2/models/mymodel/versions/3/infer',
      '{"inputs":[{"name":"input0","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6]]}]}',
    );
    const j = JSON.parse(n.body.toString()) as { outputs: { name: string; data: unknown[] }[] };
    assert.deepEqual(j.outputs[0]?.data, [2, 4, 6, 8, 10, 12]);
    assert.deepEqual(j.outputs[1], { name: 'output1', datatype: 'BYTES', shape: [1], data: ['ok'] });
  });

  test('spec example: binary request, one output binary and one JSON', async () => {
    const json = Buffer.from(
      '{"inputs":[{"name":"input0","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}],' +
        '"outputs":[{"name":"output0","parameters":{"binary_data":true}},{"name":"output1","parameters":{"binary_data":false}}]}',
    );
    const data = Buffer.from(new Float32Array([1, 2, 3]).buffer);
    const r = await raw(srv.url, 'POST', '/v2/models/mymodel/infer', Buffer.concat([json, data]), {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.length),
    });
    assert.equal(r.status, 200, r.body.toString());
    const hl = Number(r.headers['inference-header-content-length']);
    const head = JSON.parse(r.body.subarray(0, hl).toString()) as {
      outputs: { name: string; parameters?: { binary_data_size: number }; data?: unknown }[];
    };
    assert.equal(head.outputs[0]?.parameters?.binary_data_size, 12);
    assert.deepEqual(head.outputs[1]?.data, ['ok']);
    assert.deepEqual([...new Float32Array(new Uint8Array(r.body.subarray(hl)).buffer)], [2, 4, 6]);
  });

  test('binary and JSON inputs mixed in one request', async () => {
    const json = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'a', shape: [1, 2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
          { name: 'b', shape: [1, 2], datatype: 'BYTES', data: ['x', 'yz'] },
          { name: 'c', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: 11 } },
        ],
        outputs: [{ name: 'a2' }, { name: 'b2', parameters: { binary_data: true } }, { name: 'c2' }],
      }),
    );
    const bytesC = Buffer.from([1, 0, 0, 0, 0x71, 2, 0, 0, 0, 0x72, 0x73]); // "q", "rs"
    const body = Buffer.concat([json, Buffer.from(new Int32Array([7, -7]).buffer), bytesC]);
    const r = await raw(srv.url, 'POST', '/v2/models/mix/infer', body, { 'inference-header-content-length': String(json.length) });
    assert.equal(r.status, 200, r.body.toString());
    const hl = Number(r.headers['inference-header-content-length']);
    const head = JSON.parse(r.body.subarray(0, hl).toString()) as {
      outputs: { name: string; data?: unknown; parameters?: { binary_data_size: number } }[];
    };
    assert.deepEqual(head.outputs[0], { name: 'a2', datatype: 'INT32', shape: [1, 2], data: [7, -7] });
    assert.equal(head.outputs[1]?.parameters?.binary_data_size, 4 + 1 + 4 + 2);
    assert.deepEqual(head.outputs[2]?.data, ['q', 'rs']);
    assert.deepEqual([...r.body.subarray(hl)], [1, 0, 0, 0, 0x78, 2, 0, 0, 0, 0x79, 0x7a]);
  });

  for (const binary of [false, true]) {
    for (const transport of ['rest', 'grpc']) {
      test(`every datatype round-trips (${transport}, ${binary ? 'binary' : 'JSON/typed'})`, async () => {
        const inputs = DTYPES.map(([dtype, n, v]) => ({ name: `in_${n}`, tensor: fromFlat(v, [2, 2], dtype) }));
        const r = await infer(transport === 'rest' ? srv.url : g, 'echo', inputs, { binary, id: 'rt' });
        assert.equal(r.modelName, 'echo');
        assert.equal(r.id, 'rt');
        for (const [dtype, n, v] of DTYPES) {
          const t = r.outputs[`out_${n}`] as Tensor;
          assert.equal(t.dtype, dtype, n);
          assert.deepEqual(t.shape, [2, 2]);
          assert.deepEqual(toFlat(t), toFlat(fromFlat(v, [4], dtype)), n);
        }
      });
    }
  }

  test('model metadata and readiness (REST and gRPC)', async () => {
    const md = await modelMetadata(srv.url, 'mymodel');
    assert.deepEqual(md, {
      name: 'mymodel',
      versions: ['3'],
      platform: 'modelpipe',
      inputs: [{ name: 'input0', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [
        { name: 'output0', datatype: 'FP32', shape: [-1, 3] },
        { name: 'output1', datatype: 'BYTES', shape: [1] },
      ],
    });
    assert.deepEqual(await modelMetadata(g, 'mymodel'), md);
    assert.equal(await modelReady(srv.url, 'mymodel'), true);
    assert.equal(await modelReady(g, 'mymodel', { version: '3' }), true);
    const r = await raw(srv.url, 'GET', '/v2/models/mymodel/versions/3/ready');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
  });

  // A JSON header followed by binary bytes, with the header length set.
  const framed = (json: string, tail: string): [string, Record<string, string>] => [
    json + tail,
    { 'inference-header-content-length': String(json.length) },
  ];
  const binSize = '{"inputs":[{"name":"input0","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":8}}]}';
  const binEnd = '{"inputs":[{"name":"input0","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}';
  const bad: [string, string, Record<string, string>, number, RegExp][] = [
    ['malformed JSON', '{"inputs": [', {}, 400, /not valid JSON/],
    ['not an object', '[1,2]', {}, 400, /must be a JSON object/],
    [
      'header length beyond the body',
      '{"inputs":[]}',
      { 'inference-header-content-length': '500' },
      400,
      /Inference-Header-Content-Length 500 exceeds the body of 13 bytes/,
    ],
    [
      'shape/data mismatch',
      '{"inputs":[{"name":"input0","shape":[2,3],"datatype":"FP32","data":[1,2,3]}]}',
      {},
      400,
      /input input0: shape \[2, 3\] needs 6 elements, data has 3/,
    ],
    ['unknown datatype', '{"inputs":[{"name":"input0","shape":[1,3],"datatype":"FP8","data":[1,2,3]}]}', {}, 400, /unknown datatype "FP8"/],
    [
      'value out of range',
      '{"inputs":[{"name":"input0","shape":[1],"datatype":"UINT8","data":[300]}]}',
      {},
      400,
      /element 0 \(300\) is not a valid UINT8 value/,
    ],
    ['binary size mismatch', ...framed(binSize, '12345678'), 400, /binary_data_size is 8 bytes, shape \[1, 3\] of FP32 needs 12/],
    ['binary past the end', ...framed(binEnd, '1234'), 400, /runs past the end of the body/],
    [
      'unclaimed binary bytes',
      ...framed('{"inputs":[{"name":"input0","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}', 'xx'),
      400,
      /2 bytes after the JSON header are not claimed/,
    ],
    [
      'wrong dtype for the model (core validation)',
      '{"inputs":[{"name":"input0","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}',
      {},
      400,
      /input input0 expects float32, got float64/,
    ],
    [
      'wrong rank (core validation)',
      '{"inputs":[{"name":"input0","shape":[3],"datatype":"FP32","data":[1,2,3]}]}',
      {},
      400,
      /expects rank 2/,
    ],
  ];
  for (const [what, body, headers, status, msg] of bad) {
    test(`rejects ${what} with ${status} and a clear message`, async () => {
      const r = await raw(srv.url, 'POST', '/v2/models/mymodel/infer', body, headers);
      assert.equal(r.status, status, r.body.toString());
      const j = JSON.parse(r.body.toString()) as { error: string };
      assert.match(j.error, msg);
    });
  }

  test('unknown model and unknown version: 404 (REST and gRPC, typed errors)', async () => {
    const r = await raw(srv.url, 'POST', '/v2/models/nope/infer', '{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}');
    assert.equal(r.status, 404);
    assert.match(r.body.toString(), /unknown model \\"nope\\"/);
    const v = await raw(srv.url, 'GET', '/v2/models/mymodel/versions/9');
    assert.equal(v.status, 404);
    assert.match(v.body.toString(), /has no version \\"9\\"/);
    assert.equal((await raw(srv.url, 'GET', '/v2/models/mymodel/versions/9/ready')).status, 404);
    for (const url of [srv.url, g]) {
      await assert.rejects(infer(url, 'mymodel', { input0: [[1, 2, 3]] }, { version: '9' }), (e: unknown) => {
        assert.ok(e instanceof ModelpipeError);
        assert.equal(e.code, 'MP_ERR_UNKNOWN_MODEL');
        assert.equal(e.status, 404);
        return true;
      });
    }
    await assert.rejects(
      infer(g, 'mymodel', { input0: [[1, 2]] }),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_INPUT_DIM' && e.status === 400,
    );
  });

  test('GraphPipe still answers on the same port, /v2 paths are not its', async () => {
    const r = await raw(srv.url, 'GET', '/v2/nothing/here');
    assert.equal(r.status, 404);
    assert.match(r.body.toString(), /no such endpoint/);
    assert.equal((await raw(srv.url, 'GET', '/')).status, 200);
  });
});
