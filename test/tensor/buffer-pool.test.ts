import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferPool } from '../../src/tensor/index.js';

const KiB = 1024;

describe('BufferPool', () => {
  test('a given buffer comes back for the same size, and only once', () => {
    const pool = new BufferPool(4096 * KiB, 256 * KiB);
    const a = pool.take(300 * KiB);
    assert.equal(a.byteLength, 300 * KiB);
    assert.equal(pool.misses, 1);
    new Uint8Array(a)[0] = 42;
    pool.give(a);
    assert.equal(pool.pooledBytes, 300 * KiB);
    const b = pool.take(300 * KiB);
    assert.equal(b, a, 'the recycled buffer itself');
    assert.equal(new Uint8Array(b)[0], 42, 'recycled, not zeroed: callers overwrite it');
    assert.equal(pool.hits, 1);
    assert.equal(pool.pooledBytes, 0);
    assert.notEqual(pool.take(300 * KiB), a, 'taken buffers are not handed out twice');
  });

  test('sizes never mix', () => {
    const pool = new BufferPool(4096 * KiB, 256 * KiB);
    pool.give(new ArrayBuffer(512 * KiB));
    const c = pool.take(400 * KiB);
    assert.equal(c.byteLength, 400 * KiB);
    assert.equal(pool.hits, 0);
    assert.equal(pool.pooledBytes, 512 * KiB);
  });

  test('small buffers are not pooled', () => {
    const pool = new BufferPool(4096 * KiB, 256 * KiB);
    pool.give(new ArrayBuffer(1024));
    assert.equal(pool.pooledBytes, 0);
    pool.take(1024);
    assert.equal(pool.misses, 0, 'small takes are plain allocations, not counted');
  });

  test('beyond maxBytes the oldest buffers are evicted', () => {
    const pool = new BufferPool(1024 * KiB, 256 * KiB);
    const bufs = Array.from({ length: 5 }, () => new ArrayBuffer(300 * KiB));
    for (const b of bufs) pool.give(b);
    assert.equal(pool.pooledBytes, 900 * KiB);
    // The three newest remain, newest first out.
    assert.equal(pool.take(300 * KiB), bufs[4]);
    assert.equal(pool.take(300 * KiB), bufs[3]);
    assert.equal(pool.take(300 * KiB), bufs[2]);
    assert.equal(pool.hits, 3);
    assert.notEqual(pool.take(300 * KiB), bufs[1]);
  });

  test('reclaim detaches the buffer (old views read as empty) and pools its memory', () => {
    const pool = new BufferPool(4096 * KiB, 256 * KiB);
    const ab = new ArrayBuffer(300 * KiB);
    const view = new Float32Array(ab);
    view[1] = 7;
    pool.reclaim(ab);
    assert.equal(ab.byteLength, 0);
    assert.equal(view.length, 0, 'no live view can alias the recycled memory');
    const again = pool.take(300 * KiB);
    assert.equal(pool.hits, 1);
    assert.equal(new Float32Array(again)[1], 7, 'same memory, new handle');
  });
});
