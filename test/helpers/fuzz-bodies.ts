import { status } from '@grpc/grpc-js';
import { type Agent, request } from 'undici';
import { type GrpcChannel, GrpcStatusError } from '../../src/client/grpc-channel.js';
import { prepareCall } from '../../src/core/validate.js';
import { ModelpipeError } from '../../src/errors/index.js';
import type { ModelMetadata } from '../../src/models/model.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/graphpipe/index.js';
import {
  type GrpcTensor,
  encodeInferRequest,
  httpStatusOfGrpc,
  methodCodec,
  parseInferRequest,
  scanInferRequest,
  tensorFromGrpc,
} from '../../src/protocol/oip/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { rng } from './fixtures.js';

/**
 * Hostile bodies for every protocol, made by seeded mutation of valid requests, and
 * the in-process form of each server's decode path (decode, then validation against
 * the model) to check them at a high rate. Shared by the fuzz test and `bench hostile`.
 */

export type Protocol = 'graphpipe' | 'oip-json' | 'oip-binary' | 'grpc';
export const PROTOCOLS: readonly Protocol[] = ['graphpipe', 'oip-json', 'oip-binary', 'grpc'];

export interface Body {
  protocol: Protocol;
  bytes: Uint8Array;
  /** Inference-Header-Content-Length (OIP binary). */
  headerLength?: string;
}

/** The model every fuzzed request addresses: a float32 batch and a string batch in, both echoed. */
export function fuzzModel(): FunctionModel {
  return new FunctionModel(async (i) => ({ y: i.a as Tensor, t: i.s as Tensor }), {
    name: 'fz',
    inputs: [
      { name: 'a', dtype: 'float32', shape: [-1, 3] },
      { name: 's', dtype: 'string', shape: [-1] },
    ],
    outputs: [
      { name: 'y', dtype: 'float32', shape: [-1, 3] },
      { name: 't', dtype: 'string', shape: [-1] },
    ],
  });
}

const a = () => new Tensor('float32', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6));
const s = () => Tensor.fromStrings(['x', 'yz']);
const concat = (chunks: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(chunks));
const grpcSerialize = methodCodec('ModelInfer').requestSerialize;

/** Valid requests, the seeds of every mutation. */
export function seeds(): Body[] {
  const req = {
    inputs: [
      { name: 'a', tensor: a() },
      { name: 's', tensor: s() },
    ],
    outputs: [{ name: 'y' }, { name: 't' }],
  };
  const bin = encodeInferRequest(req, { binary: true, binaryOutputs: true });
  const grpcIn = (name: string, t: Tensor, typed: boolean) => ({
    name,
    datatype: t.dtype === 'string' ? 'BYTES' : 'FP32',
    shape: [...t.shape],
    ...(typed
      ? { contents: t.dtype === 'string' ? { bytes_contents: t.data } : { fp32_contents: Array.from(t.data as Float32Array) } }
      : {}),
  });
  const raw = (t: Tensor) => (t.dtype === 'string' ? concat((t.data as Uint8Array[]).flatMap((e) => [u32le(e.length), e])) : t.bytes());
  return [
    {
      protocol: 'graphpipe',
      bytes: concat([encodeRequest({ type: 'infer', config: '', inputNames: ['a', 's'], inputs: [a(), s()], outputNames: ['y'] })]),
    },
    { protocol: 'graphpipe', bytes: concat([encodeRequest({ type: 'metadata' })]) },
    { protocol: 'oip-json', bytes: concat(encodeInferRequest(req, { binary: false, binaryOutputs: false }).chunks) },
    { protocol: 'oip-binary', bytes: concat(bin.chunks), headerLength: String(bin.headerLength) },
    { protocol: 'grpc', bytes: grpcSerialize({ model_name: 'fz', inputs: [grpcIn('a', a(), true), grpcIn('s', s(), true)] }) },
    {
      protocol: 'grpc',
      bytes: grpcSerialize({
        model_name: 'fz',
        inputs: [grpcIn('a', a(), false), grpcIn('s', s(), false)],
        raw_input_contents: [raw(a()), raw(s())],
      }),
    },
  ];
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

const INTERESTING = [0, 1, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0xfffe, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];
// JSON fragments that once reached a 500: bad escapes, deep nesting, huge numbers, wrong kinds.
const JSON_BITS = [
  '[[[[[[',
  '['.repeat(50_000),
  '1e400',
  '-1',
  '"%zz"',
  'null',
  '{}',
  '[]',
  '"\\ud800"',
  '9007199254740993',
  '"NaN"',
  'true',
  '{"a":',
  ']]]]',
];

/** A mutated copy of `seed`: one to four byte-level edits, sometimes a splice or a cut. */
export function mutate(seed: Body, next: () => number): Body {
  const pick = (n: number) => Math.floor(next() * n);
  let m = new Uint8Array(seed.bytes);
  const edits = 1 + pick(4);
  for (let e = 0; e < edits && m.length > 0; e++) {
    const at = pick(m.length);
    const kind = pick(seed.protocol === 'oip-json' ? 6 : 5);
    if (kind === 0) m[at] = pick(256);
    else if (kind === 1) m[at] = (m[at] as number) ^ (1 << pick(8));
    else if (kind === 2 && m.length >= 4)
      new DataView(m.buffer).setUint32(Math.min(at, m.length - 4), INTERESTING[pick(INTERESTING.length)] as number, true);
    else if (kind === 3) {
      // Duplicate a slice in place: repeats entries, offsets and framing.
      const len = 1 + pick(Math.min(64, m.length - at));
      m = concat([m.subarray(0, at), m.subarray(at, at + len), m.subarray(at)]);
    } else if (kind === 4) m = concat([m.subarray(0, at), m.subarray(at + 1 + pick(16))]);
    else m = concat([m.subarray(0, at), Buffer.from(JSON_BITS[pick(JSON_BITS.length)] as string), m.subarray(at + pick(8))]);
  }
  if (pick(10) === 0) m = m.subarray(0, pick(m.length + 1));
  const headerLength = seed.headerLength !== undefined && pick(8) === 0 ? String(pick(m.length + 8)) : seed.headerLength;
  return { protocol: seed.protocol, bytes: m, ...(headerLength !== undefined ? { headerLength } : {}) };
}

/** A generator of `n` mutated bodies cycling over the seeds, reproducible from `seed`. */
export function* bodies(n: number, seed: number): Generator<Body> {
  const next = rng(seed);
  const base = seeds();
  for (let i = 0; i < n; i++) yield mutate(base[i % base.length] as Body, next);
}

/**
 * Runs `body` through its server's decode and validation path in-process. Returns the
 * HTTP status the server would answer (200 for a request that would run, or the
 * ModelpipeError's status); anything else thrown is what a server would answer 500 to.
 */
export function checkInProcess(body: Body, md: ModelMetadata): number {
  try {
    const maxInputs = md.inputs.length;
    let call: { inputNames: string[]; inputs: Tensor[]; outputNames: string[] };
    if (body.protocol === 'graphpipe') {
      const msg = decodeRequest(body.bytes, { maxInputs });
      if (msg.type === 'metadata') return 200;
      call = msg;
    } else if (body.protocol === 'grpc') {
      if (scanInferRequest(body.bytes).inputs > maxInputs) return 400;
      let r: { inputs: GrpcTensor[]; outputs?: { name: string }[]; raw_input_contents?: Uint8Array[] };
      try {
        r = methodCodec('ModelInfer').requestDeserialize(
          Buffer.from(body.bytes.buffer, body.bytes.byteOffset, body.bytes.length),
        ) as typeof r;
      } catch {
        return 400; // the server answers INVALID_ARGUMENT for undecodable protobuf
      }
      const raw = r.raw_input_contents ?? [];
      if (r.inputs.length === 0 || (raw.length > 0 && raw.length !== r.inputs.length)) return 400;
      const inputs = r.inputs.map((t, i) => tensorFromGrpc(t, raw.length > 0 ? raw[i] : undefined, `input ${t.name}`));
      call = { inputNames: r.inputs.map((t) => t.name), inputs, outputNames: (r.outputs ?? []).map((o) => o.name) };
    } else {
      const p = parseInferRequest(body.bytes, body.headerLength, { maxInputs });
      if (p.inputs.length === 0) return 400;
      call = { inputNames: p.inputs.map((i) => i.name), inputs: p.inputs.map((i) => i.tensor), outputNames: p.outputs.map((o) => o.name) };
    }
    prepareCall(md, { ...call, config: '' });
    return 200;
  } catch (err: unknown) {
    if (err instanceof ModelpipeError) return err.status;
    return 500;
  }
}

/** Where `send` delivers bodies: a server's HTTP base URL and its gRPC channel. */
export interface Targets {
  http: string;
  grpc: GrpcChannel;
  agent: Agent;
}

/** Status of a gRPC answer as HTTP: OK 200, the error's HTTP twin, else 500 (INTERNAL, UNKNOWN, …). */
function grpcHttp(code: number): number {
  return code === status.OK ? 200 : (httpStatusOfGrpc(code) ?? 500);
}

/** Sends `body` to its protocol's endpoint for model `fz`; the HTTP status, or -1 for no answer in time. */
export async function send(body: Body, t: Targets, timeoutMs = 10_000): Promise<number> {
  if (body.protocol === 'grpc') {
    try {
      await t.grpc.unary('/inference.GRPCInferenceService/ModelInfer', [body.bytes], { timeoutMs, maxReceiveBytes: 1 << 20 });
      return 200;
    } catch (err: unknown) {
      return err instanceof GrpcStatusError ? grpcHttp(err.code) : -1;
    }
  }
  const path = body.protocol === 'graphpipe' ? '/models/fz' : '/v2/models/fz/infer';
  const headers: Record<string, string> = body.headerLength !== undefined ? { 'inference-header-content-length': body.headerLength } : {};
  try {
    const r = await request(`${t.http}${path}`, {
      method: 'POST',
      body: body.bytes,
      headers,
      dispatcher: t.agent,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await r.body.arrayBuffer();
    return r.statusCode;
  } catch {
    return -1;
  }
}
