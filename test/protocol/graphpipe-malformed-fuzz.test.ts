import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import {
  decodeInferResponse,
  decodeMetadataResponse,
  decodeRequest,
  encodeInferResponse,
  encodeMetadataResponse,
  encodeRequest,
} from '../../src/protocol/graphpipe/index.js';
import { rng } from '../helpers/fixtures.js';
import { baseMetadata, baseRequest, baseResponse, expectWire } from '../helpers/hostile.js';
import { officialInferResponse, officialMetadataResponse, officialRequest } from '../helpers/official-codec.js';
import { setU32 } from '../helpers/wire.js';

/**
 * Hostile GraphPipe bytes, in bulk: every truncated prefix of valid messages (ours
 * and the official builder's), then a seeded, bounded random-mutation fuzz. Only a
 * ModelpipeError may escape, and nothing may hang.
 */
type Decoder = (b: Uint8Array) => unknown;

const SAME_LAYOUT = [
  { name: 'InferRequest', bytes: encodeRequest(baseRequest()), decode: decodeRequest as Decoder },
  { name: 'MetadataRequest', bytes: encodeRequest({ type: 'metadata' }), decode: decodeRequest as Decoder },
  { name: 'InferResponse', bytes: encodeInferResponse(baseResponse()), decode: decodeInferResponse as Decoder },
  { name: 'MetadataResponse', bytes: encodeMetadataResponse(baseMetadata()), decode: decodeMetadataResponse as Decoder },
  { name: 'official InferRequest', bytes: officialRequest(baseRequest(), { phase: 4 }), decode: decodeRequest as Decoder },
  { name: 'official InferResponse', bytes: officialInferResponse(baseResponse()), decode: decodeInferResponse as Decoder },
  { name: 'official MetadataResponse', bytes: officialMetadataResponse(baseMetadata()), decode: decodeMetadataResponse as Decoder },
];

describe('truncation', () => {
  for (const base of SAME_LAYOUT) {
    test(`every strict prefix of a valid ${base.name} is rejected (or, if it drops only padding, decodes identically)`, () => {
      const whole = base.decode(base.bytes);
      for (let n = 0; n < base.bytes.length; n++) {
        const prefix = new Uint8Array(base.bytes.subarray(0, n)); // a copy: nothing past n exists
        const what = `${base.name} cut to ${n} of ${base.bytes.length} bytes`;
        let decoded: unknown;
        try {
          decoded = base.decode(prefix);
        } catch {
          expectWire(() => base.decode(prefix), ['MP_ERR_WIRE_TRUNCATED', 'MP_ERR_WIRE_BAD_OFFSET', 'MP_ERR_WIRE_BAD_VTABLE'], what);
          continue;
        }
        // A prefix may drop only zero bytes that nothing needs: the official builder's
        // trailing alignment padding, or a final string_val NUL terminator (graphpipe-py
        // writes none, so the reader must not require one). Such a prefix is a complete
        // message and must decode to exactly the same thing; any other prefix is a failure.
        // Our encoders emit no trailing padding and end on a payload or a length, so
        // for them no prefix at all may decode.
        assert.ok(base.name.startsWith('official') && base.bytes.subarray(n).every((x) => x === 0), `${what}: decoded without error`);
        assert.deepEqual(decoded, whole, `${what}: decodes to the full message`);
      }
    });
  }
});

test('seeded fuzz: 20 000 mutated messages raise only ModelpipeError, within 5 s', () => {
  const next = rng(0x6a09e667);
  const pick = (n: number) => Math.floor(next() * n);
  const interesting = [0, 1, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0xfffe, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];
  const seen = new Map<string, number>();
  const t0 = performance.now();
  for (let i = 0; i < 20_000; i++) {
    const base = SAME_LAYOUT[i % SAME_LAYOUT.length] as (typeof SAME_LAYOUT)[number];
    const m = new Uint8Array(base.bytes); // a copy (Buffer#slice would be a view)
    const edits = 1 + pick(4);
    for (let e = 0; e < edits; e++) {
      const at = pick(m.length);
      const kind = pick(4);
      if (kind === 0) m[at] = pick(256);
      else if (kind === 1) m[at] = (m[at] as number) ^ (1 << pick(8));
      else setU32(m, Math.min(at & ~3, m.length - 4), interesting[pick(interesting.length)] as number);
    }
    const input = pick(8) === 0 ? m.subarray(0, pick(m.length)) : m;
    try {
      base.decode(input);
      seen.set('ok', (seen.get('ok') ?? 0) + 1);
    } catch (e: unknown) {
      if (!(e instanceof ModelpipeError)) assert.fail(`mutation ${i} of ${base.name} threw ${String(e)}`);
      // Request validation (names vs tensors count) may legitimately follow a mutated count.
      assert.ok(e.code.startsWith('MP_ERR_WIRE_') || e.code === 'MP_ERR_INPUT_COUNT', `mutation ${i}: ${e.code}`);
      seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
    }
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `fuzz took ${ms} ms`);
  // The fuzz must actually reach deep checks, not only fail at the root.
  for (const code of ['MP_ERR_WIRE_BAD_VTABLE', 'MP_ERR_WIRE_BAD_OFFSET', 'MP_ERR_WIRE_TRUNCATED', 'MP_ERR_WIRE_DATA_SIZE'] as const) {
    assert.ok((seen.get(code) ?? 0) > 0, `fuzz never produced ${code}: ${JSON.stringify([...seen])}`);
  }
});
