import { readFileSync } from 'node:fs';
import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import { progressPrinter, resolveModelSource } from '../models/source.js';
import { DEFAULT_BATCHING, type SchedulerOptions } from '../scheduling/options.js';
import { type Logger, createLogger } from '../server/logger.js';
import { bytes, int, list, parseWithEnv, str } from './args.js';
import { serveRepository } from './serve-repository.js';
import { startStack } from './serve-stack.js';

export const SERVE_HELP = `modelpipe serve MODEL.onnx|URL [options]    (or: modelpipe serve --repository DIR)
  --listen host:port        address to listen on (default 127.0.0.1:9000): GraphPipe and OIP REST (/v2)
  --grpc-listen host:port   also serve OIP gRPC (inference.GRPCInferenceService) there
  --grpc-max-message SIZE   largest gRPC message either way (default: --body-limit)
  --repository DIR          serve every model in DIR/<model>/<version>/model.onnx (+ config.json)
  --default-model NAME      repository model GraphPipe's root path serves (default: the first)
  --poll-seconds N          rescan the repository every N seconds, reloading changed models
  --name NAME               model name (default: the file's stem)
  --inputs a,b              default inputs, in order (default: the model's)
  --outputs x,y             default outputs (default: the model's)
  --value-inputs FILE.json  GraphPipe value inputs {"name": [dtype, shape]} pinning input shapes
  --device cpu|cuda         execution provider (default cpu)
  --instances N             worker threads, one onnxruntime session each (default 1)
  --intra-op-threads N      onnxruntime intra-op threads per session
  --inter-op-threads N      onnxruntime inter-op threads per session
  --sha256 HEX              expected SHA-256 of the model file
  --cache-dir DIR           where downloaded models are kept
  --body-limit SIZE         largest request body (default 64MiB)
  --timeout MS              per-request timeout (default 30000)
  --max-queue N             queued requests before 503 (default 1024)
  --batch / --no-batch      dynamic batching (default on when the model has a free batch dimension)
  --max-batch-size N        rows per merged batch (default 16)
  --max-queue-delay-us N    how long a request waits for company (default 2000)
  --preferred-batch-sizes a,b
  --log-level LEVEL         pino level (default info)
Every flag can also be set as MODELPIPE_<FLAG> (e.g. MODELPIPE_LISTEN=0.0.0.0:9000).`;

export const SERVE_FLAGS = {
  listen: { type: 'string' },
  'grpc-listen': { type: 'string' },
  'grpc-max-message': { type: 'string' },
  repository: { type: 'string' },
  'default-model': { type: 'string' },
  'poll-seconds': { type: 'string' },
  name: { type: 'string' },
  inputs: { type: 'string' },
  outputs: { type: 'string' },
  'value-inputs': { type: 'string' },
  device: { type: 'string' },
  instances: { type: 'string' },
  'intra-op-threads': { type: 'string' },
  'inter-op-threads': { type: 'string' },
  sha256: { type: 'string' },
  'cache-dir': { type: 'string' },
  'body-limit': { type: 'string' },
  timeout: { type: 'string' },
  'max-queue': { type: 'string' },
  batch: { type: 'boolean' },
  'no-batch': { type: 'boolean' },
  'max-batch-size': { type: 'string' },
  'max-queue-delay-us': { type: 'string' },
  'preferred-batch-sizes': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Scheduler options from flags (shared by serve and batcher). */
export function schedulerFromFlags(v: Record<string, unknown>, batchableDefault: boolean): Partial<SchedulerOptions> {
  const on = v['no-batch'] === true ? false : v.batch === true ? true : batchableDefault;
  const out: Partial<SchedulerOptions> = {
    batching: on
      ? {
          maxBatchSize: int(v['max-batch-size'], 'max-batch-size') ?? DEFAULT_BATCHING.maxBatchSize,
          maxQueueDelayUs: int(v['max-queue-delay-us'], 'max-queue-delay-us') ?? DEFAULT_BATCHING.maxQueueDelayUs,
          preferredBatchSizes: (list(v['preferred-batch-sizes']) ?? []).map(Number),
        }
      : undefined,
  };
  const q = int(v['max-queue'], 'max-queue');
  if (q !== undefined) out.maxQueueSize = q;
  const t = int(v.timeout, 'timeout');
  if (t !== undefined) out.timeoutMs = t;
  return out;
}

/** Installs SIGTERM/SIGINT handlers that stop gracefully and exit 0. */
export function stopOnSignals(close: () => Promise<void>, log: { info: (o: object, m: string) => void }): void {
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping: finishing in-flight requests');
    void close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function serveCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseWithEnv(argv, SERVE_FLAGS);
  if (v.help) {
    console.log(SERVE_HELP);
    return;
  }
  const repoDir = str(v.repository);
  if (repoDir !== undefined) {
    await serveRepository(v, repoDir);
    return;
  }
  const location = positionals[0] ?? str(v.model);
  if (!location) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `serve needs a model file or URL\n\n${SERVE_HELP}`);
  const log = createLogger(str(v['log-level']));
  const device = (str(v.device) ?? 'cpu') as 'cpu' | 'cuda';
  if (device !== 'cpu' && device !== 'cuda') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--device must be cpu or cuda, got ${device}`);
  const sha = str(v.sha256);
  const cacheDir = str(v['cache-dir']);
  const path = await resolveModelSource(location, {
    ...(sha ? { sha256: sha } : {}),
    ...(cacheDir ? { cacheDir } : {}),
    onProgress: progressPrinter(`downloading ${location}`),
  });
  const valueInputsFile = str(v['value-inputs']);
  const t0 = performance.now();
  const model = await OnnxModel.load({
    path,
    device,
    instances: int(v.instances, 'instances') ?? 1,
    ...optional('name', str(v.name)),
    ...optional('inputs', list(v.inputs)),
    ...optional('outputs', list(v.outputs)),
    ...optional('intraOpThreads', int(v['intra-op-threads'], 'intra-op-threads')),
    ...optional('interOpThreads', int(v['inter-op-threads'], 'inter-op-threads')),
    ...optional(
      'valueInputs',
      valueInputsFile ? (JSON.parse(readFileSync(valueInputsFile, 'utf8')) as Record<string, [unknown, number[]]>) : undefined,
    ),
  });
  const engine = new Engine();
  engine.add(model.metadata.name, model, { ...schedulerFromFlags(v, model.batchable), loadSeconds: (performance.now() - t0) / 1000 });
  const stack = await startStack(stackOptions(v, engine, log));
  stopOnSignals(() => stack.close(), log);
  const server = stack.http;
  log.info(
    {
      url: server.url,
      model: model.metadata.name,
      instances: model.instances,
      device,
      batchable: model.batchable,
      loadMs: Math.round(performance.now() - t0),
    },
    `serving ${model.metadata.name} on ${server.url}`,
  );
}

export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** What startStack needs from the flags. */
export function stackOptions(v: Record<string, unknown>, engine: Engine, log: Logger) {
  return {
    engine,
    log,
    listen: str(v.listen),
    grpcListen: str(v['grpc-listen']),
    bodyLimit: bytes(v['body-limit'], 'body-limit'),
    grpcMaxMessage: bytes(v['grpc-max-message'], 'grpc-max-message'),
    timeoutMs: int(v.timeout, 'timeout'),
  };
}
