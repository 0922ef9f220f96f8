/** Requests waiting in the model's queue, from /metrics. */
export async function queued(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  let n = 0;
  for (const m of text.matchAll(/^modelpipe_queue_depth(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/gm)) n += Number(m[1]);
  return n;
}
