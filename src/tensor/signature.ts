import { Tensor } from './tensor.js';

/**
 * The one batch signature: items with equal signatures may share a batch, items with
 * different ones never do. Both batching strategies (the server's queue and
 * RunInference's stream) use it, so one example is batched by one rule everywhere.
 *
 * The rule: for every named tensor (sorted by name) its name, dtype, rank and every
 * dimension but the first. Dimension 0 is the batch dimension: stacking concatenates
 * along it, so items that differ only there stack fine (a [1,4] and a [3,4] make a
 * [4,4]). A bare tensor is the unnamed input "". Anything else (a string, a number,
 * an object without tensors) is one class, "*": such items are batched by count
 * alone and a handler that needs more says so with its own signature.
 */
export function batchSignature(item: unknown): string {
  if (item instanceof Tensor) return part('', item);
  if (item instanceof Map) return mapSignature(item as ReadonlyMap<unknown, unknown>);
  if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    let sig = '';
    for (const k of Object.keys(item).sort()) {
      const v = (item as Record<string, unknown>)[k];
      if (v instanceof Tensor) sig += part(k, v);
    }
    if (sig !== '') return sig;
  }
  return '*';
}

function mapSignature(m: ReadonlyMap<unknown, unknown>): string {
  // One input (the usual request) needs no sort and no array.
  if (m.size === 1) {
    const [k, v] = m.entries().next().value as [unknown, unknown];
    return v instanceof Tensor ? part(String(k), v) : '*';
  }
  let sig = '';
  for (const [k, v] of [...m].sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0))) {
    if (v instanceof Tensor) sig += part(String(k), v);
  }
  return sig === '' ? '*' : sig;
}

/** One input's share: JSON-quoted name so no name can forge a separator. */
function part(name: string, t: Tensor): string {
  let dims = '';
  for (let i = 1; i < t.shape.length; i++) dims += `,${t.shape[i]}`;
  return `${JSON.stringify(name)}:${t.dtype}:${t.shape.length}${dims};`;
}
