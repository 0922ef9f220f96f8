import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { ModelpipeError } from '../../src/errors/index.js';
import { DEFAULT_MAX_TENSORS, MAX_STRING_ELEMENTS, decodeRequest, encodeRequest } from '../../src/protocol/graphpipe/index.js';
import { type RunningServer, serve } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';
import { offsetFlood } from '../helpers/amplify.js';

/**
 * Offsets amplify work: a body of 4-byte offsets that all point at one tensor table
 * (or one string) once cost a decode per offset (16 M offsets: 48 s, 4.1 GB). Now a
 * count over the limit is refused before any entry is followed, a table referenced
 * twice is refused, and string elements per message are capped.
 */

const FLOOD = 4 * 2 ** 20; // 4 M offsets: a 16 MiB body

/** Decodes `body`, expecting `code`; returns the wall time and the RSS growth. */
function refused(body: Uint8Array, limits: Parameters<typeof decodeRequest>[1], code: string): { ms: number; grew: number } {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  assert.throws(
    () => decodeRequest(body, limits),
    (e: unknown) => e instanceof ModelpipeError && e.code === code && e.message.length < 300,
  );
  return { ms: performance.now() - t0, grew: process.memoryUsage().rss - rss0 };
}

describe('GraphPipe decode cost is bounded by the body', () => {
  test('16 MiB of offsets to one tensor table: refused in well under a second, RSS growth under 2x the body', () => {
    const body = offsetFlood('tensors', FLOOD);
    for (const limits of [{ maxInputs: 1 }, {}]) {
      const { ms, grew } = refused(body, limits, 'MP_ERR_INPUT_COUNT');
      assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
      assert.ok(grew < 2 * body.length, `RSS grew ${grew} bytes for a ${body.length}-byte body`);
    }
  });

  test('the model input count is the limit: one tensor over it is refused before its table is read', () => {
    const body = offsetFlood('tensors', 3);
    refused(body, { maxInputs: 2 }, 'MP_ERR_INPUT_COUNT');
    // With room for three, the three references to one table are the problem.
    refused(body, { maxInputs: 3 }, 'MP_ERR_WIRE_SHARED_TABLE');
    refused(offsetFlood('tensors', 40), { maxInputs: 64 }, 'MP_ERR_WIRE_SHARED_TABLE'); // the set path
    refused(offsetFlood('tensors', DEFAULT_MAX_TENSORS + 1), {}, 'MP_ERR_INPUT_COUNT');
    const one = decodeRequest(offsetFlood('tensors', 1), { maxInputs: 1 });
    assert.equal(one.type === 'infer' && one.inputs.length, 1);
  });

  test('16 MiB of offsets to one shared string: refused fast, RSS growth under 2x the body', () => {
    const body = offsetFlood('strings', FLOOD);
    const { ms, grew } = refused(body, {}, 'MP_ERR_WIRE_TOO_MANY');
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    assert.ok(grew < 2 * body.length, `RSS grew ${grew} bytes for a ${body.length}-byte body`);
  });

  test('1 M offsets to one shared string in 4 MiB: more than distinct strings could fill, refused at once', () => {
    const body = offsetFlood('strings', 2 ** 20);
    const { ms, grew } = refused(body, {}, 'MP_ERR_WIRE_TOO_MANY');
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    assert.ok(grew < 2 * body.length, `RSS grew ${grew} bytes for a ${body.length}-byte body`);
  });

  test('shared strings up to what the bytes could hold still decode (they are legal), as views into the body', () => {
    const body = offsetFlood('strings', 20); // 20 offsets to one string in 196 bytes
    const msg = decodeRequest(body);
    assert.ok(msg.type === 'infer');
    const t = msg.inputs[0] as Tensor;
    assert.deepEqual(t.shape, [20]);
    assert.equal(t.strings()[19], 'x');
    assert.equal((t.data[0] as Uint8Array).buffer, body.buffer);
    // The cap counts all string tensors of a message together.
    const two = encodeRequest({
      type: 'infer',
      config: '',
      inputNames: [],
      inputs: [Tensor.fromStrings(['a']), Tensor.fromStrings(['b', 'c'])],
      outputNames: [],
    });
    assert.equal(decodeRequest(two).type, 'infer');
    assert.ok(MAX_STRING_ELEMENTS >= 2 ** 20, 'the cap leaves room for real string batches');
  });
});

describe('over HTTP: the server refuses the flood with a 400 and keeps serving', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await serve(async (inputs) => ({ y: inputs.x as Tensor }), {
      name: 'echo',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
    });
  });
  after(() => srv?.close());

  test('16 MiB of offsets to one table: 400 MP_ERR_INPUT_COUNT, then a valid request succeeds', async () => {
    const body = offsetFlood('tensors', FLOOD);
    const r = await request(srv.url, { method: 'POST', body });
    await r.body.arrayBuffer();
    assert.equal(r.statusCode, 400);
    assert.equal(r.headers['x-modelpipe-error'], 'MP_ERR_INPUT_COUNT');
    const ok = await request(srv.url, { method: 'POST', body: offsetFlood('tensors', 1) });
    await ok.body.arrayBuffer();
    assert.equal(ok.statusCode, 200);
  });
});
