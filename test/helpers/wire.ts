/**
 * Just enough flatbuffer navigation to find where a field lives inside a valid
 * message, so hostile variants can be made by mutating exact positions. These follow
 * the flatbuffers format by construction (root uoffset at 0; table → vtable by
 * signed offset; vtable entry 4 + 2·slot holds the field offset); the malformed
 * tests cross-check them against the official reader before trusting them.
 */
const dv = (m: Uint8Array) => new DataView(m.buffer, m.byteOffset, m.byteLength);

export const u16 = (m: Uint8Array, p: number) => dv(m).getUint16(p, true);
export const u32 = (m: Uint8Array, p: number) => dv(m).getUint32(p, true);
export const i32 = (m: Uint8Array, p: number) => dv(m).getInt32(p, true);
export const setU16 = (m: Uint8Array, p: number, v: number) => dv(m).setUint16(p, v, true);
export const setU32 = (m: Uint8Array, p: number, v: number) => dv(m).setUint32(p, v >>> 0, true);
export const setI32 = (m: Uint8Array, p: number, v: number) => dv(m).setInt32(p, v, true);
export const setI64 = (m: Uint8Array, p: number, v: bigint) => dv(m).setBigInt64(p, v, true);

/** Position of the root table. */
export const rootTable = (m: Uint8Array): number => u32(m, 0);

/** Position of a table's vtable. */
export const vtableOf = (m: Uint8Array, table: number): number => table - i32(m, table);

/** Position of the vtable entry for `slot` (a u16 holding the field's offset in the table). */
export const vtEntry = (m: Uint8Array, table: number, slot: number): number => vtableOf(m, table) + 4 + 2 * slot;

/** Position of a field's inline value, or throws if the field is absent. */
export function fieldPos(m: Uint8Array, table: number, slot: number): number {
  const vt = vtableOf(m, table);
  if (4 + 2 * slot >= u16(m, vt)) throw new Error(`slot ${slot} beyond vtable`);
  const off = u16(m, vt + 4 + 2 * slot);
  if (off === 0) throw new Error(`slot ${slot} absent`);
  return table + off;
}

/** Target of the uoffset stored at `pos`. */
export const deref = (m: Uint8Array, pos: number): number => pos + u32(m, pos);

/** Target of an offset field (a sub-table, vector or string). */
export const child = (m: Uint8Array, table: number, slot: number): number => deref(m, fieldPos(m, table, slot));

/** Target of element `i` of a vector of offsets at `vec`. */
export const element = (m: Uint8Array, vec: number, i: number): number => deref(m, vec + 4 + 4 * i);

/** Locations inside a request: the InferRequest table and its i-th input tensor table. */
export function inferRequestTable(m: Uint8Array): number {
  return child(m, rootTable(m), 1);
}
export function inputTensor(m: Uint8Array, i: number): number {
  return element(m, child(m, inferRequestTable(m), 2), i);
}

/** Slots of the Tensor table (graphpipe.fbs field order). */
export const TENSOR = { type: 0, shape: 1, data: 2, stringVal: 3 } as const;
