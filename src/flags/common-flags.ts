import type { Flag } from './table.js';

/** Flags many commands share: logging and where a server listens. */

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** --log-level; a command that prints its results to stdout may default to quieter logs. */
export function logFlags(level: 'info' | 'warn' = 'info') {
  return {
    'log-level': { type: 'string', value: 'LEVEL', choices: LEVELS, default: level, help: 'pino log level (logs go to stderr)' },
  } as const satisfies Record<string, Flag>;
}

/** --listen host:port of a server, with the command's default address. */
export function listenFlag(address: string, help = 'address to listen on (host:port, :port or port)') {
  return { listen: { type: 'string', value: 'host:port', default: address, help } } as const satisfies Record<string, Flag>;
}

/** --body-limit of an HTTP server (the server's own default applies when unset). */
export const BODY_LIMIT_FLAG = {
  'body-limit': { type: 'bytes', help: 'largest request body', defaultNote: '65MiB: a 64 MiB tensor and its envelope' },
} as const satisfies Record<string, Flag>;
