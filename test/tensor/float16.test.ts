import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/tensor/index.js';

test('float16: every 16-bit pattern round-trips through float32', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const f = float16BitsToFloat32(bits);
    const back = float32ToFloat16Bits(f);
    if (Number.isNaN(f)) assert.ok((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0, `NaN ${bits.toString(16)}`);
    else assert.equal(back, bits, `pattern 0x${bits.toString(16)} -> ${f} -> 0x${back.toString(16)}`);
  }
});

test('float16: rounds to nearest even, overflows to Inf, underflows to signed zero', () => {
  // 1 + 2^-11 is exactly halfway between 1 and the next float16: ties to even (1.0).
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00);
  // 1 + 3*2^-11 is halfway between odd and even mantissas: goes up to even.
  assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(float32ToFloat16Bits(65520), 0x7c00);
  assert.equal(float32ToFloat16Bits(65519), 0x7bff);
  assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000); // halfway to the smallest subnormal: ties to even (0)
  assert.equal(float32ToFloat16Bits(2 ** -25 * 1.5), 0x0001);
  assert.equal(float32ToFloat16Bits(-0), 0x8000);
  assert.equal(float32ToFloat16Bits(Number.NEGATIVE_INFINITY), 0xfc00);
  assert.equal(float16BitsToFloat32(0x0001), 2 ** -24);
});
