import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { GrpcChannel } from '../../src/client/grpc-channel.js';
import { MAX_ERROR_MESSAGE } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { inferenceService } from '../../src/protocol/oip/index.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';

/**
 * gRPC messages whose entries cost the sender 2 bytes each and the generated decoder
 * an object each: counted before decoding, refused with INVALID_ARGUMENT and a code.
 */

const serialize = inferenceService().service.ModelInfer?.requestSerialize as (v: object) => Buffer;
const ENTRIES = 1 << 20; // 2 MiB of empty entries

/** A ModelInfer message for model "echo" followed by `n` empty entries of top-level field `field`. */
function flood(field: number, n: number): Buffer {
  const head = serialize({ model_name: 'echo' });
  const entry = Buffer.from([(field << 3) | 2, 0]);
  return Buffer.concat([head, Buffer.alloc(2 * n).fill(entry)]);
}

/** One BYTES input `x` of shape [n] whose contents hold `n` empty bytes_contents entries. */
function stringFlood(n: number): Buffer {
  const contents = Buffer.alloc(2 * n).fill(Buffer.from([(8 << 3) | 2, 0]));
  const dim = varintBytes(n);
  const input = Buffer.concat([
    Buffer.from([0x0a, 1, 0x78, 0x12, 5, ...Buffer.from('BYTES'), 0x1a, dim.length]),
    dim,
    Buffer.from([(5 << 3) | 2]),
    varintBytes(contents.length),
    contents,
  ]);
  return Buffer.concat([serialize({ model_name: 'echo' }), Buffer.from([(5 << 3) | 2]), varintBytes(input.length), input]);
}

function varintBytes(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return Buffer.from(out);
}

describe('gRPC ModelInfer: entry counts bounded before decoding', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let ch: GrpcChannel;
  before(async () => {
    srv = await serveModel(
      new FunctionModel(async (i) => ({ y: i.x as Tensor }), {
        name: 'echo',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
      }),
    );
    grpc = new OipGrpcServer({ engine: srv.engine });
    ch = new GrpcChannel(`127.0.0.1:${await grpc.listen(0)}`);
  });
  after(async () => {
    ch.close();
    await grpc.close();
    await srv.close();
  });

  const refused = async (msg: Buffer, code: string) => {
    const err = await ch
      .unary('/inference.GRPCInferenceService/ModelInfer', [msg], { timeoutMs: 20_000, maxReceiveBytes: 1 << 20 })
      .then(() => assert.fail('expected a failed call'))
      .catch((e: { code: number; details: string; metadata: Record<string, string> }) => e);
    assert.equal(err.code, status.INVALID_ARGUMENT, err.details);
    assert.equal(err.metadata['x-modelpipe-error'], code, err.details);
    assert.ok(err.details.length < MAX_ERROR_MESSAGE + 64);
  };

  test('1 M empty inputs, outputs, raw contents or parameters entries: MP_ERR_WIRE_TOO_MANY', async () => {
    for (const field of [4, 5, 6, 7]) await refused(flood(field, ENTRIES), 'MP_ERR_WIRE_TOO_MANY');
  });

  test('more inputs than the model takes: MP_ERR_INPUT_COUNT before decoding', async () => {
    await refused(flood(5, 3), 'MP_ERR_INPUT_COUNT');
  });

  test('1 M empty bytes_contents entries: MP_ERR_WIRE_TOO_MANY', async () => {
    await refused(stringFlood(2 * ENTRIES), 'MP_ERR_WIRE_TOO_MANY');
  });

  test('a 1e6-dimension shape: refused, with a short message', async () => {
    const msg = serialize({ model_name: 'echo', inputs: [{ name: 'x', datatype: 'FP32', shape: new Array(1_000_000).fill(1) }] });
    await refused(msg, 'MP_ERR_WIRE_TOO_MANY');
  });

  test('a valid call still succeeds', async () => {
    const msg = serialize({
      model_name: 'echo',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2], contents: { fp32_contents: [1, 2] } }],
    });
    const res = await ch.unary('/inference.GRPCInferenceService/ModelInfer', [msg], { timeoutMs: 20_000, maxReceiveBytes: 1 << 20 });
    assert.ok(res.length > 0);
  });
});
