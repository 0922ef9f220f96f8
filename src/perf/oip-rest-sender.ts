import { RemoteError } from '../client/errors.js';
import { modelPath, oipAnswerError } from '../client/oip-rest.js';
import { HEADER_LENGTH, type OipNamedTensor, encodeInferRequest, parseInferResponse } from '../protocol/oip/index.js';
import type { HttpLoad } from './http-load.js';
import type { Send } from './load.js';

/**
 * perf's OIP REST load path (binary tensors or JSON), on the same footing as the
 * GraphPipe one: the request encoded once, posted on perf's HTTP load, the answer
 * checked as OipClient checks it (2xx and a readable inference response).
 */
export function oipRestSend(load: HttpLoad, url: string, model: string, inputs: readonly OipNamedTensor[], binary: boolean): Send {
  const enc = encodeInferRequest({ inputs: [...inputs], outputs: [] }, { binary, binaryOutputs: binary });
  const headers: Record<string, string> = { 'content-type': enc.contentType };
  if (enc.headerLength !== undefined) headers[HEADER_LENGTH] = String(enc.headerLength);
  const base = new URL(url).pathname.replace(/\/+$/, '');
  const post = load.post(`${base}${modelPath(model, undefined)}/infer`, headers, Buffer.concat(enc.chunks));
  return async (signal) => {
    const res = await post(signal);
    if (res.status < 200 || res.status >= 300) throw oipAnswerError(url, res.status, res.body, res.headers['x-modelpipe-error']);
    try {
      parseInferResponse(res.body, res.headers[HEADER_LENGTH]);
    } catch (err: unknown) {
      throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable inference response: ${(err as Error).message}`, { url, cause: err });
    }
  };
}
