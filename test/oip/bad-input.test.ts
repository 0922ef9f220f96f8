import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { MAX_ERROR_MESSAGE, ModelpipeError } from '../../src/errors/index.js';
import { type RunningServer, serve } from '../../src/server/serve.js';
import { type Tensor, fromNested } from '../../src/tensor/index.js';

/**
 * Bad input is the caller's 400 with a stable code, never a 500 from a URIError or a
 * stack overflow, and an error message never echoes unbounded input.
 */

const DEEP = 200_000;

describe('bad input over REST: 400 with a code', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await serve(async (inputs) => ({ y: inputs.x as Tensor }), {
      name: 'echo',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
    });
  });
  after(() => srv?.close());

  async function call(method: 'GET' | 'POST', path: string, body?: string | Uint8Array) {
    const r = await request(`${srv.url}${path}`, { method, ...(body !== undefined ? { body } : {}) });
    const text = Buffer.from(await r.body.arrayBuffer());
    return { status: r.statusCode, code: r.headers['x-modelpipe-error'], text };
  }

  test('malformed percent-encoding in OIP and GraphPipe paths: 400 MP_ERR_BAD_REQUEST', async () => {
    const valid = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] });
    for (const [method, path, body] of [
      ['GET', '/v2/models/%zz'],
      ['GET', '/v2/models/echo/versions/%E0%A4%A'],
      ['POST', '/v2/models/%zz/infer', valid],
      ['GET', '/models/%zz'],
      ['POST', '/models/%zz', new Uint8Array(8)],
    ] as const) {
      const r = await call(method, path, body);
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.equal(r.code, 'MP_ERR_BAD_REQUEST', `${method} ${path}`);
    }
  });

  test(`"data" nested ${DEEP} deep: 400 MP_ERR_WIRE_TOO_DEEP`, async () => {
    const data = `${'['.repeat(DEEP)}1${']'.repeat(DEEP)}`;
    const r = await call('POST', '/v2/models/echo/infer', `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":${data}}]}`);
    assert.equal(r.status, 400, r.text.toString());
    assert.equal(r.code, 'MP_ERR_WIRE_TOO_DEEP');
  });

  test('deep values where a scalar belongs (datatype, binary_data_size, an element) are 400s', async () => {
    const deep = `${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}`;
    for (const entry of [
      `{"name":"x","datatype":${deep},"shape":[1],"data":[1]}`,
      `{"name":"x","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":${deep}}}`,
      `{"name":"x","datatype":"FP32","shape":[1],"data":[${deep}]}`,
      `{"name":"x","datatype":"FP32","shape":[${deep}],"data":[1]}`,
    ]) {
      const r = await call('POST', '/v2/models/echo/infer', `{"inputs":[${entry}]}`);
      assert.equal(r.status, 400, `${entry.slice(0, 60)}: ${r.text.toString().slice(0, 200)}`);
    }
  });

  test('a 1e6-dimension shape and a 1 MB name: the error stays short', async () => {
    const shape = new Array(1_000_000).fill(1);
    for (const entry of [
      { name: 'x', datatype: 'FP32', shape, data: [1] },
      { name: 'n'.repeat(1 << 20), datatype: 'FP32', shape: [1], data: [1] },
      { name: 'x', datatype: 'z'.repeat(1 << 20), shape: [1], data: [1] },
    ]) {
      const r = await call('POST', '/v2/models/echo/infer', JSON.stringify({ inputs: [entry] }));
      assert.equal(r.status, 400);
      assert.ok(r.text.length < 2 * MAX_ERROR_MESSAGE, `error body is ${r.text.length} bytes`);
    }
    // Over GraphPipe the model's validation names the input: also bounded.
    const r = await call('GET', `/models/${'m'.repeat(8_000)}`);
    assert.equal(r.status, 404);
    assert.ok(r.text.length < 2 * MAX_ERROR_MESSAGE, `error body is ${r.text.length} bytes`);
  });

  test('the server still answers a valid request', async () => {
    const r = await call(
      'POST',
      '/v2/models/echo/infer',
      JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2] }] }),
    );
    assert.equal(r.status, 200, r.text.toString());
  });
});

test('fromNested refuses nesting deeper than MAX_RANK instead of overflowing the stack', () => {
  let v: unknown = 1;
  for (let i = 0; i < DEEP; i++) v = [v];
  assert.throws(
    () => fromNested(v as number[]),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_WIRE_TOO_DEEP',
  );
  assert.deepEqual(fromNested([[1, 2]], 'float32').shape, [1, 2]);
});

test('ModelpipeError keeps messages short, whatever they quote', () => {
  const e = new ModelpipeError('MP_ERR_BAD_REQUEST', `bad ${'x'.repeat(3_000_000)}`);
  assert.ok(e.message.length < MAX_ERROR_MESSAGE + 40);
  assert.match(e.message, /more chars\)$/);
});
