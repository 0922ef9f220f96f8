import {
  decodeInferResponse,
  decodeRequest,
  encodeInferResponse,
  encodeInferResponseChunks,
  encodeRequest,
  encodeRequestChunks,
  encodeRequestInto,
  encodeInferResponseInto,
} from '../src/protocol/graphpipe/index.js';
import { Tensor, toNested } from '../src/tensor/index.js';
import { PredictRequest, PredictResponse, type ProtoStyle, payloadLength, tensorProto } from './codec-baselines.js';

/**
 * GraphPipe's serialization benchmark, reproduced: a 128×224×224×3 float32 request
 * (77 MB) and a 128×7×7×512 float32 response (12.8 MB), encoded and decoded by
 * modelpipe, by JSON (nested number arrays) and by protobufjs as TF-Serving frames
 * them, against the floor of copying the same bytes once. All in one process run.
 */
type Op = 'serialize request' | 'deserialize request' | 'serialize response' | 'deserialize response';
type Variant =
  | 'floor (copy into preallocated)'
  | 'floor (allocate + copy)'
  | 'modelpipe'
  | 'modelpipe into preallocated'
  | 'modelpipe chunks'
  | 'JSON'
  | 'protobuf float_val'
  | 'protobuf tensor_content';
const OPS: Op[] = ['serialize request', 'deserialize request', 'serialize response', 'deserialize response'];
const VARIANTS: Variant[] = [
  'floor (copy into preallocated)',
  'floor (allocate + copy)',
  'modelpipe',
  'modelpipe into preallocated',
  'modelpipe chunks',
  'JSON',
  'protobuf float_val',
  'protobuf tensor_content',
];
const results: Record<Op, Partial<Record<Variant, number>>> = Object.fromEntries(OPS.map((o) => [o, {}])) as Record<
  Op,
  Partial<Record<Variant, number>>
>;

const gc = (): void => globalThis.gc?.();
let sink = 0; // results feed this so no call can be optimised away

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** Median ms per call: `reps` samples, each timing `inner` calls (inner > 1 for µs-scale ops). */
function time(fn: () => unknown, reps: number, inner = 1): number {
  fn(); // warm-up (JIT, lazy allocations)
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    if (inner === 1) gc();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) sink ^= (fn() as { length?: number })?.length ?? 1;
    samples.push((performance.now() - t0) / inner);
  }
  return median(samples);
}

function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0; // LCG: reproducible, cheap
    out[i] = x / 2 ** 32;
  }
  return out;
}

function bench(
  kind: 'request' | 'response',
  shape: number[],
  log: (s: string) => void,
): { tinyChunksMs: number; rssGrowth: number; zeroCopy: boolean } {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = new Tensor('float32', shape, randomFloats(n, kind === 'request' ? 1 : 2));
  const tiny = new Tensor('float32', [1], Float32Array.of(1));
  const isReq = kind === 'request';
  const enc = (x: Tensor) =>
    isReq
      ? encodeRequest({ type: 'infer', config: '', inputNames: ['x'], inputs: [x], outputNames: [] })
      : encodeInferResponse({ outputs: [x], errors: [] });
  const chunks = (x: Tensor) =>
    isReq
      ? encodeRequestChunks({ type: 'infer', config: '', inputNames: ['x'], inputs: [x], outputNames: [] })
      : encodeInferResponseChunks({ outputs: [x], errors: [] });
  const into = (x: Tensor, target: Uint8Array) =>
    isReq
      ? encodeRequestInto({ type: 'infer', config: '', inputNames: ['x'], inputs: [x], outputNames: [] }, target)
      : encodeInferResponseInto({ outputs: [x], errors: [] }, target);
  const dec = (b: Uint8Array) => (isReq ? decodeRequest(b) : decodeInferResponse(b));
  const ser = `serialize ${kind}` as Op;
  const des = `deserialize ${kind}` as Op;
  const heavy = isReq ? 5 : 9; // reps for the 77 MB / 12.8 MB copies
  log(`${kind}: ${shape.join('×')} float32, ${(t.byteLength / 1e6).toFixed(1)} MB`);

  // Floor: one copy of the payload bytes.
  const src = Buffer.from(t.bytes().buffer);
  const dst = Buffer.allocUnsafeSlow(src.length);
  // Measured once, shown in both rows. Allocate + copy includes first-touch page
  // faults of fresh memory, as a one-buffer encode (or a receive buffer) pays them.
  const intoPrealloc = time(() => src.copy(dst), heavy);
  const allocCopy = time(() => {
    const b = Buffer.allocUnsafeSlow(src.length);
    src.copy(b);
    return b;
  }, heavy);
  for (const op of [ser, des]) {
    results[op]['floor (copy into preallocated)'] = intoPrealloc;
    results[op]['floor (allocate + copy)'] = allocCopy;
  }

  // modelpipe: one buffer (one allocation + one copy), and scatter-gather chunks (no copy).
  results[ser].modelpipe = time(() => enc(t), heavy);
  // Into a reused buffer: the same copy as the preallocated floor, plus the header.
  const reused = Buffer.allocUnsafeSlow(enc(t).length);
  results[ser]['modelpipe into preallocated'] = time(() => into(t, reused), heavy);
  // Big and tiny chunk encodes alternate, batch by batch, so JIT and GC state is the
  // same for both: the comparison shows whether the cost depends on payload size.
  const big: number[] = [];
  const small: number[] = [];
  for (let r = 0; r < 15; r++) {
    big.push(time(() => chunks(t), 1, 1000));
    small.push(time(() => chunks(tiny), 1, 1000));
  }
  results[ser]['modelpipe chunks'] = median(big);
  const tinyChunksMs = median(small);
  const wire = enc(t);
  results[des].modelpipe = time(() => dec(wire), 15, 1000);

  // Zero copy: decoding must not grow RSS beyond the input buffer, and must hand out a view.
  gc();
  const rss0 = process.memoryUsage().rss;
  const decoded = dec(wire);
  const rssGrowth = process.memoryUsage().rss - rss0;
  const out = 'inputs' in decoded ? decoded.inputs[0] : 'outputs' in decoded ? decoded.outputs[0] : undefined;
  const zeroCopy = out !== undefined && (out.data as Float32Array).buffer === wire.buffer;
  log(`  decode: RSS +${(rssGrowth / 1024).toFixed(0)} KiB, view into the message: ${zeroCopy}`);

  // protobufjs, both ways TF-Serving clients fill a TensorProto.
  const Msg = isReq ? PredictRequest : PredictResponse;
  const field = isReq ? 'inputs' : 'outputs';
  for (const style of ['float_val', 'tensor_content'] as ProtoStyle[]) {
    const v = `protobuf ${style}` as Variant;
    const msg = { [field]: { x: tensorProto(t, style) } };
    results[ser][v] = time(() => Msg.encode(msg).finish(), style === 'float_val' ? 3 : heavy);
    const bytes = Msg.encode(msg).finish();
    results[des][v] = time(() => payloadLength(Msg.decode(bytes), field), style === 'float_val' ? 3 : 15, style === 'float_val' ? 1 : 100);
    log(`  ${v}: ${(bytes.length / 1e6).toFixed(1)} MB`);
  }

  // JSON: the body a typical Node API takes, {"inputs": nested arrays}. Slow: fewer reps.
  let nested: unknown = toNested(t);
  const body = isReq ? { inputs: nested } : { outputs: nested };
  results[ser].JSON = time(() => JSON.stringify(body), isReq ? 3 : 5);
  let text: string | undefined = JSON.stringify(body);
  log(`  JSON: ${(text.length / 1e6).toFixed(0)} MB of text`);
  results[des].JSON = time(() => JSON.parse(text as string), isReq ? 3 : 5);
  nested = undefined;
  text = undefined;
  gc();
  return { tinyChunksMs, rssGrowth, zeroCopy };
}

const fmt = (ms: number | undefined): string =>
  ms === undefined ? '—' : ms < 0.1 ? ms.toFixed(4) : ms < 10 ? ms.toFixed(3) : ms.toFixed(1);
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '—' : `${(a / b).toFixed(a / b < 10 ? 2 : 0)}×`;

export async function run(): Promise<void> {
  const log = (s: string) => console.log(s);
  const t0 = performance.now();
  const req = bench('request', [128, 224, 224, 3], log);
  const res = bench('response', [128, 7, 7, 512], log);

  const w = 32;
  console.log(`\nms per op (median), node ${process.version}\n`);
  console.log(['variant'.padEnd(w), ...OPS.map((o) => o.padStart(22))].join(''));
  for (const v of VARIANTS) console.log([v.padEnd(w), ...OPS.map((o) => fmt(results[o][v]).padStart(22))].join(''));
  console.log('');
  const mp = (o: Op) => results[o].modelpipe;
  const ratios: [string, (o: Op) => string][] = [
    ['modelpipe / floor (alloc+copy)', (o) => ratio(mp(o), results[o]['floor (allocate + copy)'])],
    ['JSON / modelpipe', (o) => ratio(results[o].JSON, mp(o))],
    ['protobuf float_val / modelpipe', (o) => ratio(results[o]['protobuf float_val'], mp(o))],
    ['protobuf tensor_content / modelpipe', (o) => ratio(results[o]['protobuf tensor_content'], mp(o))],
  ];
  for (const [name, f] of ratios) console.log([name.padEnd(w + 4), ...OPS.map((o) => f(o).padStart(22))].join(''));

  // Verdicts, computed from the numbers above and printed whether they pass or not.
  const des: Op[] = ['deserialize request', 'deserialize response'];
  const ser: Op[] = ['serialize request', 'serialize response'];
  const at = (o: Op, v: Variant) => results[o][v] as number;
  const chunkRatio = Math.max(
    at('serialize request', 'modelpipe chunks') / req.tinyChunksMs,
    at('serialize response', 'modelpipe chunks') / res.tinyChunksMs,
  );
  const best = (o: Op): number =>
    Math.min(
      ...(['modelpipe', 'modelpipe into preallocated', 'modelpipe chunks'] as Variant[]).map(
        (v) => results[o][v] ?? Number.POSITIVE_INFINITY,
      ),
    );
  const targets = {
    deserialize_le_0_05ms: {
      pass: des.every((o) => at(o, 'modelpipe') <= 0.05),
      detail: des.map((o) => `${o} ${fmt(at(o, 'modelpipe'))} ms`).join(', '),
    },
    serialize_le_1_3x_floor_alloc_copy: {
      pass: ser.every((o) => at(o, 'modelpipe') <= 1.3 * at(o, 'floor (allocate + copy)')),
      detail: ser.map((o) => `${o} ${ratio(at(o, 'modelpipe'), at(o, 'floor (allocate + copy)'))} of allocate+copy`).join(', '),
    },
    // The stricter floor, reported too: a copy into memory that is already mapped.
    serialize_le_1_3x_floor_prealloc: {
      pass: ser.every((o) => at(o, 'modelpipe') <= 1.3 * at(o, 'floor (copy into preallocated)')),
      detail: ser
        .map((o) => `${o} ${ratio(at(o, 'modelpipe'), at(o, 'floor (copy into preallocated)'))} of copy into preallocated`)
        .join(', '),
    },
    // Same floor, with the encoder writing into a reused buffer as the floor's copy does.
    serialize_into_le_1_3x_floor_prealloc: {
      pass: ser.every((o) => at(o, 'modelpipe into preallocated') <= 1.3 * at(o, 'floor (copy into preallocated)')),
      detail: ser
        .map(
          (o) => `${o} ${ratio(at(o, 'modelpipe into preallocated'), at(o, 'floor (copy into preallocated)'))} of copy into preallocated`,
        )
        .join(', '),
    },
    serialize_chunks_size_independent: {
      pass: chunkRatio < 2,
      detail: `chunk encode of 77 MB / 12.8 MB vs a 1-element tensor: ${chunkRatio.toFixed(2)}× (tiny: ${fmt(req.tinyChunksMs)} / ${fmt(res.tinyChunksMs)} ms)`,
    },
    json_ge_100x: {
      pass: OPS.every((o) => at(o, 'JSON') >= 100 * at(o, 'modelpipe')),
      detail: `${OPS.map((o) => `${o} ${ratio(at(o, 'JSON'), at(o, 'modelpipe'))}`).join(', ')}; ${ser
        .map((o) => `${o} ${ratio(at(o, 'JSON'), at(o, 'modelpipe chunks'))} with chunks`)
        .join(', ')}`,
    },
    // Every op, taking each op's form that a caller would use for speed (into / chunks for serialize).
    json_ge_100x_best_form: {
      pass: OPS.every((o) => at(o, 'JSON') >= 100 * best(o)),
      detail: OPS.map((o) => `${o} ${ratio(at(o, 'JSON'), best(o))}`).join(', '),
    },
    faster_than_protobufjs: {
      pass: OPS.every((o) => at(o, 'modelpipe') < Math.min(at(o, 'protobuf float_val'), at(o, 'protobuf tensor_content'))),
      detail: OPS.map(
        (o) =>
          `${o} ${ratio(at(o, 'protobuf tensor_content'), at(o, 'modelpipe'))} (tensor_content), ${ratio(at(o, 'protobuf float_val'), at(o, 'modelpipe'))} (float_val)`,
      ).join(', '),
    },
    decode_zero_copy: {
      pass: req.zeroCopy && res.zeroCopy && req.rssGrowth < 1 << 20 && res.rssGrowth < 1 << 20,
      detail: `views: ${req.zeroCopy}/${res.zeroCopy}, RSS growth ${(req.rssGrowth / 1024).toFixed(0)} / ${(res.rssGrowth / 1024).toFixed(0)} KiB`,
    },
  };
  console.log('\ntargets:');
  for (const [k, v] of Object.entries(targets)) console.log(`  ${v.pass ? 'MET    ' : 'NOT MET'} ${k}: ${v.detail}`);
  const wall = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      bench: 'codec',
      node: process.version,
      wall_s: Number(wall.toFixed(1)),
      ms: results,
      tiny_chunks_ms: { request: req.tinyChunksMs, response: res.tinyChunksMs },
      targets,
      sink: sink & 1,
    }),
  );
}
