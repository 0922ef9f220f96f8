/**
 * Open Inference Protocol benchmark: squeezenet batch-16 requests against one
 * `modelpipe serve` process speaking GraphPipe, OIP REST and OIP gRPC on the same
 * engine. Rows/s for GraphPipe vs OIP-binary vs OIP-gRPC (target: both within 10 %
 * of GraphPipe), OIP-JSON beside them. Bodies are encoded once up front, so the
 * numbers measure the server. The load generator shares the two cores, so each
 * protocol is driven by a lean client: undici for HTTP, modelpipe's own gRPC
 * transport for gRPC. The same gRPC load through grpc-js's client is reported
 * beside it (it costs several times the CPU per request, which the server then lacks). Prints a table and a final JSON line with verdicts.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, credentials } from '@grpc/grpc-js';
import { GrpcChannel } from '../src/client/grpc-channel.js';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { encodeInferRequest, inferenceService } from '../src/protocol/oip/index.js';
import { Tensor } from '../src/tensor/index.js';
import { spawn } from 'node:child_process';
import { type LoadResult, closedLoop, combine, load, stopServer, table } from './load.js';

const here = join(fileURLToPath(import.meta.url), '..');
const shared = process.env.MODELPIPE_SHARED ?? join(here, '..', '..', '..', 'shared');
const SQUEEZE = join(shared, 'models', 'squeezenet1.1.onnx');
const SECS = Number(process.env.BENCH_SECONDS ?? 15);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONC = Number(process.env.BENCH_CLIENTS ?? 4);
const ROWS = 16;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Closed-loop gRPC load with a pre-serialized ModelInfer message, sent through
 * modelpipe's own gRPC transport or through grpc-js's client.
 */
async function grpcLoad(
  address: string,
  body: Buffer,
  concurrency: number,
  seconds: number,
  via: 'modelpipe' | 'grpc-js',
): Promise<LoadResult> {
  const path = '/inference.GRPCInferenceService/ModelInfer';
  let call: () => Promise<unknown>;
  let close: () => void;
  if (via === 'modelpipe') {
    const ch = new GrpcChannel(address);
    call = () => ch.unary(path, [body], { timeoutMs: 60_000, maxReceiveBytes: 64 << 20 });
    close = () => ch.close();
  } else {
    const c = new Client(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
    call = () =>
      new Promise<void>((resolve, reject) =>
        c.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    close = () => c.close();
  }
  try {
    return await closedLoop(
      () =>
        call().then(
          () => ({ ok: true }),
          () => ({ ok: false }),
        ),
      concurrency,
      seconds,
    );
  } finally {
    close();
  }
}

/** Starts `modelpipe serve`; its URL comes in the log line (stderr), hence not load.ts's startServer. */
function startServe(args: string[]): Promise<{ url: string; proc: ReturnType<typeof spawn> }> {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) resolve({ url: m[0], proc });
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (c) => reject(new Error(`serve exited ${c}: ${out}`)));
  });
}

export async function main(): Promise<Record<string, unknown>> {
  const data = new Float32Array(ROWS * 3 * 224 * 224);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 255;
  const batch = new Tensor('float32', [ROWS, 3, 224, 224], data);
  const gpBody = encodeRequest({ type: 'infer', config: '', inputNames: [], inputs: [batch], outputNames: [] });
  const oip = (binary: boolean) => {
    const e = encodeInferRequest({ inputs: [{ name: 'data_0', tensor: batch }], outputs: [] }, { binary, binaryOutputs: binary });
    return {
      body: Buffer.concat(e.chunks),
      headers: e.headerLength === undefined ? {} : { 'inference-header-content-length': String(e.headerLength) },
    };
  };
  const bin = oip(true);
  const json = oip(false);
  const grpcBody = inferenceService().service.ModelInfer?.requestSerialize({
    model_name: 'squeezenet1.1',
    inputs: [{ name: 'data_0', datatype: 'FP32', shape: batch.shape }],
    raw_input_contents: [batch.bytes()],
  }) as Buffer;
  const grpcPort = await freePort();
  const cli = join(here, '..', 'src', 'cli', 'main.js');
  const srv = await startServe([cli, 'serve', SQUEEZE, '--listen', '127.0.0.1:0', '--grpc-listen', `127.0.0.1:${grpcPort}`]);
  const path = '/v2/models/squeezenet1.1/infer';
  const runs: [string, (secs: number) => Promise<LoadResult>][] = [
    ['GraphPipe', (secs) => load(srv.url, '/', gpBody, CONC, secs)],
    ['OIP REST binary', (secs) => load(srv.url, path, bin.body, CONC, secs, bin.headers)],
    ['OIP gRPC (raw)', (secs) => grpcLoad(`127.0.0.1:${grpcPort}`, grpcBody, CONC, secs, 'modelpipe')],
    ['OIP gRPC (raw), grpc-js client', (secs) => grpcLoad(`127.0.0.1:${grpcPort}`, grpcBody, CONC, secs, 'grpc-js')],
    ['OIP REST JSON', (secs) => load(srv.url, path, json.body, CONC, secs, { 'content-type': 'application/json' })],
  ];
  const res: Record<string, LoadResult> = {};
  try {
    for (const [, run] of runs) await run(1); // warm-up: connections, worker caches
    const done: Record<string, LoadResult[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of runs) {
        const r = await run(SECS / ROUNDS);
        if (r.errors > 0) throw new Error(`${name}: ${r.errors} failed requests`);
        done[name] = [...(done[name] ?? []), r];
      }
    }
    for (const [name] of runs) res[name] = combine(done[name] as LoadResult[]);
  } finally {
    await stopServer(srv.proc);
  }
  const base = (res.GraphPipe as LoadResult).rps * ROWS;
  const rows = Object.entries(res).map(([n, r]) => [n, r.rps * ROWS, r.p50, r.p99, `${((r.rps * ROWS * 100) / base).toFixed(1)} %`]);
  console.log(`\nsqueezenet batch ${ROWS}, ${CONC} clients, ${SECS} s each in ${ROUNDS} interleaved rounds, one server process\n`);
  console.log(table(['protocol', 'rows/s', 'p50 ms', 'p99 ms', 'of GraphPipe'], rows));
  const ratio = (n: string) => ((res[n] as LoadResult).rps * ROWS) / base;
  const out = {
    graphpipe_rows_s: base,
    oip_binary_rows_s: ratio('OIP REST binary') * base,
    oip_grpc_rows_s: ratio('OIP gRPC (raw)') * base,
    oip_grpc_grpcjs_client_rows_s: ratio('OIP gRPC (raw), grpc-js client') * base,
    oip_json_rows_s: ratio('OIP REST JSON') * base,
    oip_binary_ratio: ratio('OIP REST binary'),
    oip_grpc_ratio: ratio('OIP gRPC (raw)'),
    oip_json_ratio: ratio('OIP REST JSON'),
    oip_binary_within_10pct: ratio('OIP REST binary') >= 0.9,
    oip_grpc_within_10pct: ratio('OIP gRPC (raw)') >= 0.9,
  };
  console.log(JSON.stringify(out));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
