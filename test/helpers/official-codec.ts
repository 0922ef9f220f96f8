import assert from 'node:assert/strict';
import type * as fb from 'flatbuffers';
import type { InferResponse, MetadataResponse, Request } from '../../src/protocol/graphpipe/index.js';
import { DTYPES, type Tensor } from '../../src/tensor/index.js';
import { tensorBytes, wireDType } from './fixtures.js';
import { type OTensor, byteVector, finish, flatbuffers, gp } from './official.js';

/**
 * Builds GraphPipe messages with the official flatbuffers builder (back to front,
 * as graphpipe-go and graphpipe-py do) and reads ours with the official reader.
 */
export interface BuildOptions {
  /** Message offset (mod 8) of each data payload: 4 mimics graphpipe-py's unaligned int64/float64. */
  phase?: 0 | 4;
  /** How string_val elements are written: CreateByteVector (no NUL) or CreateString (NUL). */
  strings?: 'bytes' | 'string';
}

function tensor(b: fb.Builder, t: Tensor, o: BuildOptions): number {
  let data = 0;
  let strings = 0;
  if (t.dtype === 'string') {
    const els = (t.data as readonly Uint8Array[]).map((s) => (o.strings === 'string' ? b.createString(s) : b.createByteVector(s)));
    strings = gp.Tensor.createStringValVector(b, els);
  } else if (t.dtype !== 'null') {
    data = byteVector(b, tensorBytes(t), o.phase ?? 0);
  }
  const shape = gp.Tensor.createShapeVector(
    b,
    t.shape.map((d) => BigInt(d)),
  );
  return gp.Tensor.createTensor(b, DTYPES[t.dtype].wireId, shape, data, strings);
}

const strVec = (b: fb.Builder, xs: readonly string[], make: (b: fb.Builder, o: number[]) => number): number =>
  xs.length
    ? make(
        b,
        xs.map((s) => b.createString(s)),
      )
    : 0;

export function officialRequest(req: Request, o: BuildOptions = {}): Uint8Array {
  const b = new flatbuffers.Builder(64);
  if (req.type === 'metadata') {
    return finish(b, gp.Request.createRequest(b, 2, gp.MetadataRequest.createMetadataRequest(b)));
  }
  const tensors = gp.InferRequest.createInputTensorsVector(
    b,
    req.inputs.map((t) => tensor(b, t, o)),
  );
  const names = strVec(b, req.inputNames, gp.InferRequest.createInputNamesVector);
  const outNames = strVec(b, req.outputNames, gp.InferRequest.createOutputNamesVector);
  const config = req.config ? b.createString(req.config) : 0;
  return finish(b, gp.Request.createRequest(b, 1, gp.InferRequest.createInferRequest(b, config, names, tensors, outNames)));
}

export function officialInferResponse(res: InferResponse, o: BuildOptions = {}): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const outs = gp.InferResponse.createOutputTensorsVector(
    b,
    res.outputs.map((t) => tensor(b, t, o)),
  );
  const errs = gp.InferResponse.createErrorsVector(
    b,
    res.errors.map((e) => gp.Error.createError(b, BigInt(e.code), b.createString(e.message))),
  );
  return finish(b, gp.InferResponse.createInferResponse(b, outs, errs));
}

export function officialMetadataResponse(md: MetadataResponse): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const io = (list: MetadataResponse['inputs']) =>
    list.map((m) =>
      gp.IOMetadata.createIOMetadata(
        b,
        b.createString(m.name),
        m.description ? b.createString(m.description) : 0,
        gp.IOMetadata.createShapeVector(
          b,
          m.shape.map((d) => BigInt(d)),
        ),
        DTYPES[m.type].wireId,
      ),
    );
  const inputs = gp.MetadataResponse.createInputsVector(b, io(md.inputs));
  const outputs = gp.MetadataResponse.createOutputsVector(b, io(md.outputs));
  const s = (x: string) => (x ? b.createString(x) : 0);
  const root = gp.MetadataResponse.createMetadataResponse(b, s(md.name), s(md.version), s(md.server), s(md.description), inputs, outputs);
  return finish(b, root);
}

/** Asserts that the official reader sees `expected` in a tensor table we wrote. */
export function assertOfficialTensor(t: OTensor | null, expected: Tensor, what: string): void {
  assert.ok(t, `${what} present`);
  assert.equal(t.type(), DTYPES[wireDType(expected)].wireId, `${what} type`);
  const shape = Array.from({ length: t.shapeLength() }, (_, i) => t.shape(i));
  assert.deepEqual(
    shape,
    expected.shape.map((d) => BigInt(d)),
    `${what} shape`,
  );
  if (expected.dtype === 'string') {
    const n = t.stringValLength();
    const got = Array.from({ length: n }, (_, i) => Buffer.from(t.stringVal(i, flatbuffers.Encoding.UTF8_BYTES) as Uint8Array));
    assert.deepEqual(
      got,
      (expected.data as readonly Uint8Array[]).map((x) => Buffer.from(x)),
      `${what} string_val`,
    );
    assert.equal(t.dataLength(), 0, `${what} has no numeric data`);
    return;
  }
  assert.equal(t.stringValLength(), 0, `${what} has no string_val`);
  assert.deepEqual(Buffer.from(t.dataArray() ?? new Uint8Array(0)), Buffer.from(tensorBytes(expected)), `${what} data`);
}
