import { Agent, request } from 'node:http';
import { encodeRequest } from '../../src/protocol/graphpipe/index.js';
import { Tensor } from '../../src/tensor/index.js';

/**
 * Plain-HTTP requests to the identity model (test/fixtures/replicas), for what sits in
 * front of replicas (nginx, `modelpipe batcher`): no modelpipe client involved, so
 * nothing on the caller's side balances or retries.
 */

const ROW = Float32Array.of(1, 2, 3, 4);

/** A GraphPipe request for x = [[1,2,3,4]]. */
export const GRAPHPIPE_BODY = Buffer.from(
  encodeRequest({
    type: 'infer',
    config: '',
    inputNames: ['x'],
    inputs: [new Tensor('float32', [1, 4], ROW)],
    outputNames: ['y'],
  }),
);

/** The same as an Open Inference Protocol JSON request. */
export const OIP_BODY = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [...ROW] }] }));

export interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** POSTs `body` to `url` and collects the answer (any status); rejects on a connection error or after 15 s. */
export function post(url: string, body: Buffer, o: { agent?: Agent; contentType?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: o.agent ?? false,
        headers: { 'content-type': o.contentType ?? 'application/octet-stream', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks) }),
        );
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')));
    req.once('error', reject);
    req.end(body);
  });
}

/** One GraphPipe identity request to `base` (its root path). */
export function postIdentity(base: string, agent?: Agent): Promise<Answer> {
  return post(`${base}/`, GRAPHPIPE_BODY, agent ? { agent } : {});
}

/** One OIP REST identity request to `base`. */
export function postIdentityOip(base: string, agent?: Agent): Promise<Answer> {
  return post(`${base}/v2/models/identity/infer`, OIP_BODY, {
    contentType: 'application/json',
    ...(agent ? { agent } : {}),
  });
}

export interface LoadRun {
  /** Requests finished so far (answered or failed). */
  readonly done: number;
  /** Resolves when all are finished, with the failures (non-200 answers and errors), as messages. */
  readonly finished: Promise<string[]>;
}

/**
 * `total` calls of `call`, `concurrency` at a time (or until `stop()` says so; each
 * worker finishes its call in flight); a call fails when it rejects. `done` counts
 * finished calls, so a test can act (kill a replica) mid-run.
 */
export function runCalls(total: number, concurrency: number, call: () => Promise<unknown>, stop = () => false): LoadRun {
  const failures: string[] = [];
  const state = { done: 0, next: 0 };
  const worker = async (): Promise<void> => {
    while (state.next < total && !stop()) {
      state.next++;
      try {
        await call();
      } catch (e) {
        failures.push((e as Error).message);
      }
      state.done++;
    }
  };
  const finished = Promise.all(Array.from({ length: concurrency }, worker)).then(() => failures);
  return {
    get done() {
      return state.done;
    },
    finished,
  };
}

/**
 * `runCalls` of plain HTTP requests over keep-alive connections (as a real caller holds
 * them); a non-200 answer is a failure.
 */
export function runLoad(total: number, concurrency: number, send: (agent: Agent) => Promise<Answer>): LoadRun {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const run = runCalls(total, concurrency, async () => {
    const a = await send(agent);
    if (a.status !== 200) throw new Error(`status ${a.status}: ${a.body.toString().slice(0, 200)}`);
  });
  return {
    get done() {
      return run.done;
    },
    finished: run.finished.finally(() => agent.destroy()),
  };
}

/** Resolves once `f` holds, polling every 50 ms; rejects after `ms`. */
export async function until(what: string, f: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
