import { ModelpipeError } from '../../errors/index.js';

/** One try of a call: where it went and what came of it. */
export interface Try {
  url: string;
  error: unknown;
}

/**
 * The error after the last try of a call that went to more than one endpoint (or
 * found none): MP_ERR_NO_ENDPOINTS, naming every endpoint tried and what each did,
 * and why it stopped there.
 */
export function noEndpointsError(description: string, tries: readonly Try[], stopped: string): ModelpipeError {
  if (tries.length === 0) return new ModelpipeError('MP_ERR_NO_ENDPOINTS', `${description}: no endpoint to call (${stopped})`);
  const each = tries.map((t) => `${t.url}: ${summary(t.url, t.error)}`).join('; ');
  const n = tries.length;
  return new ModelpipeError('MP_ERR_NO_ENDPOINTS', `${description}: ${n} endpoint${n === 1 ? '' : 's'} tried, ${stopped}: ${each}`, {
    cause: tries[n - 1]?.error,
  });
}

/** An error's message without the URL it already starts with, and its code. */
function summary(url: string, err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const text = message.startsWith(`${url}: `) ? message.slice(url.length + 2) : message;
  return typeof e?.code === 'string' ? `${e.code} ${text}` : text;
}
