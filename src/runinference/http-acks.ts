/**
 * Which HTTP request each record came from, so a request is answered only once all its
 * records were written or dead-lettered. Records are matched by key; two records with the
 * same key (a user key field) are matched first-in first-out, which is right because the
 * pipeline keeps their order.
 */
export type AckOutcome = 'written' | 'dead';

export interface HttpRequestState {
  outstanding: number;
  written: number;
  dead: number;
  closed: boolean;
  failed?: string;
  resolve?: (s: HttpRequestState) => void;
}

export interface AckTracker {
  open(): HttpRequestState;
  expect(s: HttpRequestState, key: string): void;
  ack(keys: readonly string[], outcome: AckOutcome): void;
  /** Resolves once every expected record of the request was acked (or the tracker failed). */
  close(s: HttpRequestState): Promise<HttpRequestState>;
  /** The request failed: its records may still be acked, but nobody waits for them. */
  abandon(s: HttpRequestState): void;
  failAll(reason: string): void;
}

export function ackTracker(): AckTracker {
  const byKey = new Map<string, HttpRequestState[]>();
  const open = new Set<HttpRequestState>();
  const settle = (s: HttpRequestState): void => {
    if (!s.closed || (s.outstanding > 0 && s.failed === undefined)) return;
    open.delete(s);
    s.resolve?.(s);
  };
  return {
    open() {
      const s: HttpRequestState = { outstanding: 0, written: 0, dead: 0, closed: false };
      open.add(s);
      return s;
    },
    expect(s, key) {
      s.outstanding++;
      const q = byKey.get(key);
      if (q) q.push(s);
      else byKey.set(key, [s]);
    },
    ack(keys, outcome) {
      for (const k of keys) {
        const q = byKey.get(k);
        const s = q?.shift();
        if (q?.length === 0) byKey.delete(k);
        if (!s) continue;
        s.outstanding--;
        if (outcome === 'written') s.written++;
        else s.dead++;
        settle(s);
      }
    },
    close(s) {
      s.closed = true;
      const p = new Promise<HttpRequestState>((r) => (s.resolve = r));
      settle(s);
      return p;
    },
    abandon(s) {
      open.delete(s);
    },
    failAll(reason) {
      for (const s of [...open]) {
        s.failed = reason;
        settle(s);
      }
    },
  };
}
