import { ModelpipeError } from '../errors/index.js';

/** The most steps one range may expand to: a typo must not start a million-step run. */
export const MAX_STEPS = 100;

/**
 * Reads a load range as perf_analyzer writes it: `N`, `START:END` (step 1),
 * `START:END:STEP` (additive) or `START:END:xF` (multiplicative, e.g. 1:32:x2).
 * Values are positive; the end is included when a step lands on it.
 */
export function parseRange(text: string, flag: string): number[] {
  const bad = (why: string) => new ModelpipeError('MP_ERR_BAD_CONFIG', `--${flag} ${text}: ${why} (forms: N, A:B, A:B:STEP, A:B:xF)`);
  const parts = text.trim().split(':');
  if (parts.length > 3) throw bad('too many parts');
  const num = (s: string | undefined, what: string): number => {
    const n = Number(s);
    if (s === undefined || s.trim() === '' || !Number.isFinite(n) || n <= 0) throw bad(`${what} must be a positive number`);
    return n;
  };
  const start = num(parts[0], 'start');
  const end = parts[1] === undefined ? start : num(parts[1], 'end');
  if (end < start) throw bad('end is below start');
  const stepText = parts[2] ?? '1';
  const mult = stepText.startsWith('x');
  const step = num(mult ? stepText.slice(1) : stepText, 'step');
  if (mult && step <= 1) throw bad('a multiplicative step must be above 1');
  const out: number[] = [];
  for (let v = start; v <= end * (1 + 1e-9); v = mult ? v * step : v + step) {
    if (out.length === MAX_STEPS) throw bad(`more than ${MAX_STEPS} steps`);
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** `name:d0,d1,...` → [name, dims]; dims are positive integers. */
export function parseShape(text: string): [string, number[]] {
  const i = text.lastIndexOf(':');
  const name = text.slice(0, i);
  const dims = text
    .slice(i + 1)
    .split(/[,x]/)
    .map((d) => Number(d.trim()));
  if (i <= 0 || dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 0 || d > 1 << 30)) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--shape ${text}: expected NAME:DIMS, e.g. data_0:1,3,224,224`);
  }
  return [name, dims];
}
