import cluster from 'node:cluster';
import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { RowCache, defaultRowCacheDir, fileIdentity } from '../cache/row-cache.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import { configBeside, deviceOf, instancesOf, loadModelConfig, onnxOptionsOf, toSchedulerOptions } from '../config/index.js';
import { modelFileOf, modelNameOf, progressPrinter, resolveModelSource } from '../models/source.js';
import { type Logger, createLogger } from '../observe/logger.js';
import { bytes, int, list, parseWithEnv, str } from '../flags/args.js';
import { LIMIT_FLAGS, LIMIT_HELP, limitsFromFlags } from '../flags/limit-flags.js';
import { SERVER_SECURITY_FLAGS, SERVER_SECURITY_HELP, serverSecurityFromFlags } from '../flags/security-flags.js';
import { needDir, readJsonFile } from './checks.js';
import { effectiveConfig } from '../flags/scheduler-flags.js';
import { stopOnSignals } from '../server/signals.js';
import { labelSource } from '../server/oip-classification.js';
import { serveRepository } from './serve-repository.js';
import { type Stack, startServeStack } from './serve-stack.js';
import { optional, stackOptions } from './serve-flags.js';
import { parseProcesses } from './processes.js';
import { runPrimary, sharedThreads } from './serve-processes.js';

export const SERVE_HELP = `modelpipe serve MODEL.onnx|DIR|URL [options]    (or: modelpipe serve --repository DIR)
  DIR                       a directory holding exactly one *.onnx file (as KServe lays out /mnt/models)
                            (the model may also come from MODELPIPE_MODEL, as in the container image)
  --listen host:port        address to listen on (default 127.0.0.1:9000): GraphPipe and OIP REST (/v2)
  --grpc-listen host:port   also serve OIP gRPC (inference.GRPCInferenceService) there
  --grpc-max-message SIZE   largest gRPC message either way (default: --body-limit)
  --grpc-max-connections N  gRPC connections at once; more are answered UNAVAILABLE (default 1000)
  --grpc-max-streams N      gRPC calls at once per connection (default 256)
  --grpc-max-pending SIZE   memory held by gRPC messages still arriving, all calls together;
                            past it a call is RESOURCE_EXHAUSTED (default 1GiB)
  --grpc-stream-idle-timeout MS  a gRPC call whose message stops arriving is ended
                            (DEADLINE_EXCEEDED) (default 30000; 0: never)
  --grpc-idle-timeout MS    an idle gRPC connection is closed gracefully (default 300000; 0: never)
  --processes N|auto        server processes sharing the listen port(s), each with its own model
                            instances (default 1; auto: one per core); /metrics and health answer
                            for all of them, one that dies is restarted
  --repository DIR          serve every model in DIR/<model>/<version>/model.onnx (+ config.json)
  --default-model NAME      repository model GraphPipe's root path serves (default: the first)
  --labels FILE             class labels (one a line) for OIP's classification extension; with
                            --repository, DIR/<model>/labels.txt is used instead
  --poll-seconds N          rescan the repository every N seconds, reloading changed models
  --name NAME               model name (default: the file's stem)
  --inputs a,b              default inputs, in order (default: the model's)
  --outputs x,y             default outputs (default: the model's)
  --value-inputs FILE.json  GraphPipe value inputs {"name": [dtype, shape]} pinning input shapes
  --device cpu|cuda         execution provider (default cpu)
  --instances N             worker threads, one onnxruntime session each (default 1);
                            N single-threaded sessions can beat one N-threaded one
                            under concurrent load
  --intra-op-threads N      onnxruntime intra-op threads per session (default: the CPUs
                            divided among the instances)
  --no-fanout               never split one large batch across idle instances
  --inter-op-threads N      onnxruntime inter-op threads per session
  --worker-nice N           CPU niceness of inference threads (default 19, so the event loop
                            answers health checks and I/O first; 0 keeps normal priority, for
                            hosts where other busy processes would otherwise starve inference)
  --sha256 HEX              expected SHA-256 of the model file
  --download-dir DIR        where downloaded models are kept (default ~/.cache/modelpipe/models)
  --model-config FILE       model config in Triton's names, JSON or config.pbtxt (max_batch_size,
                            dynamic_batching, instance_group, …; docs/model-config.md); default: a
                            config.json or config.pbtxt beside the model, if any; flags override it
  --cache                   row-level result cache (off by default)
  --cache-dir DIR           where the row cache lives (default ~/.cache/modelpipe/rows)
  --cache-max-bytes SIZE    row cache budget, oldest rows evicted beyond it (default 1GiB)
  --body-limit SIZE         largest request body (default 65MiB: a 64 MiB tensor and its envelope)
  --timeout MS              per-request timeout (default 30000)
  --max-queue N             queued requests before 503 (default 1024)
  --batch / --no-batch      dynamic batching (default on when the model has a free batch dimension)
  --max-batch-size N        rows per merged batch (default 16)
  --max-queue-delay-us N    how long a request waits for company (default 2000)
  --preferred-batch-sizes a,b
  --log-level LEVEL         pino level (default info)
${LIMIT_HELP}
${SERVER_SECURITY_HELP}
Every flag can also be set as MODELPIPE_<FLAG> (e.g. MODELPIPE_LISTEN=0.0.0.0:9000).`;

export const SERVE_FLAGS = {
  listen: { type: 'string' },
  'grpc-listen': { type: 'string' },
  'grpc-max-message': { type: 'string' },
  'grpc-max-connections': { type: 'string' },
  'grpc-max-streams': { type: 'string' },
  'grpc-max-pending': { type: 'string' },
  'grpc-stream-idle-timeout': { type: 'string' },
  'grpc-idle-timeout': { type: 'string' },
  processes: { type: 'string' },
  repository: { type: 'string' },
  labels: { type: 'string' },
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
  'worker-nice': { type: 'string' },
  sha256: { type: 'string' },
  'download-dir': { type: 'string' },
  'model-config': { type: 'string' },
  cache: { type: 'boolean' },
  'cache-dir': { type: 'string' },
  'cache-max-bytes': { type: 'string' },
  'body-limit': { type: 'string' },
  timeout: { type: 'string' },
  'max-queue': { type: 'string' },
  batch: { type: 'boolean' },
  'no-batch': { type: 'boolean' },
  'no-fanout': { type: 'boolean' },
  'max-batch-size': { type: 'string' },
  'max-queue-delay-us': { type: 'string' },
  'preferred-batch-sizes': { type: 'string' },
  'log-level': { type: 'string' },
  ...LIMIT_FLAGS,
  ...SERVER_SECURITY_FLAGS,
  help: { type: 'boolean', short: 'h' },
} as const;

export async function serveCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseWithEnv(argv, SERVE_FLAGS);
  if (v.help) {
    console.log(SERVE_HELP);
    return;
  }
  const processes = parseProcesses(str(v.processes));
  if (processes > 1 && cluster.isPrimary) {
    await runPrimary(v, processes);
    return;
  }
  const repoDir = str(v.repository);
  if (repoDir !== undefined) {
    needDir(repoDir, '--repository');
    await serveRepository(v, repoDir);
    return;
  }
  const given = positionals[0] ?? str(v.model) ?? nonEmpty(process.env.MODELPIPE_MODEL);
  if (!given) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `serve needs a model file or URL\n\n${SERVE_HELP}`);
  // A directory with one model file (KServe's /mnt/models) serves that file.
  const location = modelFileOf(given);
  const log = createLogger(str(v['log-level']));
  const valueInputsFile = str(v['value-inputs']);
  // Read before the model is downloaded or loaded: a mistake costs nothing.
  const valueInputs = valueInputsFile
    ? (readJsonFile(valueInputsFile, '--value-inputs') as Record<string, [unknown, number[]]>)
    : undefined;
  const sha = str(v.sha256);
  const cacheDir = str(v['download-dir']);
  const path = await resolveModelSource(location, {
    ...(sha ? { sha256: sha } : {}),
    ...(cacheDir ? { cacheDir } : {}),
    onProgress: progressPrinter(`downloading ${location}`),
  });
  const { config, device, instances, intraOpThreads } = modelSettings(v, location, path, processes, log);
  const t0 = performance.now();
  const model = await OnnxModel.load({
    ...onnxOptionsOf(config),
    path,
    device,
    instances,
    name: str(v.name) ?? config.name ?? modelNameOf(location),
    ...optional('inputs', list(v.inputs)),
    ...optional('outputs', list(v.outputs)),
    ...optional('intraOpThreads', intraOpThreads),
    ...optional('interOpThreads', int(v['inter-op-threads'], 'inter-op-threads')),
    ...optional('nice', int(v['worker-nice'], 'worker-nice')),
    ...optional('valueInputs', valueInputs),
  });
  const engine = new Engine();
  const cache =
    v.cache === true
      ? RowCache.open({
          dir: str(v['cache-dir']) ?? defaultRowCacheDir(),
          ...optional('maxBytes', bytes(v['cache-max-bytes'], 'cache-max-bytes')),
        })
      : undefined;
  const identity = cache ? `${await fileIdentity(path)}:${model.metadata.name}:${model.metadata.version}` : '';
  engine.add(model.metadata.name, model, {
    ...toSchedulerOptions(config, model.batchable),
    config,
    loadSeconds: (performance.now() - t0) / 1000,
    ...optional('runThrough', cache?.runThrough(model.metadata.name, identity, engine.metrics)),
  });
  // Signal handlers first, so a SIGTERM during start-up still exits cleanly.
  let stack: Stack | undefined;
  stopOnSignals(async () => {
    await stack?.close();
    await cache?.close();
  }, log);
  stack = await startServeStack(stackOptions(v, engine, log));
  const server = stack.http;
  log.info(
    {
      url: server.url,
      model: model.metadata.name,
      instances: model.instances,
      device,
      batching: engine.schedulerOptions(model.metadata.name).batching ?? 'off',
      cache: cache ? 'on' : 'off',
      loadMs: Math.round(performance.now() - t0),
    },
    `serving ${model.metadata.name} on ${server.url}`,
  );
}

/**
 * The model's config (--model-config, else a config.json beside the model) with the
 * flags on top, and what loading the model takes from it; a flag beats the file.
 */
function modelSettings(v: Record<string, unknown>, location: string, path: string, processes: number, log: Logger) {
  const file = str(v['model-config']) ?? configBeside(location, path);
  const config = effectiveConfig(v, file ? loadModelConfig(file, { warn: (msg) => log.warn(msg) }) : {});
  const device = str(v.device) ?? deviceOf(config) ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--device must be cpu or cuda, got ${device}`);
  const instances = int(v.instances, 'instances') ?? instancesOf(config) ?? 1;
  const intraOpThreads =
    int(v['intra-op-threads'], 'intra-op-threads') ?? config.modelpipe?.intra_op_threads ?? sharedThreads(processes, instances);
  return { config, device: device as 'cpu' | 'cuda', instances, intraOpThreads };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === '' ? undefined : s;
}
