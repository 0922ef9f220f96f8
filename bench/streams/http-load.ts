import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The HTTP source under a bounded load: `records` records POSTed in requests of `perRequest`
 * lines, `concurrency` at a time, to `modelpipe run` with an http source and a JSONL sink;
 * SIGTERM once half were posted, the rest still posted. Checked: every record in a 2xx
 * answer is in the sink, every other request got a non-2xx (or no connection), the run
 * exited 0 with its summary.
 */
export interface HttpLoadResult {
  records: number;
  accepted: number;
  refused: number;
  inSink: number;
  /** Accepted (2xx) records missing from the sink. */
  lost: number;
  /** Records in the sink whose request was not answered 2xx. */
  unconfirmed: number;
  /** Records answered 2xx before the SIGTERM was sent (the ones in flight then may be refused by the drain). */
  acceptedBeforeTerm: number;
  exitCode: number | null;
  summary: boolean;
  seconds: number;
}

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const handlers = fileURLToPath(new URL('./handlers.js', import.meta.url));

export async function runHttpLoad(o: { dir: string; records: number; perRequest: number; concurrency: number }): Promise<HttpLoadResult> {
  const out = join(o.dir, 'http-out.jsonl');
  const pipeline = join(o.dir, 'http.json');
  await writeFile(
    pipeline,
    JSON.stringify({
      source: { type: 'http' },
      key: 'x',
      handler: { type: 'module', path: handlers, export: 'double' },
      model_config: { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20_000 } },
      sink: { type: 'jsonl', path: out },
      progress: false,
    }),
  );
  const t0 = Date.now();
  const child = spawn(process.execPath, [cli, 'run', pipeline], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  while (!/listening on (\S+)/.test(stderr)) {
    if (Date.now() - t0 > 30_000 || child.exitCode !== null) throw new Error(`http source did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = (/listening on (\S+)/.exec(stderr) as RegExpExecArray)[1] as string;
  const accepted = new Set<number>();
  let refused = 0;
  let next = 0;
  let termSent = false;
  let acceptedBeforeTerm = 0;
  const worker = async (): Promise<void> => {
    while (next < o.records) {
      const first = next;
      next = Math.min(o.records, next + o.perRequest);
      if (!termSent && first >= o.records / 2) {
        termSent = true;
        acceptedBeforeTerm = accepted.size;
        child.kill('SIGTERM');
      }
      const xs = Array.from({ length: next - first }, (_, i) => first + i);
      const body = xs.map((x) => JSON.stringify({ x })).join('\n');
      const status = await fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(60_000) }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => 0,
      );
      if (status >= 200 && status < 300) for (const x of xs) accepted.add(x);
      else refused += xs.length;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const exitCode = await exited;
  const sink = (await readFile(out, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => Number((JSON.parse(l) as { key: string }).key));
  const inSink = new Set(sink);
  return {
    records: o.records,
    accepted: accepted.size,
    refused,
    inSink: sink.length,
    lost: [...accepted].filter((x) => !inSink.has(x)).length,
    unconfirmed: sink.filter((x) => !accepted.has(x)).length,
    acceptedBeforeTerm,
    exitCode,
    summary: /RunInference summary/.test(stderr),
    seconds: (Date.now() - t0) / 1000,
  };
}
