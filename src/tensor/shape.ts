import { ModelpipeError, quote } from '../errors/index.js';

export type Shape = readonly number[];

/** Ranks beyond this are rejected by every decoder: no model has them, and they cost work to check. */
export const MAX_RANK = 64;

/**
 * String elements one request may carry. Each is a view object (~100 bytes of heap)
 * that can cost the sender as little as a 4-byte offset to a shared string (16 M of
 * those took 12 s and gigabytes to decode), so decoders refuse more.
 */
export const MAX_STRING_ELEMENTS = 2 ** 20;

/** Largest element count we accept: keeps byte lengths below 2^53 for 8-byte types. */
export const MAX_ELEMENTS = 2 ** 50;

/** Checks a shape is an array of non-negative safe integers and returns its element count. */
export function shapeSize(shape: Shape, what = 'shape'): number {
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new ModelpipeError('MP_ERR_TENSOR_SHAPE', `${what}[${i}] = ${quote(d)} is not a non-negative integer`);
    }
  }
  // A zero dimension makes the tensor empty whatever the others are: [2^51, 0] is valid.
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > MAX_ELEMENTS) {
      throw new ModelpipeError('MP_ERR_TENSOR_SHAPE', `${what} ${formatShape(shape)} has more than 2^50 elements`);
    }
  }
  return n;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A shape for messages: ranks past MAX_RANK (refused anyway) are shown cut short. */
export function formatShape(shape: Shape): string {
  if (shape.length <= MAX_RANK) return `[${shape.join(', ')}]`;
  return `[${shape.slice(0, 8).join(', ')}, …] (rank ${shape.length})`;
}
