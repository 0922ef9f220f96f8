import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigFile, parseModelConfig, parsePbtxt } from '../../src/config/index.js';
import { Engine } from '../../src/core/engine.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { ModelRepository } from '../../src/repository/index.js';
import { modelConfig } from '../../src/server/oip-extensions.js';
import type { Tensor } from '../../src/tensor/index.js';

/** A config.pbtxt as Triton's documentation writes them. */
const PBTXT = `
# squeezenet, served by Triton before
name: "sq"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "data_0"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }
]
output {
  name: "softmaxout_1"
  data_type: TYPE_FP32
  dims: [ 1000, 1, 1 ]
}
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
  default_queue_policy: { timeout_action: REJECT, max_queue_size: 16 }
}
instance_group [ { count: 2, kind: KIND_CPU } ]
version_policy: { latest: { num_versions: 2 } }
parameters { key: "owner" value: { string_value: "vision \\"team\\"" } }
`;

const JSON_FORM = {
  name: 'sq',
  platform: 'onnxruntime_onnx',
  max_batch_size: 8,
  input: [{ name: 'data_0', data_type: 'TYPE_FP32', dims: [3, 224, 224] }],
  output: [{ name: 'softmaxout_1', data_type: 'TYPE_FP32', dims: [1000, 1, 1] }],
  dynamic_batching: {
    preferred_batch_size: [4, 8],
    max_queue_delay_microseconds: 100,
    default_queue_policy: { timeout_action: 'REJECT', max_queue_size: 16 },
  },
  instance_group: [{ count: 2, kind: 'KIND_CPU' }],
  version_policy: { latest: { num_versions: 2 } },
  parameters: { owner: { string_value: 'vision "team"' } },
};

describe('config.pbtxt (protobuf text format)', () => {
  it('reads as the same config as its JSON form (repeated fields as lists, the parameters map)', () => {
    assert.deepEqual(parsePbtxt(PBTXT, 'config.pbtxt'), JSON_FORM);
    assert.deepEqual(parseConfigFile(PBTXT, 'm/config.pbtxt'), parseModelConfig(JSON_FORM));
  });

  for (const [text, message] of [
    ['max_batch_size: 8 max_batch_size: 4', /field max_batch_size given twice/],
    ['input [ { name: "x" ', /unexpected end of file/],
    ['name: "x" ?', /unexpected character "\?"/],
    ['"x": 1', /expected a field name/],
    ['name: "\\q"', /unknown escape/],
    ['max_batch_size: -2', /max_batch_size must be an integer >= 0/],
  ] as const) {
    it(`${JSON.stringify(text)} fails: ${message.source}`, () => {
      assert.throws(
        () => parseConfigFile(text, 'm/config.pbtxt', { code: 'MP_ERR_REPO_CONFIG' }),
        (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_REPO_CONFIG' && message.test(e.message),
      );
    });
  }

  it('a repository model with a config.pbtxt loads with it, and /config answers it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelpipe-pbtxt-'));
    mkdirSync(join(dir, 'm', '1'), { recursive: true });
    writeFileSync(join(dir, 'm', '1', 'model.onnx'), ''); // the loader below never reads it
    writeFileSync(join(dir, 'm', 'config.pbtxt'), 'max_batch_size: 3\ndynamic_batching { max_queue_delay_microseconds: 700 }\n');
    const engine = new Engine();
    const loader = () =>
      Promise.resolve(
        new FunctionModel((i) => ({ y: i.x as Tensor }), {
          name: 'm',
          inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
          outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
          instances: 1,
        }),
      );
    const repo = new ModelRepository({ dir, engine, loader });
    try {
      await repo.load('m');
      const c = modelConfig(engine, engine.resolve('m') as string);
      assert.equal(c.max_batch_size, 3);
      assert.equal(c.dynamic_batching?.max_queue_delay_microseconds, 700);
      writeFileSync(join(dir, 'm', 'config.json'), '{}');
      await assert.rejects(repo.load('m'), /holds both config\.json and config\.pbtxt/);
    } finally {
      await engine.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
