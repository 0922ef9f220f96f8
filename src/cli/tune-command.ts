import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelpipeError } from '../errors/index.js';
import { helpText } from '../flags/help.js';
import { defineCommand, flagGroup, parseFlags } from '../flags/table.js';
import { PROTOCOLS, type Protocol } from '../perf/index.js';
import { formatRanking, formatTuneHtml, formatTuneJson, runTune, settingLabel } from '../tune/index.js';
import { needFile, needParentDir } from './checks.js';
import { containerCpuLimit } from './cpu-limit.js';

const SEARCH = flagGroup({
  'p99-budget': { type: 'number', value: 'MS', default: '100', min: 0, help: 'the highest p99 latency a configuration may have' },
  concurrency: { type: 'int', min: 1, default: '4', help: 'closed loop: requests in flight during each trial' },
  'request-rate': { type: 'number', value: 'R', min: 0, help: 'open loop at R requests/s instead of --concurrency' },
  protocol: {
    type: 'string',
    value: 'P',
    choices: PROTOCOLS,
    default: 'rest',
    help: 'how trials send: graphpipe | rest | rest-json | grpc',
  },
  cores: { type: 'int', min: 1, help: 'instances x threads stay within this', defaultNote: "the container's CPU limit" },
  'max-instances': { type: 'int', min: 1, help: 'most model instances tried', defaultNote: '--cores' },
  'max-threads': { type: 'int', min: 1, help: 'most intra-op threads per instance tried', defaultNote: '--cores' },
  'batch-sizes': { type: 'list', default: '4,8,16', help: 'max batch sizes tried (ascending; none: batching is not tried)' },
  'delays-us': { type: 'list', default: '500,2000', help: 'queue delays tried with each batch size, in microseconds' },
  'max-processes': { type: 'int', min: 1, help: 'most server processes tried on the winner (1: not tried)', defaultNote: '--cores' },
  keep: { type: 'int', min: 1, default: '2', help: 'how many of the best instance x thread settings batching is tried on' },
  confirm: { type: 'int', min: 0, default: '3', help: 'the best N settings are measured again; the winner has the best mean' },
  'trial-seconds': { type: 'number', value: 'S', min: 0.1, default: '3', help: 'measured time per configuration (plus a short warm-up)' },
  'time-cap': { type: 'number', value: 'S', min: 1, default: '600', help: 'no trial starts after this many seconds' },
});

const OUTPUT = flagGroup(
  {
    out: { type: 'string', value: 'DIR', help: "write the winner's model config to DIR/config.json" },
    json: { type: 'string', value: 'FILE', help: 'every trial and the winner as JSON' },
    html: { type: 'string', value: 'FILE', help: 'a page plotting every configuration tried (inline SVG)' },
  },
  'Results:',
);

export const TUNE = defineCommand({
  name: 'tune',
  usage: 'MODEL.onnx [options]',
  about: `  Finds the serving settings with the most throughput whose p99 stays within the
  budget on this machine: instances x intra-op threads (batching off), then batch size x
  queue delay on the best few, then server processes on those. Each trial is a
  fresh \`modelpipe serve\` measured as \`modelpipe perf\` measures; a dimension stops
  when throughput falls or p99 leaves the budget.`,
  groups: [SEARCH, OUTPUT],
  footer: `  The winner's per-model settings are a model config.json (Triton names) that serve
  takes unchanged: as its model config file, beside the model, or in a repository. The
  server-wide process count is printed separately, as the serve flag to add.`,
});

export const TUNE_HELP = helpText(TUNE);

const ints = (xs: string[], flag: string) =>
  xs.map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--${flag} takes integers, got ${x}`);
    return n;
  });

export async function tuneCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, TUNE);
  if (v.help) {
    console.log(TUNE_HELP);
    return;
  }
  const model = positionals[0];
  if (model === undefined || positionals.length > 1)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `tune takes one model file\n\n${TUNE_HELP}`);
  needFile(model, 'MODEL');
  for (const flag of ['json', 'html'] as const) {
    const p = v[flag];
    if (p !== undefined) needParentDir(p, `--${flag}`);
  }
  const cores = v.cores ?? containerCpuLimit();
  const rate = v['request-rate'];
  const report = await runTune({
    modelPath: model,
    protocol: v.protocol as Protocol,
    concurrency: v.concurrency,
    ...(rate !== undefined ? { rate } : {}),
    p99BudgetMs: v['p99-budget'],
    cores,
    maxInstances: v['max-instances'] ?? cores,
    maxThreads: v['max-threads'] ?? cores,
    batchSizes: ints(v['batch-sizes'], 'batch-sizes').filter((b) => b > 0),
    delaysUs: ints(v['delays-us'], 'delays-us'),
    maxProcesses: v['max-processes'] ?? cores,
    keep: v.keep,
    confirm: v.confirm,
    trialSeconds: v['trial-seconds'],
    timeCapSeconds: v['time-cap'],
    onTrial: (n, label) => process.stderr.write(`trial ${n}: ${label}\n`),
  });
  console.log(formatRanking(report));
  if (v.json !== undefined) writeFileSync(v.json, formatTuneJson(report));
  if (v.html !== undefined) writeFileSync(v.html, formatTuneHtml(report));
  const w = report.winner;
  if (!w)
    throw new ModelpipeError(
      'MP_ERR_BAD_CONFIG',
      `no configuration kept p99 within ${report.p99BudgetMs} ms: raise --p99-budget or lower the load`,
    );
  const text = `${JSON.stringify(w.config, null, 2)}\n`;
  console.log(`\nwinner: ${settingLabel(w.trial.setting)}`);
  if (v.out !== undefined) {
    mkdirSync(v.out, { recursive: true });
    writeFileSync(join(v.out, 'config.json'), text);
    console.log(`model config written to ${join(v.out, 'config.json')}`);
  } else {
    console.log(`model config (give --out DIR to write DIR/config.json):\n${text.trimEnd()}`);
  }
  console.log(`server-wide flags: --processes ${w.processes}`);
}
