import { ModelpipeError } from '../errors/index.js';
import { containerCpuLimit } from './cpu-limit.js';

/**
 * `serve --processes N|auto`: how many server processes share the listen port
 * (see cluster-primary.ts). Kept free of heavy imports: main.ts reads it before
 * deciding whether to relaunch itself.
 */
export function parseProcesses(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  // One per CPU the process may use: a container's quota (cgroup cpu.max, or the
  // Downward API's MODELPIPE_CPU_LIMIT) rather than the node's core count.
  if (raw === 'auto') return containerCpuLimit();
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--processes must be an integer from 1 to 1024 or auto, got ${raw}`);
  return n;
}

/** The raw --processes value on a command line (last one wins, as parseArgs does), else MODELPIPE_PROCESSES. */
export function processesArg(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  let raw: string | undefined;
  argv.forEach((a, i) => {
    if (a === '--processes') raw = argv[i + 1];
    else if (a.startsWith('--processes=')) raw = a.slice('--processes='.length);
  });
  return raw ?? env.MODELPIPE_PROCESSES;
}

/** Whether this command line asks for several server processes (a bad value is reported later, by serve). */
export function wantsProcesses(argv: readonly string[]): boolean {
  try {
    return parseProcesses(processesArg(argv)) > 1;
  } catch {
    return false;
  }
}
