import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { ModelRepository } from '../repository/index.js';
import { createLogger } from '../observe/logger.js';
import { startTracingFromFlags } from '../flags/tracing-flags.js';
import { int, str } from '../flags/args.js';
import { configFromFlags } from '../flags/scheduler-flags.js';
import { stopOnSignals } from '../server/signals.js';
import { type ServeValues, stackOptions } from './serve-flags.js';
import { startServeStack } from './serve-stack.js';
import { announceServer } from './announce.js';

/**
 * `modelpipe serve --repository DIR`: every model in the directory, each with its
 * own workers and batcher; models that fail to load are reported not-ready and do
 * not stop the others.
 */
export async function serveRepository(v: ServeValues, dir: string): Promise<void> {
  const log = createLogger(v['log-level']);
  await startTracingFromFlags(v, log);
  const engine = new Engine();
  // Flags set the defaults; a model's config.json overrides them.
  const repository = new ModelRepository({ dir, engine, logger: log, defaults: configFromFlags(v) });
  await repository.loadAll();
  const ready = repository.readyModels();
  const wanted = v['default-model'];
  if (wanted !== undefined && !repository.index().some((e) => e.name === wanted)) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--default-model ${wanted} is not in the repository ${dir}`);
  }
  // GraphPipe's root path serves this model (an alias, so reloads carry over).
  engine.defaultModel = wanted ?? ready[0];
  const poll = v['poll-seconds'];
  if (poll !== undefined && poll > 0) repository.poll(poll);
  const stack = await startServeStack({ ...stackOptions(v, engine, log), repository });
  let leave = async (): Promise<void> => {};
  stopOnSignals(async () => {
    await leave(); // out of the registry before draining
    await stack.close();
  }, log);
  log.info(
    { url: stack.http.url, models: repository.index(), defaultModel: engine.defaultModel },
    `serving ${ready.length} model(s) from ${dir} on ${stack.http.url}`,
  );
  const announcement = await announceServer(v, stack.http.url, log, () => stack.close());
  if (announcement) leave = () => announcement.leave();
}
