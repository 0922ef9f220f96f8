import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { methodCodec } from '../../src/protocol/oip/index.js';

test('methodCodec: a method GRPCInferenceService lacks is MP_ERR_OIP_NOT_FOUND, naming it', () => {
  assert.equal(typeof methodCodec('ModelInfer').requestSerialize, 'function');
  assert.throws(
    () => methodCodec('ModelTrain'),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_OIP_NOT_FOUND' && e.status === 404 && /"ModelTrain"/.test(e.message),
  );
});
