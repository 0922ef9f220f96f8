import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { containerCpuLimit } from '../../src/cli/cpu-limit.js';

const tmp = mkdtempSync(join(tmpdir(), 'mp-cgroup-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A fake cgroup mount holding the given files (paths relative to it). */
function root(files: Record<string, string>): string {
  const r = join(tmp, String(n++));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(r, rel, '..'), { recursive: true });
    writeFileSync(join(r, rel), `${text}\n`);
  }
  mkdirSync(r, { recursive: true });
  return r;
}

const host = availableParallelism();

test('cgroup v2 cpu.max: quota/period rounded up; "max" means no limit', () => {
  assert.equal(containerCpuLimit(root({ 'cpu.max': '200000 100000' }), {}), 2);
  assert.equal(containerCpuLimit(root({ 'cpu.max': '150000 100000' }), {}), 2);
  assert.equal(containerCpuLimit(root({ 'cpu.max': '50000 100000' }), {}), 1);
  assert.equal(containerCpuLimit(root({ 'cpu.max': '400000 100000' }), { MODELPIPE_CPU_LIMIT: '8' }), 4);
  assert.equal(containerCpuLimit(root({ 'cpu.max': 'max 100000' }), {}), host);
  assert.equal(containerCpuLimit(root({ 'cpu.max': 'max 100000' }), { MODELPIPE_CPU_LIMIT: '3' }), 3);
});

test('cgroup v1 cfs quota/period when there is no cpu.max; quota -1 means no limit', () => {
  const v1 = root({ 'cpu/cpu.cfs_quota_us': '300000', 'cpu/cpu.cfs_period_us': '100000' });
  assert.equal(containerCpuLimit(v1, {}), 3);
  const unlimited = root({ 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' });
  assert.equal(containerCpuLimit(unlimited, { MODELPIPE_CPU_LIMIT: '2' }), 2);
});

test('no cgroup files: MODELPIPE_CPU_LIMIT (Downward API limits.cpu, rounded up), else the host', () => {
  const empty = root({});
  assert.equal(containerCpuLimit(empty, { MODELPIPE_CPU_LIMIT: '2' }), 2);
  assert.equal(containerCpuLimit(empty, { MODELPIPE_CPU_LIMIT: '1.5' }), 2);
  assert.equal(containerCpuLimit(empty, { MODELPIPE_CPU_LIMIT: 'lots' }), host);
  assert.equal(containerCpuLimit(empty, { MODELPIPE_CPU_LIMIT: '0' }), host);
  assert.equal(containerCpuLimit(empty, {}), host);
});
