import type { Redis } from 'ioredis';

/**
 * Taking over the entries of a dead consumer, and telling a poison entry from a SIGKILL.
 *
 * Redis' delivery count grows on every takeover, so it cannot tell "this entry crashed its
 * worker" from "its worker was killed from outside while it sat in its pending list": under
 * repeated kills a good entry reaches the limit and is dead-lettered. Instead, an entry is
 * charged a crash only when its consumer died while holding nothing else (it ran alone), so
 * the crash can only be its own doing or bad luck on that one entry; `maxDeliveries` such
 * crashes dead-letter it. A consumer that dies holding several entries makes them suspects,
 * each remembering the smallest group it died in (its "level"):
 * - level > TAKEOVER_CHUNK: taken over and run in chunks of TAKEOVER_CHUNK through the normal
 *   batched path (one claim and one batch per chunk, not one round trip per entry);
 * - level 2..TAKEOVER_CHUNK: run alone, so a second crash names the poison entry and only it;
 * - level 1 (died alone): charged one crash, run alone again, until the limit.
 * A poison entry costs 1 + 1 + maxDeliveries crashes; its neighbours cost one chunked rerun
 * and are never charged. The claimer runs a chunk with nothing else in flight (the stream
 * source waits until its own entries are acked), so its pending list is exactly the chunk
 * and a crash is attributed to the chunk alone.
 *
 * The group size a consumer died in is its pending count when it is first seen dead, kept in
 * a key (its pending list shrinks as chunks are taken). An entry written to the sink and
 * killed before its ack (outside kill, alone, maxDeliveries times in a row) is the one case
 * that could still be dead-lettered after being written; the odds are those of maxDeliveries
 * outside kills each landing in that millisecond window.
 */
export const TAKEOVER_CHUNK = 8;

export function suspectKey(stream: string, group: string): string {
  return `mp:suspect:${stream}:${group}`;
}

export function crashesKey(stream: string, group: string): string {
  return `mp:crashes:${stream}:${group}`;
}

function deadSizeKey(stream: string, group: string, consumer: string): string {
  return `mp:deadsize:${stream}:${group}:${consumer}`;
}

// KEYS: stream, suspects, crashes, dead size, stats. ARGV: group, dead consumer, claimer,
// chunk, maxDeliveries, candidate ids (all held by the dead consumer when scanned).
// Returns {candidates consumed, {id, crashes, entry-or-nil}...}.
const CLAIM_CHUNK = `
local function pendingOf(c)
  local s = redis.call('XPENDING', KEYS[1], ARGV[1])
  for _, x in ipairs(s[4] or {}) do if x[1] == c then return tonumber(x[2]) end end
  return 0
end
local n = tonumber(redis.call('GET', KEYS[4]) or '0')
if n == 0 then
  n = pendingOf(ARGV[2])
  if n == 0 then return {#ARGV - 5, {}} end
  redis.call('SET', KEYS[4], n, 'PX', 86400000)
end
local chunk = tonumber(ARGV[4])
local maxd = tonumber(ARGV[5])
local out = {}
local used = 0
local claimed, exhausted = 0, 0
for i = 6, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    local level = tonumber(redis.call('HGET', KEYS[2], id) or n)
    if n < level then level = n end
    local crashes = tonumber(redis.call('HGET', KEYS[3], id) or '0')
    if n == 1 then crashes = crashes + 1 end
    local alone = level <= chunk or crashes >= maxd
    if #out > 0 and alone then break end
    redis.call('HSET', KEYS[2], id, level)
    if n == 1 then redis.call('HINCRBY', KEYS[3], id, 1) end
    local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, id)
    out[#out + 1] = {id, crashes, e[1] or false}
    claimed = claimed + 1
    if crashes >= maxd then exhausted = exhausted + 1 end
    used = i - 5
    if alone or #out >= chunk then break end
  else
    used = i - 5
  end
end
if claimed > exhausted then redis.call('HINCRBY', KEYS[5], 'claimed', claimed - exhausted) end
if exhausted > 0 then redis.call('HINCRBY', KEYS[5], 'exhausted', exhausted) end
if pendingOf(ARGV[2]) == 0 then
  redis.call('DEL', KEYS[4])
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return {used, out}`;

export type RawEntry = [string, string[] | null];

export interface ClaimedEntry {
  id: string;
  /** Times it crashed a worker while running alone (this takeover's charge included). */
  crashes: number;
  /** The entry, or null when it was deleted from the stream while pending. */
  entry: RawEntry | null;
}

export interface ChunkOptions {
  stream: string;
  group: string;
  statsKey: string;
  dead: string;
  claimer: string;
  maxDeliveries: number;
}

/**
 * Claims the next chunk of `ids` (pending entries of the dead consumer `o.dead`, in order)
 * for `o.claimer`: several suspects of a large group, or one entry that must run alone.
 * Returns the chunk and how many of `ids` were dealt with (claimed or gone elsewhere).
 */
export async function claimChunk(r: Redis, o: ChunkOptions, ids: readonly string[]): Promise<{ used: number; chunk: ClaimedEntry[] }> {
  const keys = [o.stream, suspectKey(o.stream, o.group), crashesKey(o.stream, o.group), deadSizeKey(o.stream, o.group, o.dead), o.statsKey];
  const args = [o.group, o.dead, o.claimer, TAKEOVER_CHUNK, o.maxDeliveries, ...ids];
  const [used, rows] = (await r.eval(CLAIM_CHUNK, keys.length, ...keys, ...args)) as [number, [string, number, RawEntry | null][]];
  return { used: Number(used), chunk: rows.map(([id, crashes, entry]) => ({ id, crashes: Number(crashes), entry: entry ?? null })) };
}

// Moves every pending entry of ARGV[2] to the ghost ARGV[3], marked long idle.
const RETIRE = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1000000, ARGV[2])
for _, e in ipairs(p) do redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, e[1], 'IDLE', 86400000, 'JUSTID') end
return #p`;

/**
 * A consumer with a fixed name restarting finds entries of its previous life pending under
 * its own name. They are moved to a ghost consumer (no heartbeat), so they are taken over
 * like any dead consumer's, with its group size, instead of mixing with the new life's.
 */
export async function retireOwnPending(r: Redis, stream: string, group: string, consumer: string): Promise<number> {
  const ghost = `${consumer}~${Date.now()}`;
  return Number(await r.eval(RETIRE, 1, stream, group, consumer, ghost));
}
