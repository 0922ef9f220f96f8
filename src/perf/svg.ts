/** Small helpers for the self-contained SVG plots of perf's and tune's HTML reports. */

/** Text made safe for HTML and SVG attributes. */
export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A coordinate with two decimals (and 0 for a value that is not finite). */
export const num = (n: number): number => (Number.isFinite(n) ? Number(n.toFixed(2)) : 0);

/** A round upper bound for an axis. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}
