import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Measurement, type TuneSetting, formatTuneHtml, search, tuneReport } from '../../src/tune/index.js';
import { checkOfflinePage } from '../helpers/browser.js';

/**
 * `tune --html` opens in headless Chromium, offline, with its plot drawn: a mark per
 * configuration tried, inside the plot and in the order of their figures, the budget
 * line, the winner ringed. The report comes from the real search over a synthetic
 * machine (figures from a function of the setting), so the test takes no serve runs.
 */

const BUDGET_MS = 50;

async function report() {
  const run = async (s: TuneSetting): Promise<Measurement> => {
    const rows = 100 * s.instances + 10 * s.threads + 20 * s.maxBatch;
    const p99 = s.maxBatch >= 8 ? 80 : 10 + s.maxBatch;
    return { throughput: rows / Math.max(1, s.maxBatch), rowsPerSec: rows, p50Ms: p99 / 2, p99Ms: p99, errors: 0 };
  };
  const r = await search(run, {
    p99BudgetMs: BUDGET_MS,
    cores: 4,
    maxInstances: 2,
    maxThreads: 2,
    batchSizes: [4, 8],
    delaysUs: [500],
    maxProcesses: 1,
    keep: 2,
    deadline: Number.POSITIVE_INFINITY,
  });
  return tuneReport(r, {
    model: 'synthetic',
    load: 'concurrency 8',
    p99BudgetMs: BUDGET_MS,
    trialSeconds: 1,
    startedAt: new Date(0).toISOString(),
  });
}

const dir = mkdtempSync(join(tmpdir(), 'mp-tune-html-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the tune report opens in Chromium with every trial plotted, the budget line and the winner', async () => {
  const r = await report();
  assert.ok(r.winner, 'the synthetic machine has a winner');
  assert.ok(
    r.trials.some((t) => !t.withinBudget),
    'and a trial over budget',
  );
  const path = join(dir, 'report.html');
  writeFileSync(path, formatTuneHtml(r));
  await checkOfflinePage(path, async (page) => {
    assert.equal(await page.locator('svg').count(), 1);
    const marks = await page.locator('svg circle.trial').evaluateAll((els) =>
      els.map((c) => {
        const b = (c as unknown as { getBBox(): { width: number; height: number } }).getBBox();
        return { cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')), width: b.width, title: c.textContent ?? '' };
      }),
    );
    assert.equal(marks.length, r.trials.length, 'a mark per configuration tried');
    r.trials.forEach((t, k) => {
      const m = marks[k];
      assert.ok(m, `mark ${k}`);
      assert.ok(m.width > 0, 'the mark is drawn');
      // inside the plot area (640 × 360 with its margins)
      assert.ok(m.cx >= 60 && m.cx <= 620 && m.cy >= 24 && m.cy <= 310, JSON.stringify(m));
      assert.match(m.title, new RegExp(`${Math.round(t.m.rowsPerSec)}(\\.\\d+)? rows/s`));
    });
    for (let a = 0; a < marks.length; a++) {
      for (let b = 0; b < marks.length; b++) {
        const [ta, tb, ma, mb] = [r.trials[a], r.trials[b], marks[a], marks[b]];
        if (!ta || !tb || !ma || !mb) continue;
        if (ta.m.rowsPerSec > tb.m.rowsPerSec) assert.ok(ma.cx > mb.cx, 'more rows/s lies further right');
        if (ta.m.p99Ms > tb.m.p99Ms) assert.ok(ma.cy < mb.cy, 'a higher p99 lies further up');
      }
    }
    const budget = await page.locator('svg line.budget').evaluateAll((els) => els.map((e) => Number(e.getAttribute('y1'))));
    assert.equal(budget.length, 1);
    const winner = await page.locator('svg circle.winner').evaluateAll((els) => els.map((e) => Number(e.getAttribute('cx'))));
    assert.equal(winner.length, 1);
    const wk = r.trials.indexOf(r.winner?.trial as (typeof r.trials)[number]);
    assert.equal(winner[0], marks[wk]?.cx, 'the ring is on the winning trial');
  });
});
