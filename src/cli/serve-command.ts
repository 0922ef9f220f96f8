import cluster from 'node:cluster';
import { RowCache, defaultRowCacheDir, fileIdentity } from '../cache/row-cache.js';
import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { effectiveConfig } from '../flags/scheduler-flags.js';
import { helpText } from '../flags/help.js';
import { parseFlags } from '../flags/table.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import { modelFileOf, modelNameOf, progressPrinter, resolveModelSource } from '../models/source.js';
import { type Logger, createLogger } from '../observe/logger.js';
import { startTracingFromFlags } from '../flags/tracing-flags.js';
import { configBeside, deviceOf, instancesOf, loadModelConfig, onnxOptionsOf, toSchedulerOptions } from '../config/index.js';
import { stopOnSignals } from '../server/signals.js';
import { checkAnnounceFlags } from '../flags/announce-flags.js';
import type { RegistryAnnouncer } from '../client/endpoints/registry-announcer.js';
import { announceServer } from './announce.js';
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
  checkAnnounceFlags(v);
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
  await startTracingFromFlags(v, log);
  // A directory with one model file (KServe's /mnt/models) serves that file.
  const location = modelFileOf(given);
  const { model, path, config, t0 } = await loadModel(v, location, processes, log);
  const engine = new Engine();
  const cache =
    v.cache === true
      ? RowCache.open({ dir: v['cache-dir'] ?? defaultRowCacheDir(), ...optional('maxBytes', v['cache-max-bytes']) })
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
  let announcement: RegistryAnnouncer | undefined;
  stopOnSignals(async () => {
    // Leave the registry first: clients stop sending new work while in-flight work drains.
    await announcement?.leave();
    await stack?.close();
    await cache?.close();
  }, log);
  stack = await startServeStack(stackOptions(v, engine, log));
  logServing(log, stack, engine, model, { device: deviceOf(config) ?? v.device ?? 'cpu', cache: cache !== undefined, t0 });
  const served = stack;
  announcement = await announceServer(v, served.http.url, log, async () => {
    await served.close();
    await cache?.close();
  });
}

/** Reads what the flags name, downloads the model if it is a URL, and loads it. */
async function loadModel(v: ServeValues, location: string, processes: number, log: Logger) {
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
  const { config, device, instances, intraOpThreads } = modelSettings(v, location, path, processes, log);
  const t0 = performance.now();
  const model = await OnnxModel.load({
    ...onnxOptionsOf(config),
    path,
    device,
    instances,
    name: v.name ?? config.name ?? modelNameOf(location),
    ...optional('inputs', v.inputs),
    ...optional('outputs', v.outputs),
    ...optional('intraOpThreads', intraOpThreads),
    ...optional('interOpThreads', v['inter-op-threads']),
    ...optional('nice', v['worker-nice']),
    ...optional('valueInputs', valueInputs),
  });
  return { model, path, config, t0 };
}

/**
 * The model's config (--model-config, else a config.json or config.pbtxt beside the
 * model) with the flags on top, and what loading the model takes from it; a flag beats
 * the file.
 */
function modelSettings(v: ServeValues, location: string, path: string, processes: number, log: Logger) {
  const file = v['model-config'] ?? configBeside(location, path);
  const config = effectiveConfig(v, file ? loadModelConfig(file, { warn: (msg) => log.warn(msg) }) : {});
  const device = v.device ?? deviceOf(config) ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `device must be cpu or cuda, got ${device}`);
  const instances = v.instances ?? instancesOf(config) ?? 1;
  const intraOpThreads = v['intra-op-threads'] ?? config.modelpipe?.intra_op_threads ?? sharedThreads(processes, instances);
  return { config, device: device as 'cpu' | 'cuda', instances, intraOpThreads };
}

function logServing(log: Logger, stack: Stack, engine: Engine, model: OnnxModel, o: { device: string; cache: boolean; t0: number }): void {
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
