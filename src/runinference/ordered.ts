/**
 * Ordered map with at most `n` calls in flight, used by Flow.map and the RunInference
 * engine. A finished head result is passed on at once, even while the source has nothing
 * new: a window that waited for `n` items before yielding would hold a lone item of a
 * trickling stream until more arrived (seconds on a quiet Redis stream, long enough for
 * its entry to be reclaimed and processed twice).
 */
export async function* orderedMap<T, U>(src: AsyncIterable<T>, n: number, fn: (x: T) => U | Promise<U>): AsyncGenerator<U> {
  const limit = Math.max(1, n);
  const it = src[Symbol.asyncIterator]();
  const inflight: Promise<U>[] = [];
  let next: Promise<IteratorResult<T>> | undefined;
  let done = false;
  try {
    for (;;) {
      if (!done && next === undefined && inflight.length < limit) {
        next = it.next();
        next.catch(() => {}); // observed below
      }
      const head = inflight[0];
      if (head === undefined) {
        if (next === undefined) return;
        const r = await next;
        next = undefined;
        if (r.done) done = true;
        else start(r.value);
        continue;
      }
      // Prefer the head when both are ready: output first keeps latency low.
      const first = next === undefined ? 0 : await Promise.race([head.then(settle0, settle0), next.then(settle1, settle1)]);
      if (first === 0) {
        inflight.shift();
        yield await head;
        continue;
      }
      const r = await (next as Promise<IteratorResult<T>>);
      next = undefined;
      if (r.done) done = true;
      else start(r.value);
    }
  } finally {
    for (const p of inflight) p.catch(() => {});
    if (!done) {
      // A source blocked in a read (a stream) must not hold up the consumer's return.
      const ret = it.return?.();
      if (next === undefined) await ret;
      else ret?.catch(() => {});
    }
  }

  function start(x: T): void {
    const p = Promise.resolve().then(() => fn(x));
    p.catch(() => {}); // observed in order, when it reaches the head
    inflight.push(p);
  }
}

const settle0 = (): 0 => 0;
const settle1 = (): 1 => 1;
