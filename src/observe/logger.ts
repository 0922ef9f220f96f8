import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino) to stderr, so stdout stays free for command output. */
export function createLogger(level: string = process.env.MODELPIPE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'modelpipe' } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
