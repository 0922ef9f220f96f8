import { ModelpipeError } from '../../errors/index.js';
import { MAX_RANK, MAX_STRING_ELEMENTS } from '../../tensor/index.js';

/**
 * A pass over a ModelInferRequest's protobuf bytes before the generated decoder sees
 * them. That decoder builds a JS object per repeated entry: an empty `inputs` entry
 * costs the sender 2 bytes and the server a ~300-byte object with its defaults, an
 * empty `bytes_contents` entry a ~100-byte Buffer view. Counting those entries first
 * (linear in the bytes, nothing allocated per entry) bounds what decoding may build.
 */

/** Entries of a `parameters` map one message may carry. */
export const MAX_PARAMETERS = 64;
/** Requested outputs a request may name (a request may name one twice). */
export const MAX_REQUESTED_OUTPUTS = 1024;

export interface InferRequestScan {
  modelName: string;
  modelVersion: string;
  inputs: number;
}

const utf8 = new TextDecoder();

function unreadable(why: string): never {
  throw new ModelpipeError('MP_ERR_BAD_REQUEST', `unreadable ModelInfer request: ${why}`);
}

function tooMany(what: string, n: number, max: number): never {
  throw new ModelpipeError('MP_ERR_WIRE_TOO_MANY', `ModelInfer request has more than ${max} ${what} (${n} seen)`);
}

/** Walks the fields of msg[start, end), calling `on(field, wire, dataStart, dataEnd)` for each. */
function fields(b: Uint8Array, start: number, end: number, on: (field: number, wire: number, at: number, to: number) => void): void {
  let at = start;
  while (at < end) {
    const key = varint(b, at, end);
    at = key.next;
    const field = Math.floor(key.value / 8);
    const wire = key.value % 8;
    let to: number;
    if (wire === 0) to = varint(b, at, end).next;
    else if (wire === 1) to = at + 8;
    else if (wire === 5) to = at + 4;
    else if (wire === 2) {
      const len = varint(b, at, end);
      at = len.next;
      to = at + len.value;
    } else unreadable(`wire type ${wire} at byte ${at}`);
    if (to > end) unreadable(`field ${field} runs past its message`);
    on(field, wire, at, to);
    at = to;
  }
}

function varint(b: Uint8Array, at: number, end: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    const byte = b[i] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: i + 1 };
    scale *= 128;
  }
  return unreadable(`bad varint at byte ${at}`);
}

/** Varints in a packed field's bytes (a count, not the values). */
function packedCount(b: Uint8Array, at: number, to: number): number {
  let n = 0;
  for (let i = at; i < to; i++) if ((b[i] as number) < 0x80) n++;
  return n;
}

/**
 * Checks the counts of a ModelInferRequest and returns its model name, version and
 * number of inputs. BYTES elements are counted across all inputs.
 */
export function scanInferRequest(msg: Uint8Array): InferRequestScan {
  const out: InferRequestScan = { modelName: '', modelVersion: '', inputs: 0 };
  let outputs = 0;
  let raw = 0;
  let params = 0;
  const strings = { n: 0 };
  fields(msg, 0, msg.length, (field, wire, at, to) => {
    if (wire !== 2) return;
    if (field === 1) out.modelName = utf8.decode(msg.subarray(at, Math.min(to, at + 1024)));
    else if (field === 2) out.modelVersion = utf8.decode(msg.subarray(at, Math.min(to, at + 1024)));
    else if (field === 4 && ++params > MAX_PARAMETERS) tooMany('parameters', params, MAX_PARAMETERS);
    else if (field === 5) {
      // Inputs are bounded by the model's count after the scan; this bound keeps the scan itself cheap.
      if (++out.inputs > MAX_REQUESTED_OUTPUTS) tooMany('inputs', out.inputs, MAX_REQUESTED_OUTPUTS);
      scanInput(msg, at, to, strings);
    } else if (field === 6) {
      if (++outputs > MAX_REQUESTED_OUTPUTS) tooMany('outputs', outputs, MAX_REQUESTED_OUTPUTS);
      let p = 0;
      fields(msg, at, to, (f) => {
        if (f === 2 && ++p > MAX_PARAMETERS) tooMany('parameters of an output', p, MAX_PARAMETERS);
      });
    } else if (field === 7 && ++raw > MAX_REQUESTED_OUTPUTS) tooMany('raw_input_contents', raw, MAX_REQUESTED_OUTPUTS);
  });
  return out;
}

function scanInput(msg: Uint8Array, start: number, end: number, strings: { n: number }): void {
  let dims = 0;
  let params = 0;
  fields(msg, start, end, (field, wire, at, to) => {
    if (field === 3) {
      dims += wire === 2 ? packedCount(msg, at, to) : 1;
      if (dims > MAX_RANK) tooMany('dimensions in a shape', dims, MAX_RANK);
    } else if (field === 4 && ++params > MAX_PARAMETERS) tooMany('parameters of an input', params, MAX_PARAMETERS);
    else if (field === 5 && wire === 2) {
      fields(msg, at, to, (f, w) => {
        if (f === 8 && w === 2 && ++strings.n > MAX_STRING_ELEMENTS) tooMany('BYTES elements', strings.n, MAX_STRING_ELEMENTS);
      });
    }
  });
}
