import { ModelpipeError } from '../../errors/index.js';
import { tensorToBinary } from './binary.js';
import { oipFromDtype } from './datatypes.js';
import { closeEnvelope, list, openEnvelope, optionalString, parameters, readTensorEntry } from './envelope.js';
import { tensorDataJSON } from './json-data.js';
import type { OipEncoded, OipInferResponse } from './messages.js';
import { paddedHeader } from './request.js';

/**
 * Encodes an inference response. Outputs for which `binary(name)` holds are sent as
 * binary data after the JSON header: numeric payloads are the output tensors' own
 * memory, handed to the socket as separate chunks without copying.
 */
export function encodeInferResponse(res: OipInferResponse, binary: (name: string) => boolean): OipEncoded {
  const payloads: Uint8Array[] = [];
  const outs = res.outputs.map(({ name, tensor }) => {
    const head = `{"name":${JSON.stringify(name)},"datatype":"${oipFromDtype(tensor.dtype)}","shape":${JSON.stringify(tensor.shape)}`;
    if (!binary(name)) return `${head},"data":${tensorDataJSON(tensor)}}`;
    const bytes = tensorToBinary(tensor);
    payloads.push(bytes);
    return `${head},"parameters":{"binary_data_size":${bytes.length}}}`;
  });
  const json = `{"model_name":${JSON.stringify(res.modelName)},"model_version":${JSON.stringify(res.modelVersion)}${
    res.id !== undefined ? `,"id":${JSON.stringify(res.id)}` : ''
  }${res.parameters ? `,"parameters":${JSON.stringify(res.parameters)}` : ''},"outputs":[${outs.join(',')}]}`;
  const header = paddedHeader(json, payloads.length > 0);
  if (payloads.length === 0) return { chunks: [header], headerLength: undefined, contentType: 'application/json' };
  return { chunks: [header, ...payloads], headerLength: header.length, contentType: 'application/octet-stream' };
}

/** Reads an inference response (client side); binary outputs are views into `body`. */
export function parseInferResponse(body: Uint8Array, headerLength: string | undefined): OipInferResponse {
  const env = openEnvelope(body, headerLength, 'inference response');
  const j = env.json;
  const outputs = list(j.outputs, '"outputs"', true).map((e) => {
    const r = readTensorEntry(e, env.binary, 'output');
    return { name: r.name, tensor: r.tensor };
  });
  closeEnvelope(env, 'inference response');
  const modelName = optionalString(j.model_name, '"model_name"');
  if (modelName === undefined) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', 'inference response has no model_name');
  const id = optionalString(j.id, '"id"');
  const p = parameters(j.parameters, 'inference response');
  return {
    modelName,
    modelVersion: optionalString(j.model_version, '"model_version"') ?? '',
    ...(id !== undefined ? { id } : {}),
    ...(p ? { parameters: p } : {}),
    outputs,
  };
}
