import { stopTracing } from '../observe/tracing.js';

/** Installs SIGTERM/SIGINT handlers that stop gracefully (spans still queued are exported, bounded) and exit 0. */
export function stopOnSignals(close: () => Promise<void>, log: { info: (o: object, m: string) => void }): void {
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping: finishing in-flight requests');
    void close()
      .then(() => stopTracing())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
