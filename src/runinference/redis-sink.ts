import { ModelpipeError } from '../errors/index.js';
import { toJSON } from './file-sinks.js';
import { connect } from './redis-streams.js';
import type { Sink } from './sink.js';

/**
 * A stream sink that writes each item once per id: a Lua script sets a dedup key
 * (SET NX with a TTL) and XADDs only if it was not set, atomically, so an item rewritten
 * after a reclaim is dropped.
 */
export function redisStreamSink<T>(o: {
  url: string;
  stream: string;
  idOf: (x: T) => string;
  dedupTtlSec?: number;
  maxLen?: number;
}): Sink<T> {
  const r = connect(o.url);
  const script = `
local n = 0
for i = 1, #ARGV - 1, 2 do
  if redis.call('SET', KEYS[2] .. ARGV[i], '1', 'NX', 'EX', tonumber(KEYS[3])) then
    redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'data', ARGV[i + 1])
    n = n + 1
  end
end
return n`;
  return {
    async write(items) {
      if (items.length === 0) return;
      const args: string[] = [];
      for (const x of items) args.push(o.idOf(x), toJSON(x));
      try {
        await r.eval(script, 3, o.stream, `mp:dedup:${o.stream}:`, String(o.dedupTtlSec ?? 86_400), ...args);
        if (o.maxLen !== undefined) await r.xtrim(o.stream, 'MAXLEN', '~', o.maxLen);
      } catch (e) {
        throw new ModelpipeError('MP_ERR_SINK', `redis XADD to ${o.stream}: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      await r.quit().catch(() => {});
    },
  };
}
