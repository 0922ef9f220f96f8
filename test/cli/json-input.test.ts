import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensorFromJSONText } from '../../src/cli/json-input.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { toFlat } from '../../src/tensor/index.js';

// The CLI's inline JSON (`--input`), parsed exactly: JSON.parse would round 2^53+1 and
// int64's extremes, and fromNested would wrap 300 into an int8 as 44.

test("integers are exact at every integer dtype's extremes", () => {
  const cases: [string, string, unknown[]][] = [
    ['[[9223372036854775807, -9223372036854775808, 9007199254740993]]', 'int64', [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n]],
    ['[18446744073709551615, 9007199254740993, 0]', 'uint64', [2n ** 64n - 1n, 2n ** 53n + 1n, 0n]],
    ['[-128, 127]', 'int8', [-128, 127]],
    ['[0, 255]', 'uint8', [0, 255]],
    ['[-32768, 32767]', 'int16', [-32768, 32767]],
    ['[0, 65535]', 'uint16', [0, 65535]],
    ['[-2147483648, 2147483647, 2.0, 1e3, -0, 0.0]', 'int32', [-2147483648, 2147483647, 2, 1000, 0, 0]],
    ['[0, 4294967295]', 'uint32', [0, 4294967295]],
    ['[[true, false, 1, 0]]', 'bool', [true, false, true, false]],
  ];
  for (const [text, dtype, want] of cases) {
    const t = tensorFromJSONText(text, dtype as never);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(toFlat(t), want, `${dtype} ${text}`);
  }
});

test('floats, nesting, strings with escapes', () => {
  const f = tensorFromJSONText(' [ [0.1, -2.5e-3] , [1E2, -0] ] ', 'float64');
  assert.deepEqual(f.shape, [2, 2]);
  assert.deepEqual(toFlat(f), [0.1, -0.0025, 100, -0]);
  assert.ok(Object.is(toFlat(f)[3], -0));
  assert.deepEqual(toFlat(tensorFromJSONText('[1.5, 65504]', 'float16')), [1.5, 65504]);
  const s = tensorFromJSONText('[["a\\u0000b", "\\"q\\"", "☃"]]', 'float32');
  assert.equal(s.dtype, 'string');
  assert.deepEqual(s.strings(), ['a\0b', '"q"', '☃']);
  assert.deepEqual(tensorFromJSONText('[[], []]', 'int64').shape, [2, 0]);
});

test('out of range, non-integers and bad JSON are refused with the element named', () => {
  const cases: [string, string, RegExp][] = [
    ['[[9223372036854775808]]', 'int64', /element \[0\]\[0\] is 9223372036854775808, out of int64's range/],
    ['[-9223372036854775809]', 'int64', /out of int64's range/],
    ['[18446744073709551616]', 'uint64', /out of uint64's range/],
    ['[-1]', 'uint64', /element \[0\] is -1, out of uint64's range \[0, 18446744073709551615\]/],
    ['[1, 300]', 'int8', /element \[1\] is 300, out of int8's range \[-128, 127\]/],
    ['[256]', 'uint8', /out of uint8's range/],
    ['[2]', 'bool', /out of bool's range/],
    ['[1.5]', 'int32', /element \[0\] is 1\.5, not an integer/],
    ['[1e-400]', 'int16', /not an integer/],
    ['[1, 2', 'float32', /expected , or \]/],
    ['[1] x', 'float32', /unexpected text/],
    ['[null]', 'float32', /not JSON at offset 1/],
    ['{"a": 1}', 'float32', /not JSON at offset 0/],
    ['["a\u0001"]', 'float32', /bad string/],
    [`${'['.repeat(100)}1${']'.repeat(100)}`, 'float32', /nested deeper than 64/],
  ];
  for (const [text, dtype, msg] of cases) {
    assert.throws(
      () => tensorFromJSONText(text, dtype as never),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_REQUEST' && msg.test(e.message),
      `${dtype} ${text}`,
    );
  }
  assert.throws(
    () => tensorFromJSONText('[[1, 2], [3]]', 'float32'),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TENSOR_RAGGED',
  );
});
