import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type InferResponse,
  type MetadataResponse,
  type Request,
  decodeInferResponse,
  decodeMetadataResponse,
  decodeRequest,
  encodeInferResponse,
  encodeInferResponseChunks,
  encodeMetadataResponse,
  encodeRequest,
  encodeRequestChunks,
} from '../../src/protocol/graphpipe/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { assertSameTensor, dtypeMatrix, isViewInto } from '../helpers/fixtures.js';
import { assertOfficialTensor, officialInferResponse, officialMetadataResponse, officialRequest } from '../helpers/official-codec.js';
import { type OInferRequest, bb, dataOffset, gp } from '../helpers/official.js';
import { fieldPos, rootTable } from '../helpers/wire.js';

/**
 * Cross-checks our codec against flatc's code on the official flatbuffers runtime,
 * in both directions, over every dtype and the awkward corners of the wire format.
 */
const matrix = dtypeMatrix();
const inferReq = (): Request & { type: 'infer' } => ({
  type: 'infer',
  config: '{"top_k": 5, "note": "ü"}',
  inputNames: matrix.map((_, i) => `in_${i}`),
  inputs: matrix,
  outputNames: ['probs', 'logits'],
});
const response = (): InferResponse => ({
  outputs: matrix,
  errors: [
    { code: 0, message: '' },
    { code: -7, message: 'bad input ü' },
    { code: 2 ** 53 - 1, message: 'big' },
  ],
});
const metadata = (): MetadataResponse => ({
  name: 'squeezenet',
  version: '1.1',
  server: 'modelpipe',
  description: 'ImageNet classifier',
  inputs: [{ name: 'data', description: 'NCHW image', shape: [-1, 3, 224, 224], type: 'float32' }],
  outputs: [
    { name: 'probs', description: '', shape: [-1, 1000], type: 'float32' },
    { name: 'ids', description: 'top ids', shape: [-1, -1], type: 'int64' },
  ],
});
const concatChunks = (chunks: Uint8Array[]): Buffer => Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));

describe('our encoders → official reader', () => {
  test('InferRequest: every dtype, config, input and output names', () => {
    const req = inferReq();
    const bytes = encodeRequest(req);
    const root = gp.Request.getRootAsRequest(bb(bytes));
    assert.equal(root.reqType(), 1);
    const ir = root.req(new gp.InferRequest()) as OInferRequest;
    assert.equal(ir.config(), req.config);
    assert.deepEqual(
      Array.from({ length: ir.inputNamesLength() }, (_, i) => ir.inputNames(i)),
      req.inputNames,
    );
    assert.deepEqual(
      Array.from({ length: ir.outputNamesLength() }, (_, i) => ir.outputNames(i)),
      req.outputNames,
    );
    assert.equal(ir.inputTensorsLength(), matrix.length);
    matrix.forEach((t, i) => {
      assertOfficialTensor(ir.inputTensors(i), t, `input ${i} (${t.dtype})`);
    });
  });

  test('64-bit integers beyond 2^53 arrive exactly', () => {
    const vals = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n];
    const bytes = encodeRequest({
      type: 'infer',
      config: '',
      inputNames: [],
      inputs: [new Tensor('int64', [3], BigInt64Array.from(vals))],
      outputNames: [],
    });
    const t = (gp.Request.getRootAsRequest(bb(bytes)).req(new gp.InferRequest()) as OInferRequest).inputTensors(0);
    const d = t?.dataArray();
    assert.ok(d);
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    assert.deepEqual(
      vals.map((_, i) => dv.getBigInt64(8 * i, true)),
      vals,
    );
  });

  test('metadata request', () => {
    const root = gp.Request.getRootAsRequest(bb(encodeRequest({ type: 'metadata' })));
    assert.equal(root.reqType(), 2);
    assert.ok(root.req(new gp.MetadataRequest()));
  });

  test('InferResponse with outputs and errors', () => {
    const res = response();
    const r = gp.InferResponse.getRootAsInferResponse(bb(encodeInferResponse(res)));
    assert.equal(r.outputTensorsLength(), matrix.length);
    matrix.forEach((t, i) => {
      assertOfficialTensor(r.outputTensors(i), t, `output ${i} (${t.dtype})`);
    });
    assert.deepEqual(
      Array.from({ length: r.errorsLength() }, (_, i) => ({ code: r.errors(i)?.code(), message: r.errors(i)?.message() })),
      res.errors.map((e) => ({ code: BigInt(e.code), message: e.message })),
    );
  });

  test('MetadataResponse with -1 dims', () => {
    const md = metadata();
    const r = gp.MetadataResponse.getRootAsMetadataResponse(bb(encodeMetadataResponse(md)));
    assert.deepEqual([r.name(), r.version(), r.server(), r.description()], [md.name, md.version, md.server, md.description]);
    const io = (n: number, get: (i: number) => ReturnType<typeof r.inputs>) =>
      Array.from({ length: n }, (_, i) => {
        const m = get(i);
        assert.ok(m);
        return {
          name: m.name(),
          description: m.description() ?? '',
          type: m.type(),
          shape: Array.from({ length: m.shapeLength() }, (_, k) => m.shape(k)),
        };
      });
    const want = (list: MetadataResponse['inputs']) =>
      list.map((m) => ({ name: m.name, description: m.description, type: m.type === 'int64' ? 8 : 10, shape: m.shape.map(BigInt) }));
    assert.deepEqual(
      io(r.inputsLength(), (i) => r.inputs(i)),
      want(md.inputs),
    );
    assert.deepEqual(
      io(r.outputsLength(), (i) => r.outputs(i)),
      want(md.outputs),
    );
  });

  test('scatter-gather chunks concatenate to the one-buffer encoding, byte for byte', () => {
    const req = inferReq();
    assert.deepEqual(concatChunks(encodeRequestChunks(req)), Buffer.from(encodeRequest(req)));
    assert.deepEqual(concatChunks(encodeRequestChunks({ type: 'metadata' })), Buffer.from(encodeRequest({ type: 'metadata' })));
    const res = response();
    assert.deepEqual(concatChunks(encodeInferResponseChunks(res)), Buffer.from(encodeInferResponse(res)));
    // Payloads travel as the tensors' own memory, uncopied.
    const big = new Tensor('float32', [1000], new Float32Array(1000));
    const chunks = encodeRequestChunks({ type: 'infer', config: '', inputNames: [], inputs: [big], outputNames: [] });
    assert.ok(chunks.some((c) => c.buffer === (big.data as Float32Array).buffer));
  });
});

describe('official builder → our decoders', () => {
  for (const strings of ['bytes', 'string'] as const) {
    for (const phase of [0, 4] as const) {
      test(`InferRequest, string_val as ${strings === 'bytes' ? 'createByteVector' : 'createString'}, payloads at offset ≡ ${phase} mod 8`, () => {
        const req = inferReq();
        const bytes = officialRequest(req, { strings, phase });
        const got = decodeRequest(bytes);
        assert.equal(got.type, 'infer');
        if (got.type !== 'infer') return;
        assert.equal(got.config, req.config);
        assert.deepEqual(got.inputNames, req.inputNames);
        assert.deepEqual(got.outputNames, req.outputNames);
        assert.equal(got.inputs.length, matrix.length);
        const ir = gp.Request.getRootAsRequest(bb(bytes)).req(new gp.InferRequest()) as OInferRequest;
        matrix.forEach((t, i) => {
          const out = got.inputs[i] as Tensor;
          assertSameTensor(out, t, `input ${i} (${t.dtype})`);
          if (t.dtype === 'string' || t.dtype === 'null' || t.size === 0) return;
          // The construction really put the payload where we meant it to.
          const off = dataOffset(bytes, ir.inputTensors(i) as NonNullable<ReturnType<typeof ir.inputTensors>>);
          assert.equal(off % 8, phase, `input ${i} payload offset ${off}`);
          // Aligned payloads are views into the message; misaligned 8-byte ones are copies.
          const item = (out.data as Float64Array).BYTES_PER_ELEMENT;
          assert.equal(isViewInto(out.data, bytes), off % item === 0, `input ${i} (${t.dtype}) zero-copy iff aligned`);
        });
      });
    }
  }

  test('graphpipe-py style: misaligned int64/float64 decode to correct values in a copy', () => {
    const vals = [2n ** 62n + 3n, -5n];
    const inputs = [new Tensor('int64', [2], BigInt64Array.from(vals)), new Tensor('float64', [2], Float64Array.of(0.1, -2.5))];
    const bytes = officialRequest({ type: 'infer', config: '', inputNames: [], inputs, outputNames: [] }, { phase: 4 });
    const got = decodeRequest(bytes);
    assert.ok(got.type === 'infer');
    const [i64, f64] = got.inputs as [Tensor, Tensor];
    assert.deepEqual([...(i64.data as BigInt64Array)], vals);
    assert.deepEqual([...(f64.data as Float64Array)], [0.1, -2.5]);
    assert.ok(!isViewInto(i64.data, bytes) && !isViewInto(f64.data, bytes));
    assert.equal((i64.data as BigInt64Array).byteOffset % 8, 0);
  });

  test('metadata request, and union NONE treated as metadata', () => {
    assert.deepEqual(decodeRequest(officialRequest({ type: 'metadata' })), { type: 'metadata' });
    const none = officialRequest({ type: 'metadata' });
    none[fieldPos(none, rootTable(none), 0)] = 0; // req_type := NONE, confirmed by the official reader
    assert.equal(gp.Request.getRootAsRequest(bb(none)).reqType(), 0);
    assert.deepEqual(decodeRequest(none), { type: 'metadata' });
  });

  test('InferResponse with errors (both string styles)', () => {
    const res = response();
    for (const strings of ['bytes', 'string'] as const) {
      const got = decodeInferResponse(officialInferResponse(res, { strings, phase: 4 }));
      assert.deepEqual(got.errors, res.errors);
      res.outputs.forEach((t, i) => {
        assertSameTensor(got.outputs[i] as Tensor, t, `output ${i}`);
      });
    }
  });

  test('MetadataResponse with -1 dims and empty optional strings', () => {
    const md = metadata();
    assert.deepEqual(decodeMetadataResponse(officialMetadataResponse(md)), md);
    const bare = { ...md, version: '', description: '' };
    assert.deepEqual(decodeMetadataResponse(officialMetadataResponse(bare)), bare);
  });

  test('error codes across the int64 range keep their value (nearest double beyond 2^53)', () => {
    const codes = [2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 52, -(2 ** 52) - 1, 2 ** 60, -(2 ** 63)];
    const res = decodeInferResponse(officialInferResponse({ outputs: [], errors: codes.map((code) => ({ code, message: 'x' })) }));
    assert.deepEqual(
      res.errors.map((e) => e.code),
      codes,
    );
  });
});

describe('round trip through our codec', () => {
  test('aligned numeric payloads decode zero-copy', () => {
    const req = inferReq();
    const input = encodeRequest(req);
    const got = decodeRequest(input);
    assert.ok(got.type === 'infer');
    got.inputs.forEach((t, i) => {
      assertSameTensor(t, matrix[i] as Tensor, `input ${i}`);
      if (t.dtype !== 'string' && t.dtype !== 'null' && t.size > 0) {
        assert.ok(isViewInto(t.data, input), `input ${i} (${t.dtype}) is a view`);
        assert.equal((t.data as Float32Array).buffer, input.buffer);
      }
    });
  });

  test('names and strings keep a leading byte-order mark', () => {
    const bom = '\uFEFFname';
    const got = decodeRequest(
      encodeRequest({ type: 'infer', config: bom, inputNames: [bom], inputs: [Tensor.fromStrings([bom])], outputNames: [] }),
    );
    assert.ok(got.type === 'infer');
    assert.deepEqual([got.config, got.inputNames[0], (got.inputs[0] as Tensor).strings()[0]], [bom, bom, bom]);
  });
});
