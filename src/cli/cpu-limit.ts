import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * CPUs this container may use: what `--processes auto` should follow in a pod, where
 * os.availableParallelism() reports the node's cores, not the pod's limit.
 * In order: cgroup v2 `cpu.max` ("200000 100000" → 2; "max …" → no limit), cgroup v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1 → no limit), then
 * MODELPIPE_CPU_LIMIT (the Deployment passes limits.cpu there through the Downward
 * API, for runtimes that hide the cgroup files), else the host's parallelism.
 * A fractional limit rounds up (1.5 CPUs still warrant two processes), never below 1.
 * `root` is the cgroup mount, a parameter so tests can point it at fake files.
 */
export function containerCpuLimit(root = '/sys/fs/cgroup', env: NodeJS.ProcessEnv = process.env): number {
  const v2 = readText(join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    const n = ratio(quota, period);
    if (n !== undefined) return n;
  } else {
    const n = ratio(readText(join(root, 'cpu', 'cpu.cfs_quota_us')), readText(join(root, 'cpu', 'cpu.cfs_period_us')));
    if (n !== undefined) return n;
  }
  const fromEnv = Number(env.MODELPIPE_CPU_LIMIT);
  if (env.MODELPIPE_CPU_LIMIT !== undefined && Number.isFinite(fromEnv) && fromEnv > 0) return Math.max(1, Math.ceil(fromEnv));
  return availableParallelism();
}

/** quota/period rounded up; undefined for "max", -1, or anything unreadable. */
function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period ?? 100000);
  if (!Number.isFinite(q) || q <= 0 || !Number.isFinite(p) || p <= 0) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
