import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../src/observe/fast-metrics.js';

/** The fast histogram must expose exactly what prom-client's own Histogram does. */
test('FastHistogram: /metrics text identical to prom-client’s Histogram for the same observations', async () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FastHistogram('x_seconds', 'help text', ['model', 'phase'], buckets, ours);
  const ref = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['model', 'phase'], buckets, registers: [theirs] });
  const values = [0, 0.0005, 0.001, 0.0011, 0.05, 0.1, 0.5, 1, 2, 1e9];
  const a = fast.labels({ model: 'm', phase: 'queue' });
  const b = ref.labels({ model: 'm', phase: 'queue' });
  for (const v of values) {
    a.observe(v);
    b.observe(v);
  }
  fast.labels({ model: 'n"\\', phase: 'total' }).observe(0.02);
  ref.observe({ model: 'n"\\', phase: 'total' }, 0.02);
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('FastHistogram: non-finite values are ignored, reset empties it', async () => {
  const reg = new Registry();
  const h = new FastHistogram('y', 'h', ['model'], [1], reg);
  const s = h.labels({ model: 'a' });
  s.observe(Number.NaN);
  s.observe(Number.POSITIVE_INFINITY);
  s.observe(0.5);
  assert.match(await reg.metrics(), /y_count\{model="a"\} 1\n/);
  reg.resetMetrics();
  assert.doesNotMatch(await reg.metrics(), /y_count/);
});

test('FastCounter: /metrics text identical to prom-client’s Counter for the same increments', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FastCounter('c_total', 'help text', ['model', 'outcome'], ours);
  const ref = new Counter({ name: 'c_total', help: 'help text', labelNames: ['model', 'outcome'], registers: [theirs] });
  const a = fast.labels({ model: 'm', outcome: 'ok' });
  const b = ref.labels({ model: 'm', outcome: 'ok' });
  for (const by of [1, 1, 2.5, 0]) {
    a.inc(by);
    b.inc(by);
  }
  a.inc();
  b.inc();
  fast.inc({ model: 'm', outcome: 'MP_ERR_X' });
  ref.inc({ model: 'm', outcome: 'MP_ERR_X' });
  fast.inc({ model: 'm', outcome: 'MP_ERR_X' }, 3);
  ref.inc({ model: 'm', outcome: 'MP_ERR_X' }, 3);
  assert.equal(await ours.metrics(), await theirs.metrics());
});
