import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { liveMetrics, promqlMetricNames, sampleNames } from '../helpers/prom.js';
import { needShared, repoRoot } from '../helpers/shared.js';

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets: Target[];
}

const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'grafana', 'modelpipe-dashboard.json'), 'utf8'));
const panels = dashboard.panels as Panel[];
const exprs = panels.flatMap((p) => p.targets.map((t) => t.expr));
/** label_values(metric, label) in the template variables reads `metric`. */
const variableMetrics = (dashboard.templating.list as { query?: { query?: string } | string }[]).flatMap((v) => {
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  const m = q === undefined ? null : /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,/.exec(q);
  return m ? [m[1] as string] : [];
});

describe('Grafana dashboard (deploy/grafana/modelpipe-dashboard.json)', () => {
  test('is well-formed Grafana JSON: schemaVersion, a Prometheus datasource variable, panels with targets, unique ids, gridPos', () => {
    assert.equal(typeof dashboard.schemaVersion, 'number');
    assert.ok(dashboard.schemaVersion >= 30, 'a current dashboard schema');
    assert.equal(typeof dashboard.uid, 'string');
    assert.equal(typeof dashboard.title, 'string');
    const ds = dashboard.templating.list.find((v: { type: string }) => v.type === 'datasource');
    assert.equal(ds?.query, 'prometheus');
    assert.ok(panels.length >= 8);
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
    for (const p of panels) {
      assert.ok(Number.isInteger(p.id), p.title);
      assert.ok(p.type && p.title, `panel ${p.id}`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: `\${${ds.name}}` }, p.title);
      const g = p.gridPos;
      for (const k of ['h', 'w', 'x', 'y'] as const) assert.ok(Number.isInteger(g[k]) && g[k] >= 0, `${p.title} gridPos.${k}`);
      assert.ok(g.w > 0 && g.h > 0 && g.x + g.w <= 24, `${p.title} fits the 24-column grid`);
      assert.ok(p.targets.length > 0, `${p.title} has targets`);
      assert.equal(new Set(p.targets.map((t) => t.refId)).size, p.targets.length, `${p.title} refIds`);
      for (const t of p.targets) assert.ok(t.expr.trim().length > 0, `${p.title} ${t.refId}`);
    }
    // No two panels overlap.
    for (const a of panels) {
      for (const b of panels) {
        if (a.id >= b.id) continue;
        const [ga, gb] = [a.gridPos, b.gridPos];
        const apart = ga.x + ga.w <= gb.x || gb.x + gb.w <= ga.x || ga.y + ga.h <= gb.y || gb.y + gb.h <= ga.y;
        assert.ok(apart, `${a.title} overlaps ${b.title}`);
      }
    }
  });

  test('covers what an operator asks: traffic, errors by code, latency quantiles, phases, batches, queue, inflight, processes, client endpoints', () => {
    const all = exprs.join('\n');
    for (const needed of [
      /modelpipe_requests_total/,
      /sum by \(code\) \(rate\(modelpipe_request_failures_total/,
      /histogram_quantile\(0\.99, .*modelpipe_request_duration_seconds_bucket/,
      /histogram_quantile\(0\.5, /,
      /histogram_quantile\(0\.95, /,
      /phase=~"decode\|queue\|compute\|encode"/,
      /modelpipe_batch_size_bucket/,
      /modelpipe_queue_depth/,
      /modelpipe_inflight_requests/,
      /modelpipe_processes/,
      /modelpipe_process_restarts_total/,
      /modelpipe_client_requests_total/,
      /modelpipe_client_retries_total/,
      /modelpipe_client_ejections_total/,
      /modelpipe_client_endpoint_up/,
    ]) {
      assert.match(all, needed);
    }
  });

  describe('every metric its PromQL reads exists on a real server', () => {
    let single = new Set<string>();
    let cluster: Set<string> | undefined;
    const skipCluster = needShared('models/mnist.onnx');
    before(async () => {
      const live = await liveMetrics();
      single = sampleNames(live.single);
      cluster = live.cluster === undefined ? undefined : sampleNames(live.cluster);
    });

    test('the extractor finds the names (so an empty list cannot pass)', () => {
      const names = [...exprs, ...variableMetrics].flatMap(promqlMetricNames);
      assert.ok(names.includes('modelpipe_request_failures_total'));
      assert.ok(!names.includes('rate') && !names.includes('le') && !names.includes('model'), names.join(' '));
    });

    test('in the /metrics of serve (function model) or serve --processes 2 (process metrics)', { skip: skipCluster }, () => {
      const known = new Set([...single, ...(cluster ?? [])]);
      for (const expr of exprs) {
        for (const name of promqlMetricNames(expr)) assert.ok(known.has(name), `${name} (in ${expr}) is not in /metrics`);
      }
      for (const name of variableMetrics) assert.ok(known.has(name), `template variable reads ${name}`);
    });
  });
});
