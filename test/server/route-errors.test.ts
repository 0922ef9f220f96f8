import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { decodeInferResponse, encodeRequest } from '../../src/protocol/graphpipe/index.js';
import type { RequestContext } from '../../src/server/frontend.js';
import { type RunningServer, serve } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';

/**
 * An error on a route is answered in that route's protocol, whoever raised it (the
 * body reader, a decoder, the model, an app route in front of the frontends): OIP
 * routes answer `{"error": …}` JSON, GraphPipe routes GraphPipe's text (or an
 * InferResponse with `errors` when asked for), both with the status and the stable
 * code in x-modelpipe-error.
 */

const BODY_LIMIT = 2048;

/** An app route that fails with a plain Error (a bug), on any path ending in /boom. */
function boomRoute(_req: IncomingMessage, _res: ServerResponse, ctx: RequestContext): boolean {
  if (ctx.path.endsWith('/boom')) throw new Error('boom from a route');
  return false;
}

interface Answer {
  status: number;
  type: string;
  code: string;
  body: Buffer;
}

async function send(
  url: string,
  method: 'GET' | 'POST',
  body?: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const r = await request(url, { method, ...(body === undefined ? {} : { body }), headers });
  const bytes = Buffer.from(await r.body.arrayBuffer());
  return {
    status: r.statusCode,
    type: String(r.headers['content-type']),
    code: String(r.headers['x-modelpipe-error']),
    body: bytes,
  };
}

function assertOip(a: Answer, status: number, code: string, message: RegExp): void {
  assert.equal(a.status, status, a.body.toString());
  assert.equal(a.type, 'application/json');
  assert.equal(a.code, code);
  const json = JSON.parse(a.body.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['error']);
  assert.match(String(json.error), message);
}

function assertGraphPipeText(a: Answer, status: number, code: string, message: RegExp): void {
  assert.equal(a.status, status, a.body.toString());
  assert.equal(a.type, 'text/plain; charset=utf-8');
  assert.equal(a.code, code);
  assert.match(a.body.toString(), message);
  assert.ok(a.body.toString().endsWith('\n'));
}

describe('route errors are answered in the route’s protocol', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await serve(
      async (inputs) => {
        const x = inputs.x as Tensor;
        if ((x.data as Float32Array)[0] === -1) throw new Error('deliberate model failure');
        return { y: x };
      },
      {
        name: 'm',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
        bodyLimit: BODY_LIMIT,
        routes: [boomRoute],
      },
    );
  });
  after(() => srv?.close());

  const oipBody = (first: number): string => JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [first, 2] }] });
  const gpBody = (first: number): Uint8Array =>
    encodeRequest({
      type: 'infer',
      config: '',
      inputNames: [],
      inputs: [new Tensor('float32', [1, 2], new Float32Array([first, 2]))],
      outputNames: [],
    });

  test('the valid requests work on both protocols (so the failures below are the ones meant)', async () => {
    const oip = await send(`${srv.url}/v2/models/m/infer`, 'POST', oipBody(1));
    assert.equal(oip.status, 200, oip.body.toString());
    const gp = await send(`${srv.url}/`, 'POST', gpBody(1));
    assert.equal(gp.status, 200);
  });

  test('OIP: body over the limit, malformed JSON, a failing model and a failing route answer OIP JSON', async () => {
    const big = JSON.stringify({ inputs: [], pad: 'x'.repeat(BODY_LIMIT * 2) });
    assertOip(await send(`${srv.url}/v2/models/m/infer`, 'POST', big), 413, 'MP_ERR_BODY_TOO_LARGE', /\d+ bytes/);
    assertOip(await send(`${srv.url}/v2/models/m/infer`, 'POST', '{"inputs": ['), 400, 'MP_ERR_WIRE_BAD_JSON', /not valid JSON/);
    assertOip(await send(`${srv.url}/v2/models/m/infer`, 'POST', oipBody(-1)), 500, 'MP_ERR_MODEL_RUNTIME', /deliberate model failure/);
    // A plain Error from an app route in front of the frontends: internal, yet still OIP's format.
    assertOip(await send(`${srv.url}/v2/models/m/boom`, 'POST', '{}'), 500, 'MP_ERR_INTERNAL', /^boom from a route$/);
    assertOip(await send(`${srv.url}/v2/boom`, 'GET'), 500, 'MP_ERR_INTERNAL', /^boom from a route$/);
  });

  test('GraphPipe: the same failures answer GraphPipe text errors', async () => {
    const big = Buffer.alloc(BODY_LIMIT * 2, 7);
    assertGraphPipeText(await send(`${srv.url}/`, 'POST', big), 413, 'MP_ERR_BODY_TOO_LARGE', /\d+ bytes/);
    const junk = await send(`${srv.url}/`, 'POST', Buffer.from('{"inputs": ['));
    assert.match(junk.code, /^MP_ERR_WIRE_/);
    assertGraphPipeText(junk, 400, junk.code, /\S/);
    assertGraphPipeText(await send(`${srv.url}/`, 'POST', gpBody(-1)), 500, 'MP_ERR_MODEL_RUNTIME', /deliberate model failure/);
    assertGraphPipeText(await send(`${srv.url}/boom`, 'POST', Buffer.alloc(4)), 500, 'MP_ERR_INTERNAL', /^boom from a route\n$/);
  });

  test('GraphPipe: a client that asks for flatbuffer errors gets an InferResponse carrying the numeric code', async () => {
    const accept = { accept: 'application/octet-stream' };
    const big = await send(`${srv.url}/`, 'POST', Buffer.alloc(BODY_LIMIT * 2, 7), accept);
    assert.equal(big.status, 413);
    assert.equal(big.type, 'application/octet-stream');
    assert.equal(decodeInferResponse(big.body).errors[0]?.code, 210); // MP_ERR_BODY_TOO_LARGE
    const boom = await send(`${srv.url}/boom`, 'POST', Buffer.alloc(4), accept);
    assert.equal(boom.type, 'application/octet-stream');
    assert.deepEqual(decodeInferResponse(boom.body).errors, [{ code: 404, message: 'boom from a route' }]); // MP_ERR_INTERNAL
  });

  test('GraphPipe GETs (metadata, JSON) fail as JSON with the code in the body too', async () => {
    const a = await send(`${srv.url}/boom`, 'GET');
    assert.equal(a.status, 500);
    assert.equal(a.type, 'application/json');
    assert.deepEqual(JSON.parse(a.body.toString()), { error: 'boom from a route', code: 'MP_ERR_INTERNAL' });
    const unknown = await send(`${srv.url}/models/nope`, 'GET');
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body.toString()).code, 'MP_ERR_UNKNOWN_MODEL');
  });
});
