import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/errors/index.js';
import {
  decodeInferResponse,
  decodeMetadataResponse,
  decodeRequest,
  encodeInferResponse,
  encodeRequest,
} from '../../src/protocol/graphpipe/index.js';
import {
  BAD_UTF8,
  baseRequest,
  baseResponse,
  expectWire,
  mutated,
  rawErrorResponse,
  rawMetadata,
  rawTensorRequest,
  rawTextRequest,
} from '../helpers/hostile.js';
import { type OInferRequest, bb, gp } from '../helpers/official.js';
import {
  TENSOR,
  child,
  element,
  fieldPos,
  inferRequestTable,
  inputTensor,
  rootTable,
  setI32,
  setI64,
  setU16,
  setU32,
  u16,
  vtEntry,
  vtableOf,
} from '../helpers/wire.js';

/**
 * Hostile GraphPipe bytes. Each row must fail with the stated MP_ERR_WIRE_* code,
 * never with another exception and never by hanging or allocating what the message
 * claims. Rows are made by mutating valid encodings at computed positions.
 * Truncation and random mutation live in graphpipe-malformed-fuzz.test.ts.
 */
const REQ = encodeRequest(baseRequest());
const META_REQ = encodeRequest({ type: 'metadata' });
const RES = encodeInferResponse(baseResponse());
const T0 = inputTensor(REQ, 0); // float32 [2, 3]
const T1 = inputTensor(REQ, 1); // string [2, 2]
const T2 = inputTensor(REQ, 2); // int64 [2]
const IR = inferRequestTable(REQ);
const ROOT = rootTable(REQ);
const dim = (m: Uint8Array, t: number, i: number) => child(m, t, TENSOR.shape) + 4 + 8 * i;

type Decoder = (b: Uint8Array) => unknown;
interface Row {
  name: string;
  bytes: Uint8Array;
  decode?: Decoder;
  code: ErrorCode;
}
const L = REQ.length;
const big = (n: number) => BigInt(n);

const rows: Row[] = [
  { name: 'empty buffer (request)', bytes: new Uint8Array(0), code: 'MP_ERR_WIRE_TRUNCATED' },
  { name: 'empty buffer (response)', bytes: new Uint8Array(0), decode: decodeInferResponse, code: 'MP_ERR_WIRE_TRUNCATED' },
  { name: 'empty buffer (metadata)', bytes: new Uint8Array(0), decode: decodeMetadataResponse, code: 'MP_ERR_WIRE_TRUNCATED' },
  { name: 'root offset past the end', bytes: mutated(REQ, (m) => setU32(m, 0, L)), code: 'MP_ERR_WIRE_BAD_OFFSET' },
  { name: 'root offset 0xFFFFFFFF', bytes: mutated(REQ, (m) => setU32(m, 0, 0xffffffff)), code: 'MP_ERR_WIRE_BAD_OFFSET' },
  { name: 'root offset 0', bytes: mutated(REQ, (m) => setU32(m, 0, 0)), code: 'MP_ERR_WIRE_BAD_OFFSET' },
  {
    name: 'vtable before the buffer (positive soffset)',
    bytes: mutated(REQ, (m) => setI32(m, ROOT, ROOT + 2)),
    code: 'MP_ERR_WIRE_BAD_VTABLE',
  },
  { name: 'vtable after the buffer (negative soffset)', bytes: mutated(REQ, (m) => setI32(m, ROOT, -L)), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  { name: 'tensor vtable soffset -2^31', bytes: mutated(REQ, (m) => setI32(m, T0, -(2 ** 31))), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  { name: 'vtable size odd', bytes: mutated(REQ, (m) => setU16(m, vtableOf(m, ROOT), 5)), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  { name: 'vtable size too small', bytes: mutated(REQ, (m) => setU16(m, vtableOf(m, ROOT), 2)), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  { name: 'vtable size too big', bytes: mutated(REQ, (m) => setU16(m, vtableOf(m, IR), 0xfffe)), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  { name: 'table size past the end', bytes: mutated(REQ, (m) => setU16(m, vtableOf(m, T0) + 2, 0xfffc)), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  { name: 'table size below 4', bytes: mutated(REQ, (m) => setU16(m, vtableOf(m, ROOT) + 2, 2)), code: 'MP_ERR_WIRE_BAD_VTABLE' },
  {
    name: 'field offset beyond table size',
    bytes: mutated(REQ, (m) => setU16(m, vtEntry(m, ROOT, 1), u16(m, vtableOf(m, ROOT) + 2))),
    code: 'MP_ERR_WIRE_BAD_VTABLE',
  },
  {
    name: 'field offset inside the soffset',
    bytes: mutated(REQ, (m) => setU16(m, vtEntry(m, T0, TENSOR.shape), 2)),
    code: 'MP_ERR_WIRE_BAD_VTABLE',
  },
  { name: 'union tag 3', bytes: mutated(REQ, (m) => (m[fieldPos(m, ROOT, 0)] = 3)), code: 'MP_ERR_WIRE_BAD_UNION' },
  { name: 'union tag 255', bytes: mutated(REQ, (m) => (m[fieldPos(m, ROOT, 0)] = 255)), code: 'MP_ERR_WIRE_BAD_UNION' },
  {
    name: 'union InferRequest without its table',
    bytes: mutated(META_REQ, (m) => {
      const r = rootTable(m);
      m[fieldPos(m, r, 0)] = 1;
      setU16(m, vtEntry(m, r, 1), 0);
    }),
    code: 'MP_ERR_WIRE_BAD_UNION',
  },
  { name: 'tensor type 13', bytes: mutated(REQ, (m) => (m[fieldPos(m, T0, TENSOR.type)] = 13)), code: 'MP_ERR_WIRE_BAD_ENUM' },
  { name: 'tensor type 200', bytes: mutated(REQ, (m) => (m[fieldPos(m, T2, TENSOR.type)] = 200)), code: 'MP_ERR_WIRE_BAD_ENUM' },
  { name: 'IOMetadata type 13', bytes: rawMetadata({ ioType: 13 }), decode: decodeMetadataResponse, code: 'MP_ERR_WIRE_BAD_ENUM' },
  {
    name: 'shape [2, 4] with 24 bytes of float32',
    bytes: mutated(REQ, (m) => setI64(m, dim(m, T0, 1), 4n)),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'float32 data 20 bytes for [2, 3]',
    bytes: mutated(REQ, (m) => setU32(m, child(m, T0, TENSOR.data), 20)),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'int64 data 15 bytes',
    bytes: rawTensorRequest({ type: 8, shape: [2n], data: new Uint8Array(15) }),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  { name: 'string shape [2, 3] with 4 strings', bytes: mutated(REQ, (m) => setI64(m, dim(m, T1, 1), 3n)), code: 'MP_ERR_WIRE_DATA_SIZE' },
  {
    name: 'string_val count 3 for [2, 2]',
    bytes: mutated(REQ, (m) => setU32(m, child(m, T1, TENSOR.stringVal), 3)),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'Null tensor with data',
    bytes: rawTensorRequest({ type: 0, shape: [1n], data: new Uint8Array(4) }),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'uint8 tensor with string_val',
    bytes: rawTensorRequest({ type: 1, shape: [1n], data: Uint8Array.of(1), strings: [Uint8Array.of(1)] }),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'string tensor with data',
    bytes: rawTensorRequest({ type: 12, shape: [1n], data: Uint8Array.of(1), strings: [Uint8Array.of(1)] }),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  { name: 'negative dim', bytes: mutated(REQ, (m) => setI64(m, dim(m, T0, 0), -1n)), code: 'MP_ERR_WIRE_SHAPE' },
  { name: 'metadata dim -2', bytes: rawMetadata({ ioShape: [-2n, 3n] }), decode: decodeMetadataResponse, code: 'MP_ERR_WIRE_SHAPE' },
  { name: 'dim 2^53', bytes: mutated(REQ, (m) => setI64(m, dim(m, T2, 0), 2n ** 53n)), code: 'MP_ERR_WIRE_SHAPE' },
  { name: 'dim 2^63-1', bytes: mutated(REQ, (m) => setI64(m, dim(m, T2, 0), 2n ** 63n - 1n)), code: 'MP_ERR_WIRE_SHAPE' },
  { name: 'metadata dim 2^53', bytes: rawMetadata({ ioShape: [2n ** 53n] }), decode: decodeMetadataResponse, code: 'MP_ERR_WIRE_SHAPE' },
  { name: 'rank 65', bytes: rawTensorRequest({ type: 1, shape: Array(65).fill(1n), data: Uint8Array.of(9) }), code: 'MP_ERR_WIRE_SHAPE' },
  {
    name: 'float32 [1e12, 1e12] without data',
    bytes: rawTensorRequest({ type: 10, shape: [big(1e12), big(1e12)] }),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'string [1e12, 1e12] without strings',
    bytes: rawTensorRequest({ type: 12, shape: [big(1e12), big(1e12)] }),
    code: 'MP_ERR_WIRE_DATA_SIZE',
  },
  {
    name: 'Null [1e12, 1e12] (no data needed)',
    bytes: rawTensorRequest({ type: 0, shape: [big(1e12), big(1e12)] }),
    code: 'MP_ERR_WIRE_SHAPE',
  },
  {
    name: 'data length 0xFFFFFFFF',
    bytes: mutated(REQ, (m) => setU32(m, child(m, T0, TENSOR.data), 0xffffffff)),
    code: 'MP_ERR_WIRE_TRUNCATED',
  },
  {
    name: 'shape length 0xFFFFFFFF',
    bytes: mutated(REQ, (m) => setU32(m, child(m, T0, TENSOR.shape), 0xffffffff)),
    code: 'MP_ERR_WIRE_TRUNCATED',
  },
  {
    name: 'input_tensors length 0xFFFFFFFF',
    bytes: mutated(REQ, (m) => setU32(m, child(m, IR, 2), 0xffffffff)),
    code: 'MP_ERR_WIRE_TRUNCATED',
  },
  {
    name: 'string_val length 0x40000000',
    bytes: mutated(REQ, (m) => setU32(m, child(m, T1, TENSOR.stringVal), 0x40000000)),
    code: 'MP_ERR_WIRE_TRUNCATED',
  },
  { name: 'config length 0xFFFFFFFF', bytes: mutated(REQ, (m) => setU32(m, child(m, IR, 0), 0xffffffff)), code: 'MP_ERR_WIRE_TRUNCATED' },
  {
    name: 'string element length past the end',
    bytes: mutated(REQ, (m) => setU32(m, element(m, child(m, T1, 3), 3), L)),
    code: 'MP_ERR_WIRE_TRUNCATED',
  },
  { name: 'config offset past the end', bytes: mutated(REQ, (m) => setU32(m, fieldPos(m, IR, 0), L)), code: 'MP_ERR_WIRE_BAD_OFFSET' },
  {
    name: 'input_tensors offset past the end',
    bytes: mutated(REQ, (m) => setU32(m, fieldPos(m, IR, 2), 0xfffffff0)),
    code: 'MP_ERR_WIRE_BAD_OFFSET',
  },
  {
    name: 'tensor element offset past the end',
    bytes: mutated(REQ, (m) => setU32(m, child(m, IR, 2) + 4, L)),
    code: 'MP_ERR_WIRE_BAD_OFFSET',
  },
  {
    name: 'string_val element offset past the end',
    bytes: mutated(REQ, (m) => setU32(m, child(m, T1, 3) + 8, L)),
    code: 'MP_ERR_WIRE_BAD_OFFSET',
  },
  {
    name: 'data offset past the end',
    bytes: mutated(REQ, (m) => setU32(m, fieldPos(m, T0, TENSOR.data), L)),
    code: 'MP_ERR_WIRE_BAD_OFFSET',
  },
  {
    name: 'error message offset past the end',
    bytes: mutated(RES, (m) => setU32(m, fieldPos(m, element(m, child(m, rootTable(m), 1), 0), 1), RES.length)),
    decode: decodeInferResponse,
    code: 'MP_ERR_WIRE_BAD_OFFSET',
  },
  ...BAD_UTF8.flatMap((bad, i): Row[] => [
    { name: `config invalid UTF-8 #${i}`, bytes: rawTextRequest({ config: bad }), code: 'MP_ERR_WIRE_BAD_UTF8' },
    { name: `input name invalid UTF-8 #${i}`, bytes: rawTextRequest({ inputName: bad }), code: 'MP_ERR_WIRE_BAD_UTF8' },
    { name: `output name invalid UTF-8 #${i}`, bytes: rawTextRequest({ outputName: bad }), code: 'MP_ERR_WIRE_BAD_UTF8' },
    { name: `error message invalid UTF-8 #${i}`, bytes: rawErrorResponse(bad), decode: decodeInferResponse, code: 'MP_ERR_WIRE_BAD_UTF8' },
    {
      name: `model name invalid UTF-8 #${i}`,
      bytes: rawMetadata({ name: bad }),
      decode: decodeMetadataResponse,
      code: 'MP_ERR_WIRE_BAD_UTF8',
    },
    {
      name: `IOMetadata name invalid UTF-8 #${i}`,
      bytes: rawMetadata({ ioName: bad }),
      decode: decodeMetadataResponse,
      code: 'MP_ERR_WIRE_BAD_UTF8',
    },
  ]),
];

describe('hostile GraphPipe messages', () => {
  test('the field locators agree with the official reader', () => {
    const ir = gp.Request.getRootAsRequest(bb(REQ)).req(new gp.InferRequest()) as OInferRequest;
    assert.equal(REQ[fieldPos(REQ, T0, TENSOR.type)], ir.inputTensors(0)?.type());
    assert.equal(REQ[fieldPos(REQ, T1, TENSOR.type)], 12);
    const data = ir.inputTensors(0)?.dataArray();
    assert.equal(child(REQ, T0, TENSOR.data) + 4, data?.byteOffset);
    assert.equal(new DataView(REQ.buffer).getBigInt64(dim(REQ, T0, 1), true), ir.inputTensors(0)?.shape(1));
  });

  for (const row of rows) {
    test(row.name, () => {
      const t0 = performance.now();
      const before = process.memoryUsage().arrayBuffers;
      expectWire(() => (row.decode ?? decodeRequest)(row.bytes), row.code, row.name);
      // Fail fast, and never allocate what a hostile length or shape claims.
      assert.ok(performance.now() - t0 < 250, `${row.name}: took ${performance.now() - t0} ms`);
      assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, `${row.name}: allocated buffers`);
    });
  }

  test('zero-element shapes with huge dims are valid, not an overflow', () => {
    for (const type of [0, 1, 10, 12]) {
      const got = decodeRequest(rawTensorRequest({ type, shape: [2n ** 51n, 0n, 2n ** 52n] }));
      assert.ok(got.type === 'infer');
      assert.deepEqual(got.inputs[0]?.shape, [2 ** 51, 0, 2 ** 52]);
      assert.equal(got.inputs[0]?.data.length, 0);
    }
  });
});
