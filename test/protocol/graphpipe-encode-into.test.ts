import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { encodeInferResponse, encodeInferResponseInto, encodeRequest, encodeRequestInto } from '../../src/protocol/graphpipe/index.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';

test('encoding into a caller-owned buffer gives the same bytes as a fresh encode', () => {
  const req = {
    type: 'infer' as const,
    config: 'c',
    inputNames: ['a', 's'],
    inputs: [fromNested([[1, 2]], 'float64'), Tensor.fromStrings(['x\0y'])],
    outputNames: ['o'],
  };
  const fresh = encodeRequest(req);
  const target = new Uint8Array(fresh.length + 10).fill(0xee);
  assert.equal(encodeRequestInto(req, target), fresh.length);
  assert.deepEqual(target.subarray(0, fresh.length), new Uint8Array(fresh));
  assert.equal(target[fresh.length], 0xee, 'nothing written past the message');
  const res = { outputs: [fromNested([[1n, 2n]], 'int64')], errors: [] };
  const r = encodeInferResponse(res);
  const t2 = new Uint8Array(r.length);
  assert.equal(encodeInferResponseInto(res, t2), r.length);
  assert.deepEqual(t2, new Uint8Array(r));
});

test('a target that is too small is refused with the size needed', () => {
  const req = { type: 'infer' as const, config: '', inputNames: [], inputs: [Tensor.zeros('float32', [100])], outputNames: [] };
  assert.throws(
    () => encodeRequestInto(req, new Uint8Array(16)),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_WIRE_TOO_LARGE' && /needs \d+ bytes, target has 16/.test(e.message),
  );
});
