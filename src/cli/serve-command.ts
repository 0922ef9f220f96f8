import cluster from 'node:cluster';
import { RowCache, defaultRowCacheDir, fileIdentity } from '../cache/row-cache.js';
import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { schedulerFromFlags } from '../flags/scheduler-flags.js';
import { helpText } from '../flags/help.js';
import { parseFlags } from '../flags/table.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import { modelFileOf, modelNameOf, progressPrinter, resolveModelSource } from '../models/source.js';
import { type Logger, createLogger } from '../observe/logger.js';
import { loadModelConfig } from '../scheduling/config.js';
import { stopOnSignals } from '../server/signals.js';
import { readJsonFile, needDir } from './checks.js';
import { parseProcesses } from './processes.js';
import { SERVE, type ServeValues, optional, stackOptions } from './serve-flags.js';
import { runPrimary, sharedThreads } from './serve-processes.js';
import { serveRepository } from './serve-repository.js';
import { type Stack, startServeStack } from './serve-stack.js';

export { SERVE };
export const SERVE_HELP = helpText(SERVE);

export async function serveCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, SERVE);
  if (v.help) {
    console.log(SERVE_HELP);
    return;
  }
  const processes = parseProcesses(v.processes);
  if (processes > 1 && cluster.isPrimary) {
    await runPrimary(v, processes);
    return;
  }
  const repoDir = v.repository;
  if (repoDir !== undefined) {
    needDir(repoDir, '--repository');
    await serveRepository(v, repoDir);
    return;
  }
  const given = positionals[0] ?? nonEmpty(process.env.MODELPIPE_MODEL);
  if (!given) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `serve needs a model file or URL\n\n${SERVE_HELP}`);
  const log = createLogger(v['log-level']);
  // A directory with one model file (KServe's /mnt/models) serves that file.
  const location = modelFileOf(given);
  const { model, path, fileConfig, t0 } = await loadModel(v, location, processes);
  const engine = new Engine();
  const cache =
    v.cache === true
      ? RowCache.open({ dir: v['cache-dir'] ?? defaultRowCacheDir(), ...optional('maxBytes', v['cache-max-bytes']) })
      : undefined;
  const identity = cache ? `${await fileIdentity(path)}:${model.metadata.name}:${model.metadata.version}` : '';
  engine.add(model.metadata.name, model, {
    ...schedulerFromFlags(v, model.batchable, fileConfig.scheduler),
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
  announce(log, stack, engine, model, { device: v.device, cache: cache !== undefined, t0 });
}

/** Reads what the flags name, downloads the model if it is a URL, and loads it. */
async function loadModel(v: ServeValues, location: string, processes: number) {
  const valueInputsFile = v['value-inputs'];
  // Read before the model is downloaded or loaded: a mistake costs nothing.
  const valueInputs = valueInputsFile
    ? (readJsonFile(valueInputsFile, '--value-inputs') as Record<string, [unknown, number[]]>)
    : undefined;
  const path = await resolveModelSource(location, {
    ...optional('sha256', v.sha256),
    ...optional('cacheDir', v['download-dir']),
    onProgress: progressPrinter(`downloading ${location}`),
  });
  const configFile = v['model-config'];
  const fileConfig = configFile ? loadModelConfig(configFile) : { scheduler: {} };
  const t0 = performance.now();
  const instances = v.instances ?? fileConfig.instances ?? 1;
  const model = await OnnxModel.load({
    path,
    device: v.device as 'cpu' | 'cuda',
    instances,
    name: v.name ?? modelNameOf(location),
    ...optional('inputs', v.inputs),
    ...optional('outputs', v.outputs),
    ...optional('intraOpThreads', v['intra-op-threads'] ?? sharedThreads(processes, instances)),
    ...optional('interOpThreads', v['inter-op-threads']),
    ...optional('nice', v['worker-nice']),
    ...optional('valueInputs', valueInputs),
  });
  return { model, path, fileConfig, t0 };
}

function announce(log: Logger, stack: Stack, engine: Engine, model: OnnxModel, o: { device: string; cache: boolean; t0: number }): void {
  const name = model.metadata.name;
  log.info(
    {
      url: stack.http.url,
      model: name,
      instances: model.instances,
      device: o.device,
      batching: engine.schedulerOptions(name).batching ?? 'off',
      cache: o.cache ? 'on' : 'off',
      loadMs: Math.round(performance.now() - o.t0),
    },
    `serving ${name} on ${stack.http.url}`,
  );
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === '' ? undefined : s;
}
