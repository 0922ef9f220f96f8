import { loadPresetConfig } from '../../vision/presets.js';
import { ModelpipeError } from '../../errors/index.js';
import type { ClassifyReport } from './classify-dir.js';
import { helpText } from '../../flags/help.js';
import { defineCommand, flagGroup, parseFlags } from '../../flags/table.js';
import { LABELS_FLAG, PRESET_FLAGS, modelFileFlag } from '../../flags/vision-flags.js';

export const CLASSIFY_DIR = defineCommand({
  name: 'classify-dir',
  usage: 'DIR --model MODEL.onnx [options]   classify every image under a folder into SQLite or JSONL',
  groups: [
    flagGroup({
      ...modelFileFlag('the ONNX image classifier (required)'),
      ...PRESET_FLAGS,
      ...LABELS_FLAG,
      out: {
        type: 'string',
        value: 'FILE',
        default: 'results.db',
        help: 'results.db (SQLite), .jsonl, .csv, or - for JSON lines on stdout',
      },
      'batch-size': { type: 'int', min: 1, help: 'images per inference batch', defaultNote: '8' },
      workers: { type: 'int', min: 1, help: 'onnxruntime worker threads', defaultNote: 'min(4, cores)' },
    }),
  ],
  footer: `  Rows: path (relative to DIR), class, label (null without labels), score, model_id; SQLite rows go to table
  "classifications", keyed by path (a rerun keeps existing rows and adds new images). JPEG, PNG, WebP and GIF
  files are read (recursively). A progress bar is drawn on a terminal (log lines otherwise)
  and a summary printed at the end. Exit status: 0 when every image was classified, 1 otherwise.`,
});

export const CLASSIFY_DIR_HELP = helpText(CLASSIFY_DIR);

export async function classifyDirCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, CLASSIFY_DIR);
  if (v.help) {
    console.log(CLASSIFY_DIR_HELP);
    return;
  }
  const [dir, ...extra] = positionals;
  const model = v.model;
  if (dir === undefined || extra.length > 0 || model === undefined) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `classify-dir needs one folder and --model\n\n${CLASSIFY_DIR_HELP}`);
  }
  const out = v.out;
  const presetsFile = v.presets;
  const labels = v.labels;
  const batchSize = v['batch-size'];
  const workers = v.workers;
  // Loaded here, not at startup: the pipeline stack (sharp, SQLite, onnxruntime…) is heavy.
  const { classifyDir } = await import('./classify-dir.js');
  const report = await classifyDir(dir, {
    model,
    out,
    preset: v.preset,
    ...(presetsFile === undefined ? {} : { presets: await loadPresetConfig(presetsFile) }),
    ...(labels === undefined ? {} : { labels }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(workers === undefined ? {} : { workers }),
    summary: false,
  });
  // Results on stdout leave the summary to stderr.
  const print = out === '-' ? console.error : console.log;
  print(summary(report, out));
  if (report.failures.length > 0) process.exitCode = 1;
}

function summary(r: ClassifyReport, out: string): string {
  const secs = r.durationMs / 1000;
  const step = r.steps[0];
  const meanBatch = step?.batches ? (step.batchSizeTotal / step.batches).toFixed(1) : '-';
  const lines = [
    `classified ${r.items} images, ${r.failures.length} failed, in ${secs.toFixed(2)} s (${secs > 0 ? (r.items / secs).toFixed(1) : '-'} images/s)`,
    `  model ${step?.modelIds.join(', ') || '-'}, ${step?.batches ?? 0} batches (mean size ${meanBatch}) → ${out === '-' ? 'stdout' : out}`,
  ];
  for (const f of r.failures.slice(0, 20)) lines.push(`  failed ${f.path}: ${f.code}: ${f.message}`);
  if (r.failures.length > 20) lines.push(`  … and ${r.failures.length - 20} more`);
  return lines.join('\n');
}
