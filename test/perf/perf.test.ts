import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { type PerfOptions, type PerfReport, formatCsv, parseRange, parseShape, runPerf } from '../../src/perf/index.js';
import { GraphPipeFrontend } from '../../src/server/graphpipe-frontend.js';
import { HttpServer } from '../../src/server/http-server.js';
import { OipFrontend } from '../../src/server/oip-frontend.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import type { Tensor } from '../../src/tensor/index.js';
import { checkOfflinePage } from '../helpers/browser.js';
import { CLI, runNode } from '../helpers/spawn.js';

/**
 * `modelpipe perf` against real servers on loopback: a function model with a known
 * delay, a server that stalls once (the coordinated-omission test), a server
 * without the statistics extension, and the CLI's files. Windows are short and the
 * stability tolerance wide, so each step is exactly three windows: bounded time,
 * whatever the machine's load; only lower bounds and sane upper bounds are asserted.
 */

const DELAY_MS = 20;
const STALL_MS = 200;

/** The identity after DELAY_MS. */
async function delayed(i: Record<string, unknown>) {
  await sleep(DELAY_MS);
  return { y: i.x as Tensor };
}

const io = {
  inputs: [{ name: 'x', dtype: 'float32' as const, shape: [-1, 4] }],
  outputs: [{ name: 'y', dtype: 'float32' as const, shape: [-1, 4] }],
};

function base(url: string, extra: Partial<PerfOptions> = {}): PerfOptions {
  return {
    url,
    concurrency: [2],
    rates: [],
    arrivals: 'constant',
    windowMs: 300,
    stability: 1e6,
    stepCapMs: 5000,
    maxInFlight: 64,
    timeoutMs: 10_000,
    ...extra,
  };
}

describe('modelpipe perf', () => {
  const engine = new Engine();
  let calls = 0;
  let http: HttpServer;
  let bare: HttpServer;
  let grpc: OipGrpcServer;
  let grpcUrl = '';
  let dir = '';
  before(async () => {
    engine.add('delay', new FunctionModel(delayed, { name: 'delay', ...io }));
    // One instance: the call that stalls holds every request behind it, as a GC pause or a stuck worker does.
    const stall = async (i: Record<string, unknown>) => {
      if (++calls === 12) await sleep(STALL_MS);
      return { y: i.x as Tensor };
    };
    engine.add('stall', new FunctionModel(stall, { name: 'stall', instances: 1, ...io }));
    http = new HttpServer({ engine, frontends: [new OipFrontend(), new GraphPipeFrontend()] });
    await http.listen(0, '127.0.0.1');
    // GraphPipe only: /v2/models/…/stats is not there.
    const plain = new Engine();
    plain.add('delay', new FunctionModel(delayed, { name: 'delay', ...io }));
    bare = new HttpServer({ engine: plain, frontends: [new GraphPipeFrontend()] });
    await bare.listen(0, '127.0.0.1');
    grpc = new OipGrpcServer({ engine });
    grpcUrl = `grpc://127.0.0.1:${await grpc.listen(0)}`;
    dir = mkdtempSync(join(tmpdir(), 'mp-perf-'));
  });
  after(async () => {
    await grpc?.close();
    await http?.close();
    await bare?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function checkDelay(r: PerfReport): void {
    const s = r.steps[0];
    assert.ok(s, 'one step');
    assert.deepEqual(s.errors, {});
    assert.ok(s.requests > 0);
    assert.equal(s.windows, 3);
    assert.ok(s.latencyMs.p50 >= DELAY_MS, `p50 ${s.latencyMs.p50} ms is at least the injected ${DELAY_MS} ms`);
    assert.ok(s.latencyMs.p50 < 1000, `p50 ${s.latencyMs.p50} ms is sane`);
    assert.ok(s.latencyMs.max >= s.latencyMs.p99 && s.latencyMs.p99 >= s.latencyMs.p50);
    assert.ok(s.throughput > 0 && s.throughput <= (2 * 1000) / DELAY_MS + 1, `throughput ${s.throughput} bounded by concurrency/delay`);
  }

  for (const protocol of ['rest', 'rest-json', 'grpc'] as const) {
    test(`known delay over OIP ${protocol}: p50 ≥ delay, server split present`, async () => {
      const r = await runPerf(base(protocol === 'grpc' ? grpcUrl : http.url, { protocol, model: 'delay', batchSize: 3 }));
      checkDelay(r);
      assert.equal(r.rowsPerRequest, 3);
      const s = r.steps[0];
      assert.ok(Math.abs((s?.rowsPerSec ?? 0) - 3 * (s?.throughput ?? 0)) < 1e-6);
      assert.ok(s?.server, 'modelpipe reports the server-side split');
      assert.ok(s.server.computeInferMs >= DELAY_MS * 0.9, `compute_infer ${s.server.computeInferMs} ms`);
      assert.ok(s.server.requests > 0);
    });
  }

  test('known delay over GraphPipe; a server without statistics gives no split and no error', async () => {
    const withStats = await runPerf(base(`${http.url}/delay`));
    checkDelay(withStats);
    assert.equal(withStats.protocol, 'graphpipe');
    assert.ok(withStats.steps[0]?.server, 'same-origin /v2 statistics found');
    const without = await runPerf(base(bare.url));
    checkDelay(without);
    assert.equal(without.steps[0]?.server, undefined);
    assert.ok(!formatCsv(without).includes('NaN'));
  });

  test("GraphPipe: the server's refusal comes back with its code (perf's own sender reads it as the client does)", async () => {
    // Four columns declared; five sent: the first request fails with the server's validation code, not a table of errors.
    await assert.rejects(runPerf(base(`${http.url}/delay`, { shapes: new Map([['x', [1, 5]]]) })), (e: Error & { code?: string }) => {
      assert.match(e.code ?? '', /^MP_ERR_INPUT_/);
      assert.match(e.message, /\/delay/);
      return true;
    });
  });

  test('open loop: a 200 ms stall shows in p99 and max (no coordinated omission)', async () => {
    calls = 0;
    // One request in flight at most: the stalled request holds the sender back too, the
    // case where timing from the actual send would hide the stall in one sample.
    const r = await runPerf(
      base(http.url, { protocol: 'rest', model: 'stall', concurrency: [], rates: [50], windowMs: 400, maxInFlight: 1 }),
    );
    const s = r.steps[0];
    assert.ok(s);
    assert.equal(s.mode, 'rate');
    assert.ok(calls > 12, 'the stall happened');
    // The ten requests due during the stall wait for it (and for each other): counted
    // from when they were due they are 200, 180, 160, … ms late, so of ~60 samples the
    // 7th highest (p90) is at least ~80 ms. Counted from the actual send they would be
    // a few ms each and only the stalled request itself would show.
    assert.ok(s.latencyMs.max >= STALL_MS * 0.9, `max ${s.latencyMs.max} ms`);
    assert.ok(s.latencyMs.p99 >= STALL_MS * 0.8, `p99 ${s.latencyMs.p99} ms`);
    assert.ok(s.latencyMs.p90 >= 60, `p90 ${s.latencyMs.p90} ms: the requests held back by the stall count from when they were due`);
  });

  test('CLI: table on stdout, --csv and --json parse, one row per step', async () => {
    const csv = join(dir, 'out.csv');
    const json = join(dir, 'out.json');
    const args = [CLI, 'perf', http.url, '--model', 'delay', '--concurrency', '1:2', '--window-ms', '200', '--stability', '1000000'];
    const html = join(dir, 'report.html');
    const r = await runNode([...args, '--csv', csv, '--json', json, '--html', html]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /p99 ms/);
    assert.ok(!r.stderr.includes('\u001b'), 'no progress line when stderr is not a terminal');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(lines.length, 3);
    const head = (lines[0] as string).split(',');
    const row = (lines[2] as string).split(',');
    assert.equal(row.length, head.length);
    assert.equal(row[head.indexOf('value')], '2');
    assert.ok(Number(row[head.indexOf('p50_ms')]) >= DELAY_MS);
    assert.ok(Number(row[head.indexOf('server_compute_infer_ms')]) > 0);
    const rep = JSON.parse(readFileSync(json, 'utf8')) as PerfReport;
    assert.deepEqual(
      rep.steps.map((s) => s.value),
      [1, 2],
    );
    assert.ok((rep.steps[0]?.latencyMs.p50 ?? 0) >= DELAY_MS);
    await checkHtmlInChromium(html, 2);
  });

  test('CLI: a bad range or a dynamic dimension without --shape is one line with a code', async () => {
    const bad = await runNode([CLI, 'perf', http.url, '--model', 'delay', '--concurrency', '8:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /MP_ERR_BAD_CONFIG: --concurrency 8:1: end is below start/);
    const dyn = await runNode([CLI, 'perf', http.url, '--model', 'delay', '--shape', 'x:2,-1']);
    assert.equal(dyn.code, 1);
    assert.match(dyn.stderr, /MP_ERR_BAD_CONFIG/);
  });
});

/** The --html page opens in headless Chromium with no network, and both plots draw a line per series. */
async function checkHtmlInChromium(path: string, steps: number): Promise<void> {
  await checkOfflinePage(path, async (page) => {
    assert.equal(await page.locator('svg').count(), 2);
    const lines = await page.locator('polyline.series').evaluateAll((els) =>
      els.map((e) => {
        const b = (e as unknown as { getBBox(): { width: number; height: number } }).getBBox();
        return { points: (e.getAttribute('points') ?? '').trim().split(/\s+/).length, drawn: b.width > 0 || b.height > 0 };
      }),
    );
    assert.equal(lines.length, 10, 'five series in each of two plots');
    for (const l of lines) {
      assert.equal(l.points, steps);
      assert.ok(l.drawn);
    }
    // Every plot has its marks: a circle per series and step, at finite coordinates inside the plot.
    const plots = await page.locator('svg').evaluateAll((svgs) =>
      svgs.map((svg) =>
        [...svg.querySelectorAll('circle')].map((c) => {
          const b = (c as unknown as { getBBox(): { x: number; y: number; width: number } }).getBBox();
          return { cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')), x: b.x, y: b.y, width: b.width };
        }),
      ),
    );
    for (const marks of plots) {
      assert.equal(marks.length, 5 * steps, 'a mark per series and step');
      for (const m of marks) {
        assert.ok(Number.isFinite(m.cx) && Number.isFinite(m.cy) && m.cx > 0 && m.cy > 0 && m.cx < 640 && m.cy < 360, JSON.stringify(m));
        assert.ok(m.width > 0, 'the mark is drawn');
      }
    }
  });
}

test('ranges as perf_analyzer writes them; mistakes are MP_ERR_BAD_CONFIG', () => {
  assert.deepEqual(parseRange('1:32:x2', 'concurrency'), [1, 2, 4, 8, 16, 32]);
  assert.deepEqual(parseRange('100:800:100', 'request-rate'), [100, 200, 300, 400, 500, 600, 700, 800]);
  assert.deepEqual(parseRange('3', 'concurrency'), [3]);
  assert.deepEqual(parseRange('1:3', 'concurrency'), [1, 2, 3]);
  assert.deepEqual(parseRange('0.5:1.5:0.5', 'request-rate'), [0.5, 1, 1.5]);
  for (const bad of ['0', '4:2', '1:2:x1', '1:1000000', 'a', '1:2:3:4', '1:2:-1']) {
    assert.throws(() => parseRange(bad, 'concurrency'), { code: 'MP_ERR_BAD_CONFIG' }, bad);
  }
  assert.deepEqual(parseShape('data_0:1,3,224,224'), ['data_0', [1, 3, 224, 224]]);
  assert.throws(() => parseShape('x'), { code: 'MP_ERR_BAD_CONFIG' });
  assert.throws(() => parseShape('x:1,a'), { code: 'MP_ERR_BAD_CONFIG' });
});
