import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ModelpipeError } from '../errors/index.js';

/** Class labels and the last step of Classy: probabilities → "image 0 is class 504: coffee mug". */

export interface Prediction {
  readonly index: number;
  readonly label: string;
  readonly probability: number;
}

/** Line i (0-based) is class i. Tolerates CRLF and one trailing newline; blank lines inside stay (they are classes). */
export function parseLabels(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export async function loadLabels(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `cannot read labels ${path}: ${(e as Error).message}`, { cause: e });
  }
  const labels = parseLabels(text);
  if (labels.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `labels file ${path} is empty`);
  return labels;
}

/**
 * The k most probable classes, most probable first; ties go to the lower index so
 * results are deterministic, and NaN never ranks. When `labels` is given it must have
 * one entry per class: a mismatch means the wrong labels file, which we refuse rather
 * than print wrong names. Without labels, a class is labelled "class <i>".
 * O(n·k) insertion into a k-long list: k is small (1–5) and n is ~1000.
 */
export function topK(probs: Float32Array, k: number, labels?: readonly string[]): Prediction[] {
  if (!Number.isInteger(k) || k < 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `k must be a positive integer, got ${k}`);
  if (labels !== undefined && labels.length !== probs.length) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${labels.length} labels for ${probs.length} classes`);
  }
  const best: number[] = []; // class indices, best first
  for (let i = 0; i < probs.length; i++) {
    const v = probs[i]!;
    if (Number.isNaN(v)) continue;
    if (best.length === k && !(v > probs[best[k - 1]!]!)) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && v > probs[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best.map((index) => ({ index, label: labels?.[index] ?? `class ${index}`, probability: probs[index]! }));
}

/**
 * Splits a model output of shape [N, C, …] (e.g. SqueezeNet's [N,1000,1,1]) into
 * per-image top-k predictions.
 */
export function classify(output: Float32Array, batch: number, k: number, labels?: readonly string[]): Prediction[][] {
  if (!Number.isInteger(batch) || batch < 1 || output.length % batch !== 0) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `output of ${output.length} values does not split into ${batch} images`);
  }
  const classes = output.length / batch;
  return Array.from({ length: batch }, (_, n) => topK(output.subarray(n * classes, (n + 1) * classes), k, labels));
}

/** "image <i> is class <index>: <label>" for image i's top prediction. */
export function formatPrediction(image: number, p: Prediction): string {
  return `image ${image} is class ${p.index}: ${p.label}`;
}

/** One line per image (its first prediction), joined with "\n"; `images` renumbers (e.g. rows of a settled batch). */
export function formatPredictions(perImage: readonly (readonly Prediction[])[], images?: readonly number[]): string {
  return perImage
    .map((preds, r) => {
      const top = preds[0];
      if (top === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `no prediction for image ${images?.[r] ?? r}`);
      return formatPrediction(images?.[r] ?? r, top);
    })
    .join('\n');
}

/**
 * --labels, else a labels file next to the model: <stem>-labels.txt, <stem>.labels.txt,
 * labels.txt, synset.txt, or the only *labels*.txt in that folder.
 */
export function findLabels(model: string | undefined): string | undefined {
  if (model === undefined) return undefined;
  const dir = dirname(model);
  const stem = basename(model, extname(model));
  for (const name of [`${stem}-labels.txt`, `${stem}.labels.txt`, 'labels.txt', 'synset.txt']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  let candidates: string[] = [];
  try {
    candidates = readdirSync(dir).filter((f) => /labels.*\.txt$/i.test(f));
  } catch {
    // unreadable folder: no default
  }
  return candidates.length === 1 ? join(dir, candidates[0] as string) : undefined;
}
