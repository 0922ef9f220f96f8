import { ModelpipeError } from '../../errors/index.js';
import { RemoteError } from '../errors.js';
import type { FailureReason } from './endpoint.js';

/** What a failed try means for the call and for the endpoint. */
export interface Outcome {
  reason: FailureReason;
  /** Another endpoint may take the call. */
  retry: boolean;
  /** Take this endpoint out of rotation now (at least `backoffMs`). */
  eject: boolean;
  backoffMs?: number | undefined;
  /** The request was sent and the connection died under it: it may be what kills servers. */
  killedConnection: boolean;
}

/** A 429 without Retry-After keeps the endpoint out this long. */
const DEFAULT_THROTTLE_MS = 1000;

/**
 * The failover rules, in one place. Retried elsewhere: a connection that fails, or
 * ends before any response byte (inference is idempotent); 503 (not ready,
 * draining, queue full); 429 (and that endpoint backs off for its Retry-After).
 * Never: other 4xx and 5xx (a model's error is the same on every replica), a
 * connection lost mid-answer, a timeout (the deadline is spent) or a cancel.
 */
export function outcomeOf(err: unknown): Outcome {
  const none = { retry: false, eject: false, killedConnection: false };
  if (!(err instanceof ModelpipeError)) return { reason: 'error', ...none };
  const failure = err instanceof RemoteError ? err.failure : undefined;
  if (failure === 'connect') return { reason: 'connect', retry: true, eject: true, killedConnection: false };
  if (failure === 'closed') return { reason: 'closed', retry: true, eject: true, killedConnection: true };
  if (failure === 'closed-late') return { reason: 'closed', ...none, eject: true };
  if (err.code === 'MP_ERR_TIMEOUT') return { reason: 'timeout', ...none };
  if (err.code === 'MP_ERR_CANCELLED') return { reason: 'cancelled', ...none };
  if (err.status === 503) return { reason: 'unavailable', ...none, retry: true };
  if (err.status === 429) {
    const backoffMs = (err instanceof RemoteError ? err.retryAfterMs : undefined) ?? DEFAULT_THROTTLE_MS;
    return { reason: 'throttled', retry: true, eject: true, backoffMs, killedConnection: false };
  }
  return { reason: 'error', ...none };
}
