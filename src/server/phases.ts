import type { Engine, InferOutcome } from '../core/engine.js';
import { type RequestTrace, encoded } from '../observe/tracing.js';

/*
 * The two request phases that happen in a frontend, around Engine.infer: decoding
 * the wire message into tensors and encoding the outputs back. Every frontend times
 * them through these helpers, so "decode" and "encode" in /metrics mean the same thing
 * for GraphPipe, OIP REST and OIP gRPC; the engine observes them in the same
 * histogram as its own phases, and counts a decode failure once, by its code.
 * The encode helper also makes the request's encode span, so metrics and tracing see
 * one set of phase boundaries. (A frontend ends the request span itself, in the
 * try/finally around its engine call: a closure and a promise fewer per request.)
 */

export interface Decoded<T> {
  value: T;
  /** ms spent decoding (passed on as InferCall.decodeMs). */
  decodeMs: number;
}

/**
 * Runs a frontend's decode step. Its failure counts in the engine's failures (the
 * request never reaches Engine.infer, which counts everything after) and is rethrown
 * as the ModelpipeError the frontend answers. `since` is when decoding began, for a
 * frontend that started it before this call (gRPC deserializes in its transport).
 */
export function decodeTimed<T>(
  engine: Engine,
  model: string | undefined,
  protocol: string,
  decode: () => T,
  since = performance.now(),
): Decoded<T> {
  try {
    const value = decode();
    return { value, decodeMs: performance.now() - since };
  } catch (err: unknown) {
    throw engine.failed(model, protocol, err);
  }
}

/**
 * Runs a frontend's encode step, observing its time in the outcome's model's "encode"
 * phase and, when the request is traced, as its encode span (`chunksOf` gives the
 * response bytes recorded on the request span).
 */
export function encodeTimed<T>(
  out: InferOutcome,
  trace: RequestTrace | undefined,
  encode: () => T,
  chunksOf: (value: T) => readonly Uint8Array[],
): T {
  const t0 = performance.now();
  const value = encode();
  const t1 = performance.now();
  out.encode.observe((t1 - t0) / 1000);
  if (trace?.span !== undefined) encoded(trace, t0, t1, chunksOf(value));
  return value;
}
