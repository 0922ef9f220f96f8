import { ModelpipeError } from '../errors/index.js';
import type { PipelineDef } from '../runinference/pipeline-def.js';
import { helpText } from '../flags/help.js';
import { defineCommand, flagGroup, parseFlags } from '../flags/table.js';
import { TRACING_GROUP, otlpEndpointToEnv } from '../flags/tracing-flags.js';

export const RUN = defineCommand({
  name: 'run',
  usage: 'PIPELINE.json|PIPELINE.js [options]   run a RunInference pipeline file',
  about: `  PIPELINE.json             a pipeline definition (source, handler, batching, sink, deadLetter…; see docs/runinference.md)
  PIPELINE.js / .mjs        a module exporting a definition, or a function (api) => Flow
                            (.ts files are not supported: Node 20 cannot import TypeScript; compile with tsc first)`,
  groups: [
    flagGroup({
      workers: {
        type: 'int',
        min: 1,
        help: `run N worker processes sharing the pipeline's Redis stream (consumer group); only for pipelines whose source is {"type": "redis"}; add "exitWhenDrained": true to the source for a batch job that ends once the stream is done. Workers that die are restarted (back-off 250 ms doubling to 5 s, at most 100 restarts); the entries a dead worker held are finished by the others within the source's claimIdleMs (default 10 s) + 1 s. The summary counts come from the stream: entries in = written + dead letters`,
      },
    }),
    TRACING_GROUP,
  ],
  footer: `  Progress and the RunInference summary go to stderr. Exit status: 0 when the run completed,
  1 on an error (or when any worker failed).`,
});

export const RUN_HELP = helpText(RUN);

export async function runCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, RUN);
  if (v.help) {
    console.log(RUN_HELP);
    return;
  }
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `run needs one pipeline file\n\n${RUN_HELP}`);
  const workers = v.workers;
  otlpEndpointToEnv(v['otlp-endpoint']); // the run (and each worker) reads OTEL_* from its environment
  // Loaded here, not at startup: the pipeline stack (sharp, SQLite, Redis…) is heavy.
  const { readPipelineDef, runPipelineFile } = await import('../runinference/pipeline-run.js');
  if (workers === undefined) {
    await runPipelineFile(path);
    return;
  }
  const def = await readPipelineDef(path);
  // Other sources cannot be shared: N processes would each read the whole input.
  if (def?.source.type !== 'redis') {
    throw new ModelpipeError(
      'MP_ERR_BAD_CONFIG',
      `--workers needs a pipeline whose source is a Redis stream (got ${def ? `"${def.source.type}"` : 'a module exporting a function'})`,
    );
  }
  await runWorkers(workers, path, def as PipelineDef & { source: { type: 'redis' } });
}

async function runWorkers(n: number, path: string, def: PipelineDef & { source: { type: 'redis' } }): Promise<void> {
  const { supervise } = await import('../runinference/supervisor.js');
  // Ctrl-C/SIGTERM stop the workers after what they took; entries they hold stay pending for the next run.
  const r = await supervise({ workers: n, pipelinePath: path, def });
  if (r.failed.length > 0 || r.counts.in !== r.counts.written + r.counts.dead) process.exitCode = 1;
}
