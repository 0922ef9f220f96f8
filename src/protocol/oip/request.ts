import { ModelpipeError } from '../../errors/index.js';
import { tensorToBinary } from './binary.js';
import { oipFromDtype } from './datatypes.js';
import { closeEnvelope, entryName, list, openEnvelope, optionalString, parameters, readTensorEntry } from './envelope.js';
import { tensorDataJSON } from './json-data.js';
import type { OipEncoded, OipInferRequest, OipParameters } from './messages.js';

/** Binary sections start 64-byte aligned (the JSON header is padded with spaces) so the peer can view tensors in place. */
export const BINARY_ALIGN = 64;

/**
 * Reads an inference request body. `headerLength` is the Inference-Header-Content-Length
 * header, when present. Binary inputs are views into `body` (copied only when unaligned).
 */
export function parseInferRequest(
  body: Uint8Array,
  headerLength: string | undefined,
  limits: { maxInputs?: number } = {},
): OipInferRequest {
  const env = openEnvelope(body, headerLength, 'inference request');
  const j = env.json;
  const entries = list(j.inputs, '"inputs"', true);
  // More inputs than the model takes: refused before any tensor is built.
  if (limits.maxInputs !== undefined && entries.length > limits.maxInputs) {
    throw new ModelpipeError('MP_ERR_INPUT_COUNT', `request carries ${entries.length} inputs; the model takes ${limits.maxInputs} inputs`);
  }
  const inputs = entries.map((e) => {
    const r = readTensorEntry(e, env.binary, 'input');
    return { name: r.name, tensor: r.tensor, ...(r.parameters ? { parameters: r.parameters } : {}) };
  });
  closeEnvelope(env, 'inference request');
  const outputs = list(j.outputs, '"outputs"', false).map((e, i) => {
    const name = entryName(e, `outputs[${i}]`);
    const p = parameters((e as { parameters?: unknown }).parameters, `output ${name}`);
    return { name, ...(p ? { parameters: p } : {}) };
  });
  const id = optionalString(j.id, '"id"');
  const p = parameters(j.parameters, 'inference request');
  return { ...(id !== undefined ? { id } : {}), ...(p ? { parameters: p } : {}), inputs, outputs };
}

/** Whether an output should come back binary: its own binary_data, else the request's binary_data_output. */
export function wantsBinary(req: Pick<OipInferRequest, 'parameters' | 'outputs'>, name: string): boolean {
  const own = req.outputs.find((o) => o.name === name)?.parameters?.binary_data;
  if (own !== undefined) return own === true;
  return req.parameters?.binary_data_output === true;
}

/** Writes a JSON header padded with spaces so what follows starts aligned. */
export function paddedHeader(json: string, binaryFollows: boolean): Uint8Array {
  const bytes = Buffer.from(json);
  if (!binaryFollows || bytes.length % BINARY_ALIGN === 0) return bytes;
  const padded = Buffer.alloc(bytes.length + BINARY_ALIGN - (bytes.length % BINARY_ALIGN), 0x20);
  padded.set(bytes);
  return padded;
}

function paramsJSON(p: OipParameters | undefined, extra: OipParameters = {}): string {
  const all = { ...(p ?? {}), ...extra };
  return Object.keys(all).length > 0 ? `,"parameters":${JSON.stringify(all)}` : '';
}

/**
 * Encodes a request (client side). `binary` sends inputs as binary data; `binaryOutputs`
 * asks for binary outputs. Tensor payloads go out as their own memory, never copied.
 */
export function encodeInferRequest(req: OipInferRequest, opts: { binary: boolean; binaryOutputs: boolean }): OipEncoded {
  const payloads: Uint8Array[] = [];
  const inputs = req.inputs.map(({ name, tensor, parameters: p }) => {
    const head = `{"name":${JSON.stringify(name)},"datatype":"${oipFromDtype(tensor.dtype)}","shape":${JSON.stringify(tensor.shape)}`;
    if (!opts.binary) return `${head}${paramsJSON(p)},"data":${tensorDataJSON(tensor)}}`;
    const bytes = tensorToBinary(tensor);
    payloads.push(bytes);
    return `${head}${paramsJSON(p, { binary_data_size: bytes.length })}}`;
  });
  const outputs = req.outputs.map(
    (o) => `{"name":${JSON.stringify(o.name)}${paramsJSON(o.parameters, { binary_data: opts.binaryOutputs })}}`,
  );
  const top = { ...(req.parameters ?? {}), ...(req.outputs.length === 0 && opts.binaryOutputs ? { binary_data_output: true } : {}) };
  const fields: string[] = [];
  if (req.id !== undefined) fields.push(`"id":${JSON.stringify(req.id)}`);
  if (Object.keys(top).length > 0) fields.push(`"parameters":${JSON.stringify(top)}`);
  fields.push(`"inputs":[${inputs.join(',')}]`);
  if (outputs.length > 0) fields.push(`"outputs":[${outputs.join(',')}]`);
  const json = `{${fields.join(',')}}`;
  const header = paddedHeader(json, payloads.length > 0);
  if (payloads.length === 0) return { chunks: [header], headerLength: undefined, contentType: 'application/json' };
  return { chunks: [header, ...payloads], headerLength: header.length, contentType: 'application/octet-stream' };
}

/** Throws the 400 for a request with no inputs (the core would say "missing input", less clearly). */
export function requireInputs(req: OipInferRequest): void {
  if (req.inputs.length === 0) throw new ModelpipeError('MP_ERR_BAD_REQUEST', 'inference request has no inputs');
}
