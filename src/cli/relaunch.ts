import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/**
 * Long-running servers run node with a larger initial old generation.
 *
 * Why: a large request buffer that waits in a model queue is promoted to V8's old
 * generation, and its bytes count there until the next full GC, even after the
 * buffer has been transferred to a worker and detached. Node's initial old-space
 * limit is a few MB, so serving squeezenet batch-16 requests (9.6 MB each) cost
 * a full mark-compact every couple of requests: 122 of them in 20 s, pausing the
 * event loop up to 14 ms each, on the cores inference needs. With a 128 MB
 * initial limit there was one in the same run (rows/s +5 %, health p99 down; see
 * bench/RESULTS.md). The resident set hardly changes (detached buffers hold no
 * memory; live ones are pooled anyway). V8 reads the flag only at start-up, so
 * the CLI re-executes itself once with it. `MODELPIPE_INITIAL_OLD_SPACE_MB=0`
 * turns this off; a flag given explicitly (node's own or in NODE_OPTIONS) wins,
 * and a process started with --inspect is left alone.
 */

const FLAG = '--initial-old-space-size';
const RELAUNCHED = 'MODELPIPE_RELAUNCHED';
export const DEFAULT_INITIAL_OLD_SPACE_MB = 128;

/** The flag to add, or undefined when it is off or already given. */
export function heapFlag(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string | undefined {
  const given = `${execArgv.join(' ')} ${env.NODE_OPTIONS ?? ''}`;
  if (given.includes(FLAG) || given.includes('--initial-heap-size')) return undefined;
  // Under a debugger the server must stay the process being debugged.
  if (given.includes('--inspect')) return undefined;
  const raw = env.MODELPIPE_INITIAL_OLD_SPACE_MB;
  const mb = raw === undefined || raw === '' ? DEFAULT_INITIAL_OLD_SPACE_MB : Number(raw);
  if (!Number.isInteger(mb) || mb <= 0) return undefined;
  return `${FLAG}=${mb}`;
}

/**
 * Runs this same command again in a child node with `flag`, passing signals on
 * (the server stops gracefully; a repeated signal is harmless) and resolving
 * with its exit code.
 */
export function relaunch(flag: string): Promise<number> {
  const script = process.argv[1] as string;
  // The IPC channel tells the child when this process is gone, even by SIGKILL (see watchParent).
  const child = spawn(process.execPath, [...process.execArgv, flag, script, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED]: '1' },
  });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      console.error(`modelpipe: cannot start ${process.execPath}: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
    });
  });
}

/**
 * In a relaunched server: stop gracefully when the launching process goes away
 * without passing a signal on (killed with SIGKILL), instead of living on orphaned.
 */
export function watchParent(): void {
  if (process.env[RELAUNCHED] !== '1' || !process.connected) return;
  delete process.env[RELAUNCHED]; // not inherited by anything this server starts
  process.channel?.unref(); // the channel alone never keeps the server alive
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
