import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { type RuleFile, alertRules } from '../../src/deploy/alerts.js';
import { liveMetrics, promqlMetricNames, sampleNames } from '../helpers/prom.js';
import { needShared, repoRoot } from '../helpers/shared.js';

const FILE = join(repoRoot, 'deploy', 'prometheus', 'alerts.yaml');

/**
 * The committed YAML read by a real YAML parser: node_modules has none (and none is
 * added), Debian's python3-yaml does. Undefined where it is absent.
 */
function parseWithPyYaml(path: string): unknown {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return undefined;
  return JSON.parse(r.stdout);
}

const parsed = parseWithPyYaml(FILE) as RuleFile | undefined;

describe('Prometheus alert rules (deploy/prometheus/alerts.yaml)', () => {
  test('the file parses as YAML into exactly the rules of src/deploy/alerts.ts', {
    skip:
      parsed === undefined
        ? '/usr/bin/python3 lacks PyYAML (python3-yaml); the committed text is still compared with the source by manifests.test'
        : false,
  }, () => {
    assert.deepEqual(parsed, JSON.parse(JSON.stringify(alertRules())));
  });

  test('each rule is a well-formed Prometheus alerting rule', () => {
    const rules = (parsed ?? alertRules()).groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 4);
    assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'unique alert names');
    for (const r of rules) {
      assert.match(r.alert, /^[A-Z][A-Za-z0-9]+$/);
      assert.match(r.for, /^\d+[smh]$/, r.alert);
      assert.ok(['page', 'ticket'].includes(r.labels.severity), r.alert);
      assert.ok(r.annotations.summary && r.annotations.description, r.alert);
      // Balanced brackets: a typo here would make Prometheus refuse the whole file.
      for (const [open, close] of [
        ['(', ')'],
        ['[', ']'],
        ['{', '}'],
      ] as const) {
        assert.equal(r.expr.split(open).length, r.expr.split(close).length, `${r.alert}: ${open}${close} in ${r.expr}`);
      }
      assert.match(r.expr, /[<>]=?\s*[\d.]+$/, `${r.alert} compares against a threshold`);
    }
    assert.match(readFileSync(FILE, 'utf8'), /^groups:$/m);
  });

  describe('every metric an expression reads exists on a real server', () => {
    let known = new Set<string>();
    const skip = needShared('models/mnist.onnx');
    before(async () => {
      const live = await liveMetrics();
      known = new Set([...sampleNames(live.single), ...sampleNames(live.cluster ?? '')]);
    });
    test('in the /metrics of serve (function model) or serve --processes 2', { skip }, () => {
      for (const r of (parsed ?? alertRules()).groups.flatMap((g) => g.rules)) {
        const names = promqlMetricNames(r.expr);
        assert.ok(names.length > 0, r.alert);
        for (const n of names) assert.ok(known.has(n), `${r.alert} reads ${n}, which /metrics lacks`);
      }
    });
  });
});
