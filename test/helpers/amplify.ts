/**
 * GraphPipe requests that cost the sender 4 bytes per element and a careless decoder
 * far more: an offset vector whose `n` entries all point at one shared target. Laid
 * out by hand (flatbuffers uoffsets point forward, so each vector precedes what its
 * entries share), because the official builder would take seconds for millions of
 * entries.
 *
 * - `tensors`: InferRequest.input_tensors holds `n` offsets to one float32 [1] tensor.
 * - `strings`: one string tensor of shape [n] whose `n` string_val offsets share "x".
 */
export function offsetFlood(kind: 'tensors' | 'strings', n: number): Uint8Array {
  const tensors = kind === 'tensors' ? n : 1;
  const V = 60; // the input_tensors vector
  const T = V + 4 + 4 * tensors; // the one tensor table
  const S = T + 16; // its shape vector
  const D = S + 12; // its data vector, or its string_val vector
  const X = D + 4 + 4 * n; // the shared string (strings only)
  const size = kind === 'tensors' ? D + 8 : X + 8;
  const m = new Uint8Array(size);
  const dv = new DataView(m.buffer);
  const u16s = (at: number, ...v: number[]) => {
    for (const [i, x] of v.entries()) dv.setUint16(at + 2 * i, x, true);
  };
  const u32 = (at: number, v: number) => dv.setUint32(at, v, true);
  u32(0, 12); // root → Request table
  u16s(4, 8, 12, 8, 4); // Request vtable: req_type at +8, req at +4
  u32(12, 12 - 4);
  u32(16, 36 - 16); // req → InferRequest table
  m[20] = 1; // req_type InferRequest
  u16s(24, 10, 12, 0, 0, 8); // InferRequest vtable: input_tensors at +8
  u32(36, 36 - 24);
  u32(44, V - 44);
  u16s(48, 12, 16, 12, 4, kind === 'tensors' ? 8 : 0, kind === 'tensors' ? 0 : 8); // Tensor vtable
  u32(V, tensors);
  for (let i = 0; i < tensors; i++) u32(V + 4 + 4 * i, T - (V + 4 + 4 * i));
  u32(T, T - 48);
  u32(T + 4, S - (T + 4));
  u32(T + 8, D - (T + 8));
  m[T + 12] = kind === 'tensors' ? 10 : 12; // Float32 or String
  u32(S, 1);
  dv.setBigInt64(S + 4, BigInt(kind === 'tensors' ? 1 : n), true);
  if (kind === 'tensors') {
    u32(D, 4);
    dv.setFloat32(D + 4, 1.5, true);
    return m;
  }
  u32(D, n);
  for (let i = 0; i < n; i++) u32(D + 4 + 4 * i, X - (D + 4 + 4 * i));
  u32(X, 1);
  m[X + 4] = 0x78;
  return m;
}
