import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Recorder } from './recorder.js';

/** Sends one request; rejects on any failure. */
export type Send = (signal: AbortSignal) => Promise<void>;

export interface Load {
  /** Stops sending and waits for requests in flight (each bounded by the client timeout). */
  stop(): Promise<void>;
}

/**
 * Closed loop: `concurrency` workers, each sending its next request when the last
 * one is answered. Latency is from the actual send.
 */
export function startClosedLoop(send: Send, concurrency: number, rec: Recorder): Load {
  const stop = new AbortController();
  const worker = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      const t0 = performance.now();
      try {
        await send(stop.signal);
        rec.ok(t0);
      } catch (err: unknown) {
        if (stop.signal.aborted) break;
        rec.fail(err);
        // A failure that never touches I/O must not starve the timers that end the step.
        await yieldLoop();
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    stop: async () => {
      stop.abort();
      await Promise.allSettled(workers);
    },
  };
}

/**
 * Open loop: requests are due at a fixed rate (constant gaps, or exponential gaps
 * for Poisson arrivals) whatever the server does, and each one's latency counts
 * from when it was due, not from when it went out — so a stalled server shows up
 * in the percentiles instead of silently slowing the sender (no coordinated
 * omission). At most `maxInFlight` requests are outstanding; past that the sender
 * waits, and the wait counts in the latency of the requests it delays.
 */
export function startOpenLoop(send: Send, rate: number, arrivals: 'constant' | 'poisson', maxInFlight: number, rec: Recorder): Load {
  const stop = new AbortController();
  const gapMs = 1000 / rate;
  const gap = () => (arrivals === 'poisson' ? -Math.log(1 - Math.random()) * gapMs : gapMs);
  const pending = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  const one = async (dueMs: number): Promise<void> => {
    try {
      await send(stop.signal);
      rec.ok(dueMs);
    } catch (err: unknown) {
      if (!stop.signal.aborted) rec.fail(err);
    }
  };
  const loop = async (): Promise<void> => {
    let due = performance.now();
    while (!stop.signal.aborted) {
      const wait = due - performance.now();
      if (wait > 0.5) {
        await sleep(wait, undefined, { signal: stop.signal }).catch(() => undefined);
        continue;
      }
      if (pending.size >= maxInFlight) {
        await new Promise<void>((resolve) => {
          slotFreed = resolve;
        });
        continue;
      }
      const p = one(due).finally(() => {
        pending.delete(p);
        slotFreed?.();
        slotFreed = undefined;
      });
      pending.add(p);
      due += gap();
    }
  };
  const sender = loop();
  return {
    stop: async () => {
      stop.abort();
      slotFreed?.();
      await sender;
      await Promise.allSettled([...pending]);
    },
  };
}
