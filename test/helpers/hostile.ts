import assert from 'node:assert/strict';
import type { ErrorCode } from '../../src/errors/index.js';
import { ModelpipeError } from '../../src/errors/index.js';
import type { InferResponse, MetadataResponse, Request } from '../../src/protocol/graphpipe/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { flatbuffers, gp } from './official.js';

/** Valid messages that the hostile variants are made from. */
export const baseRequest = (): Request => ({
  type: 'infer',
  config: 'cfg',
  inputNames: ['a', 'b', 'c'],
  inputs: [
    new Tensor('float32', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)),
    Tensor.fromStrings(['w', 'x', 'y', 'z'], [2, 2]),
    new Tensor('int64', [2], BigInt64Array.of(-1n, 2n ** 60n)),
  ],
  outputNames: ['out'],
});
export const baseResponse = (): InferResponse => ({
  outputs: [new Tensor('uint8', [1, 2], Uint8Array.of(7, 8)), Tensor.fromStrings(['s'])],
  errors: [{ code: 3, message: 'oops' }],
});
export const baseMetadata = (): MetadataResponse => ({
  name: 'm',
  version: '1',
  server: 'modelpipe',
  description: 'd',
  inputs: [{ name: 'x', description: 'in', shape: [-1, 3], type: 'float32' }],
  outputs: [{ name: 'y', description: '', shape: [-1], type: 'int64' }],
});

/** Runs `fn` and asserts it threw a ModelpipeError with a wire code among `codes`. */
export function expectWire(fn: () => unknown, codes: ErrorCode | readonly ErrorCode[], what: string): void {
  const want: readonly ErrorCode[] = typeof codes === 'string' ? [codes] : codes;
  let err: unknown;
  try {
    fn();
  } catch (e: unknown) {
    err = e;
  }
  assert.ok(err !== undefined, `${what}: decoded without error`);
  assert.ok(err instanceof ModelpipeError, `${what}: threw ${String(err)} instead of a ModelpipeError`);
  assert.ok(err.code.startsWith('MP_ERR_WIRE_'), `${what}: code ${err.code} is not a wire code`);
  assert.ok(want.includes(err.code), `${what}: expected ${want.join(' or ')}, got ${err.code} (${err.message})`);
}

/** A copy of `m` changed by `fn` (the base stays valid for the next row). */
export function mutated(m: Uint8Array, fn: (c: Uint8Array) => void): Uint8Array {
  const c = new Uint8Array(m); // a copy: our encoders return Buffers, whose slice() is a view
  fn(c);
  return c;
}

/**
 * A one-tensor InferRequest built with the official builder from raw parts, for
 * hostile tensors our encoder refuses to produce (bad type, absurd shape, rank 65…).
 */
export function rawTensorRequest(p: { type: number; shape: bigint[]; data?: Uint8Array; strings?: Uint8Array[] }): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const data = p.data ? b.createByteVector(p.data) : 0;
  const strings = p.strings
    ? gp.Tensor.createStringValVector(
        b,
        p.strings.map((s) => b.createString(s)),
      )
    : 0;
  const t = gp.Tensor.createTensor(b, p.type, gp.Tensor.createShapeVector(b, p.shape), data, strings);
  const ir = gp.InferRequest.createInferRequest(b, 0, 0, gp.InferRequest.createInputTensorsVector(b, [t]), 0);
  b.finish(gp.Request.createRequest(b, 1, ir));
  return b.asUint8Array().slice();
}

/** Text fields as raw bytes, so invalid UTF-8 can be placed in each of them. */
export function rawTextRequest(p: { config?: Uint8Array; inputName?: Uint8Array; outputName?: Uint8Array }): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const t = gp.Tensor.createTensor(b, 1, gp.Tensor.createShapeVector(b, [1n]), b.createByteVector(Uint8Array.of(1)), 0);
  const tensors = gp.InferRequest.createInputTensorsVector(b, [t]);
  const names = p.inputName ? gp.InferRequest.createInputNamesVector(b, [b.createString(p.inputName)]) : 0;
  const outs = p.outputName ? gp.InferRequest.createOutputNamesVector(b, [b.createString(p.outputName)]) : 0;
  const config = p.config ? b.createString(p.config) : 0;
  b.finish(gp.Request.createRequest(b, 1, gp.InferRequest.createInferRequest(b, config, names, tensors, outs)));
  return b.asUint8Array().slice();
}

export function rawErrorResponse(message: Uint8Array): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const errs = gp.InferResponse.createErrorsVector(b, [gp.Error.createError(b, 1n, b.createString(message))]);
  b.finish(gp.InferResponse.createInferResponse(b, 0, errs));
  return b.asUint8Array().slice();
}

export function rawMetadata(p: { name?: Uint8Array; ioName?: Uint8Array; ioType?: number; ioShape?: bigint[] }): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const io = gp.IOMetadata.createIOMetadata(
    b,
    b.createString(p.ioName ?? 'x'),
    0,
    gp.IOMetadata.createShapeVector(b, p.ioShape ?? [-1n]),
    p.ioType ?? 10,
  );
  const inputs = gp.MetadataResponse.createInputsVector(b, [io]);
  const name = b.createString(p.name ?? 'm');
  b.finish(gp.MetadataResponse.createMetadataResponse(b, name, 0, 0, 0, inputs, 0));
  return b.asUint8Array().slice();
}

/** Invalid UTF-8: a stray byte, an overlong NUL, a UTF-16 surrogate, a cut-off sequence. */
export const BAD_UTF8: readonly Uint8Array[] = [
  Uint8Array.of(0x61, 0xff),
  Uint8Array.of(0xc0, 0x80),
  Uint8Array.of(0xed, 0xa0, 0x80),
  Uint8Array.of(0x61, 0xe2, 0x82),
];
