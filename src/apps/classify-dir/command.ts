import { loadPresetConfig } from '../../vision/presets.js';
import { ModelpipeError } from '../../errors/index.js';
import type { ClassifyReport } from './classify-dir.js';
import { int, parseWithEnv, str } from '../../flags/args.js';

export const CLASSIFY_DIR_HELP = `modelpipe classify-dir DIR --model MODEL.onnx [options]   classify every image under a folder into SQLite or JSONL
  --model FILE              the ONNX image classifier (required)
  --preset NAME             Classy preprocessing preset: squeezenet | vgg | imagenet | a name from --presets (default squeezenet)
  --presets FILE            user presets (JSON, as for modelpipe classy)
  --labels FILE             class labels, one per line (default: a labels file next to the model; none: label is null)
  --out FILE                results.db (SQLite, the default), .jsonl, .csv, or - for JSON lines on stdout
  --batch-size N            images per inference batch (default 8)
  --workers N               onnxruntime worker threads (default: min(4, cores))
  Rows: path (relative to DIR), class, label, score, model_id; SQLite rows go to table
  "classifications", keyed by path (a rerun keeps existing rows and adds new images). JPEG, PNG, WebP and GIF
  files are read (recursively). A progress bar is drawn on a terminal (log lines otherwise)
  and a summary printed at the end. Exit status: 0 when every image was classified, 1 otherwise.`;

export async function classifyDirCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseWithEnv(argv, {
    model: { type: 'string' },
    preset: { type: 'string' },
    presets: { type: 'string' },
    labels: { type: 'string' },
    out: { type: 'string' },
    'batch-size': { type: 'string' },
    workers: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    console.log(CLASSIFY_DIR_HELP);
    return;
  }
  const [dir, ...extra] = positionals;
  const model = str(v.model);
  if (dir === undefined || extra.length > 0 || model === undefined) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `classify-dir needs one folder and --model\n\n${CLASSIFY_DIR_HELP}`);
  }
  const out = str(v.out) ?? 'results.db';
  const presetsFile = str(v.presets);
  const labels = str(v.labels);
  const batchSize = int(v['batch-size'], 'batch-size');
  const workers = int(v.workers, 'workers');
  // Loaded here, not at startup: the pipeline stack (sharp, SQLite, onnxruntime…) is heavy.
  const { classifyDir } = await import('./classify-dir.js');
  const report = await classifyDir(dir, {
    model,
    out,
    preset: str(v.preset) ?? 'squeezenet',
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
