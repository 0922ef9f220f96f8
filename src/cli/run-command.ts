import { ModelpipeError } from '../errors/index.js';
import type { WorkerExit } from '../runinference/scaleout.js';
import { int, parseWithEnv } from './args.js';

export const RUN_HELP = `modelpipe run PIPELINE.json|PIPELINE.js [options]   run a RunInference pipeline file
  PIPELINE.json             a pipeline definition (source, handler, batching, sink, deadLetter…; see docs/runinference.md)
  PIPELINE.js / .mjs        a module exporting a definition, or a function (api) => Flow
                            (.ts files are not supported: Node 20 cannot import TypeScript; compile with tsc first)
  --workers N               run N worker processes sharing the pipeline's Redis stream (consumer group);
                            only for pipelines whose source is {"type": "redis"}; add "exitWhenDrained": true
                            to the source for a batch job that ends once the stream is done
  Progress and the RunInference summary go to stderr. Exit status: 0 when the run completed,
  1 on an error (or when any worker failed).`;

export async function runCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseWithEnv(argv, {
    workers: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    console.log(RUN_HELP);
    return;
  }
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `run needs one pipeline file\n\n${RUN_HELP}`);
  const workers = int(v.workers, 'workers');
  // Loaded here, not at startup: the pipeline stack (sharp, SQLite, Redis…) is heavy.
  const { readPipelineDef, runPipelineFile } = await import('../runinference/pipeline-run.js');
  if (workers === undefined) {
    await runPipelineFile(path);
    return;
  }
  if (workers < 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', '--workers must be at least 1');
  const def = await readPipelineDef(path);
  // Other sources cannot be shared: N processes would each read the whole input.
  if (def?.source.type !== 'redis') {
    throw new ModelpipeError(
      'MP_ERR_BAD_CONFIG',
      `--workers needs a pipeline whose source is a Redis stream (got ${def ? `"${def.source.type}"` : 'a module exporting a function'})`,
    );
  }
  await runWorkers(workers, path);
}

async function runWorkers(n: number, path: string): Promise<void> {
  const { startWorkers } = await import('../runinference/scaleout.js');
  const group = startWorkers(n, path);
  // Ctrl-C stops the workers; entries they took but did not write stay pending for the next run.
  const stop = (): void => group.kill('SIGTERM');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const exits = await group.wait();
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  let items = 0;
  let dead = 0;
  let failed = 0;
  for (const e of exits) {
    const r = e.result as { items?: number; deadLetters?: number; error?: { code: string; message: string } } | undefined;
    items += r?.items ?? 0;
    dead += r?.deadLetters ?? 0;
    if (e.code !== 0) {
      failed++;
      console.error(`worker ${e.pid}: ${describeExit(e, r?.error)}`);
    }
  }
  console.error(`${n} workers: ${items} items, ${dead} dead letters${failed ? `, ${failed} failed` : ''}`);
  if (failed > 0) process.exitCode = 1;
}

function describeExit(e: WorkerExit, error: { code: string; message: string } | undefined): string {
  if (error) return `${error.code}: ${error.message}`;
  return e.signal ? `killed by ${e.signal}` : `exit status ${e.code}`;
}
