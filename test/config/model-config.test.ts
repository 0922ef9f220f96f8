import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ModelConfig,
  mergeConfig,
  parseModelConfig,
  parseModelConfigText,
  toSchedulerOptions,
  toStreamBatchOptions,
  UNLIMITED_QUEUE,
} from '../../src/config/index.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { configFromFlags, schedulerFromFlags } from '../../src/flags/scheduler-flags.js';
import { DEFAULT_SCHEDULER, type SchedulerOptions } from '../../src/scheduling/options.js';

/** Parses with a recording warn callback. */
function parse(json: unknown): { config: ModelConfig; warnings: string[] } {
  const warnings: string[] = [];
  return { config: parseModelConfig(json, { warn: (m) => warnings.push(m) }), warnings };
}

const on = (maxBatchSize: number, maxQueueDelayUs = 2000, preferredBatchSizes: number[] = []) => ({
  maxBatchSize,
  maxQueueDelayUs,
  preferredBatchSizes,
});
const sched = (o: Partial<SchedulerOptions>): SchedulerOptions => ({ ...DEFAULT_SCHEDULER, ...o });

describe('model config: Triton JSON in, scheduler options out', () => {
  const cases: [string, unknown, SchedulerOptions][] = [
    ['empty: defaults, batching on for a batchable model', {}, sched({ batching: on(16) })],
    ['max_batch_size 0 turns batching off', { max_batch_size: 0 }, sched({ batching: undefined })],
    [
      'full dynamic_batching',
      {
        max_batch_size: 32,
        dynamic_batching: {
          preferred_batch_size: [16, 32],
          max_queue_delay_microseconds: 5000,
          default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 2_000_000, max_queue_size: 10 },
        },
      },
      sched({ batching: on(32, 5000, [16, 32]), timeoutMs: 2000, maxQueueSize: 10 }),
    ],
    [
      '64-bit integers as strings (protobuf JSON)',
      { dynamic_batching: { max_queue_delay_microseconds: '100' } },
      sched({ batching: on(16, 100) }),
    ],
    [
      'max_queue_size 0 is no limit',
      { dynamic_batching: { default_queue_policy: { max_queue_size: 0 } } },
      sched({ batching: on(16), maxQueueSize: UNLIMITED_QUEUE }),
    ],
    [
      'a sub-millisecond timeout rounds up',
      { dynamic_batching: { default_queue_policy: { default_timeout_microseconds: 1 } } },
      sched({ batching: on(16), timeoutMs: 1 }),
    ],
    [
      'modelpipe fields',
      { modelpipe: { fanout: false, max_abandoned_runs: 3 } },
      sched({ batching: on(16), fanout: false, maxAbandonedRuns: 3 }),
    ],
  ];
  for (const [name, json, want] of cases) {
    it(name, () => {
      const { config, warnings } = parse(json);
      assert.deepEqual(toSchedulerOptions(config, true), want);
      assert.deepEqual(warnings, []);
    });
  }

  it('a model without a free batch dimension is not batched unless its config asks', () => {
    assert.equal(toSchedulerOptions({}, false).batching, undefined);
    assert.deepEqual(toSchedulerOptions({ dynamic_batching: {} }, false).batching, on(16));
  });

  it('Triton fields modelpipe does not act on load with one warning each', () => {
    const { config, warnings } = parse({
      name: 'm',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3], format: 'FORMAT_NONE' }],
      dynamic_batching: { priority_levels: 2 },
      optimization: { graph: { level: 1 } },
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
      version_policy: { specific: { versions: [1, '3'] } },
      parameters: { k: { string_value: 'v' } },
    });
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.match(warnings.join('\n'), /input\.0\.format .*ignored[\s\S]*dynamic_batching\.priority_levels[\s\S]*optimization/);
    assert.deepEqual(config.version_policy, { specific: { versions: ['1', '3'] } });
    assert.deepEqual(config.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [3] }]);
  });
});

describe('model config: each old spelling gives the same options and exactly one warning', () => {
  const cases: [string, unknown, ModelConfig][] = [
    [
      'scheduling: dynamic_batching.max_batch_size',
      { dynamic_batching: { max_batch_size: 8 } },
      { max_batch_size: 8, dynamic_batching: {} },
    ],
    [
      'scheduling: dynamic_batching.max_queue_delay_us',
      { dynamic_batching: { max_queue_delay_us: 700 } },
      { dynamic_batching: { max_queue_delay_microseconds: 700 } },
    ],
    [
      'scheduling: dynamic_batching.preferred_batch_sizes',
      { dynamic_batching: { preferred_batch_sizes: [4] } },
      { dynamic_batching: { preferred_batch_size: [4] } },
    ],
    ['scheduling: dynamic_batching false', { dynamic_batching: false }, { max_batch_size: 0 }],
    ['scheduling: max_queue_size', { max_queue_size: 5 }, { dynamic_batching: { default_queue_policy: { max_queue_size: 5 } } }],
    ['timeout_ms (ms)', { timeout_ms: 1500 }, { dynamic_batching: { default_queue_policy: { default_timeout_microseconds: 1_500_000 } } }],
    ['instances', { instances: 3 }, { instance_group: [{ count: 3 }] }],
    ['fanout', { fanout: false }, { modelpipe: { fanout: false } }],
    ['max_abandoned_runs', { max_abandoned_runs: 2 }, { modelpipe: { max_abandoned_runs: 2 } }],
    ['repository: batching {}', { batching: {} }, { dynamic_batching: {} }],
    ['repository: batching false', { batching: false }, { max_batch_size: 0 }],
    ['repository: batching.max_batch_size', { batching: { max_batch_size: 4 } }, { max_batch_size: 4, dynamic_batching: {} }],
    [
      'repository: batching.max_queue_delay_us',
      { batching: { max_queue_delay_us: 9 } },
      { dynamic_batching: { max_queue_delay_microseconds: 9 } },
    ],
    ['repository: max_queue', { max_queue: 7 }, { dynamic_batching: { default_queue_policy: { max_queue_size: 7 } } }],
    ['repository: device', { device: 'cuda' }, { instance_group: [{ kind: 'KIND_GPU' }] }],
    ['repository: inputs', { inputs: ['a', 'b'] }, { input: [{ name: 'a' }, { name: 'b' }] }],
    ['repository: description', { description: 'd' }, { modelpipe: { description: 'd' } }],
    ['repository: labels', { labels: ['x'] }, { modelpipe: { app: { labels: ['x'] } } }],
    ['repository: version_policy {latest: N}', { version_policy: { latest: 2 } }, { version_policy: { latest: { num_versions: 2 } } }],
    ['repository: version_policy {all: true}', { version_policy: { all: true } }, { version_policy: { all: {} } }],
    ['pipeline: batching.maxBatchSize', { batching: { maxBatchSize: 8 } }, { max_batch_size: 8, dynamic_batching: {} }],
    ['pipeline: batching.minBatchSize', { batching: { minBatchSize: 2 } }, { modelpipe: { min_batch_size: 2 }, dynamic_batching: {} }],
    ['pipeline: batching.maxWaitMs (ms)', { batching: { maxWaitMs: 20 } }, { dynamic_batching: { max_queue_delay_microseconds: 20_000 } }],
    [
      'pipeline: batching.maxBatchWeight',
      { batching: { maxBatchWeight: 100 } },
      { modelpipe: { max_batch_weight: 100 }, dynamic_batching: {} },
    ],
  ];
  for (const [name, json, want] of cases) {
    it(name, () => {
      const { config, warnings } = parse(json);
      assert.deepEqual(config, want);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0] as string, /deprecated: use /);
      assert.deepEqual(toSchedulerOptions(config, true), toSchedulerOptions(parse(want).config, true));
    });
  }

  it('an old spelling beside its new one is refused, not silently merged', () => {
    assert.throws(
      () => parseModelConfig({ max_queue: 3, dynamic_batching: { default_queue_policy: { max_queue_size: 4 } } }),
      /max_queue and/,
    );
  });
});

describe('model config: malformed fields fail with MP_ERR_BAD_CONFIG naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [[], /must be a JSON object/],
    [{ max_batch: 3 }, /unknown field "max_batch"/],
    [{ max_batch_size: -1 }, /max_batch_size must be an integer >= 0/],
    [{ max_batch_size: 1.5 }, /max_batch_size must be an integer/],
    [{ dynamic_batching: { preferred_batch_size: [0] } }, /dynamic_batching\.preferred_batch_size\.0 must be an integer >= 1/],
    [
      { dynamic_batching: { default_queue_policy: { timeout_action: 'DELAY' } } },
      /default_queue_policy\.timeout_action must be one of REJECT/,
    ],
    [
      { dynamic_batching: { default_queue_policy: { max_queue_sise: 1 } } },
      /unknown field "dynamic_batching\.default_queue_policy\.max_queue_sise"/,
    ],
    [{ instance_group: [{ count: 0 }] }, /instance_group\.0\.count must be an integer >= 1/],
    [{ instance_group: [{ kind: 'KIND_CPU' }, { kind: 'KIND_GPU' }] }, /instance_group must use one kind/],
    [{ input: [{ data_type: 'TYPE_FP32' }] }, /input\.0\.name is required/],
    [{ input: [{ name: 'x', data_type: 'FP32' }] }, /input\.0\.data_type must be one of/],
    [{ version_policy: { latest: {}, all: {} } }, /version_policy must hold exactly one/],
    [{ parameters: { k: 'v' } }, /parameters\.k must be an object/],
    [{ modelpipe: { fanout: 'no' } }, /modelpipe\.fanout must be true or false/],
    [{ modelpipe: { min_batch_size: 9 }, max_batch_size: 4 }, /modelpipe\.min_batch_size \(9\) must not exceed/],
    // an old spelling's bad value is reported under the name the user wrote
    [{ max_queue: -1 }, /max_queue \(now dynamic_batching\.default_queue_policy\.max_queue_size\) must be an integer/],
    [{ dynamic_batching: { max_batch_size: -1 } }, /dynamic_batching\.max_batch_size \(now max_batch_size\) must be/],
    [{ batching: { typo: 1 } }, /batching\.typo is not a field of batching/],
    [{ device: 'tpu' }, /device \(now instance_group\.0\.kind\) must be one of/],
  ];
  for (const [json, message] of cases) {
    it(`${JSON.stringify(json)} → ${message.source}`, () => {
      assert.throws(
        () => parseModelConfig(json, { where: 'f.json' }),
        (e: unknown) =>
          e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG' && message.test(e.message) && e.message.startsWith('f.json: '),
      );
    });
  }

  it('text that is not JSON, and the caller’s own error code', () => {
    assert.throws(
      () => parseModelConfigText('{', { code: 'MP_ERR_REPO_CONFIG' }),
      (e: unknown) => (e as ModelpipeError).code === 'MP_ERR_REPO_CONFIG',
    );
  });
});

describe('serve flags: a config overlay merged over the file, converted once', () => {
  const file = parseModelConfig({
    max_batch_size: 32,
    dynamic_batching: { max_queue_delay_microseconds: 5000, preferred_batch_size: [16, 32] },
  });

  it('flags override the file field by field', () => {
    assert.deepEqual(schedulerFromFlags({}, true, file).batching, on(32, 5000, [16, 32]));
    assert.deepEqual(schedulerFromFlags({ 'max-batch-size': '8' }, true, file).batching, on(8, 5000, [16, 32]));
    assert.equal(schedulerFromFlags({ 'no-batch': true }, true, file).batching, undefined);
    assert.equal(schedulerFromFlags({ 'max-queue': '3', timeout: '10' }, true, file).maxQueueSize, 3);
    assert.equal(schedulerFromFlags({ 'no-fanout': true }, true, file).fanout, false);
  });

  it('batching on or off: the file decides over the default, --batch over the file', () => {
    assert.equal(schedulerFromFlags({}, true, parseModelConfig({ dynamic_batching: false })).batching, undefined);
    assert.deepEqual(schedulerFromFlags({ batch: true }, true, { max_batch_size: 0 }).batching, on(16));
    assert.equal(schedulerFromFlags({}, false, {}).batching, undefined, 'off by default for fixed-batch models');
  });

  it('the overlay holds only what flags set', () => {
    assert.deepEqual(configFromFlags({}), {});
    assert.deepEqual(configFromFlags({ 'max-queue-delay-us': '10', timeout: '2' }), {
      dynamic_batching: { max_queue_delay_microseconds: 10, default_queue_policy: { default_timeout_microseconds: 2000 } },
    });
  });

  it('merging: objects field by field, instance groups group by group, lists whole', () => {
    const merged = mergeConfig(
      {
        instance_group: [{ count: 2, kind: 'KIND_GPU' }],
        dynamic_batching: { preferred_batch_size: [2, 4], max_queue_delay_microseconds: 1 },
      },
      { instance_group: [{ count: 3 }], dynamic_batching: { preferred_batch_size: [8] } },
    );
    assert.deepEqual(merged, {
      instance_group: [{ count: 3, kind: 'KIND_GPU' }],
      dynamic_batching: { preferred_batch_size: [8], max_queue_delay_microseconds: 1 },
    });
  });
});

describe('model config: the pulled stream reads the same schema', () => {
  it('max_batch_size, queue delay as max wait, modelpipe min size and weight', () => {
    const c = parseModelConfig({
      max_batch_size: 16,
      dynamic_batching: { max_queue_delay_microseconds: 2500 },
      modelpipe: { min_batch_size: 4, max_batch_weight: 1000 },
    });
    assert.deepEqual(toStreamBatchOptions(c), { maxBatchSize: 16, maxWaitMs: 2.5, minBatchSize: 4, maxBatchWeight: 1000 });
    assert.deepEqual(toStreamBatchOptions({}), {}, 'unset: the stream keeps its own defaults');
    assert.deepEqual(toStreamBatchOptions({ max_batch_size: 0 }), { maxBatchSize: 1 });
  });
});
