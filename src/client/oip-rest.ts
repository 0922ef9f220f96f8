import { type ErrorCode, ERROR_CODES } from '../errors/index.js';
import {
  HEADER_LENGTH,
  type OipModelMetadata,
  type OipNamedTensor,
  encodeInferRequest,
  parseInferResponse,
} from '../protocol/oip/index.js';
import { RemoteError, retryAfterMs } from './errors.js';
import type { HttpAnswer, HttpBody, HttpTransport } from './http-transport.js';
import type { OipResult, OipServerMetadata, OipStatistics, OipWire, WireCall, WireInfer } from './oip-wire.js';
import { byName } from './oip-wire.js';
import type { ClientTarget } from './target.js';

/** The REST transport of the Open Inference Protocol: JSON, or the binary tensor extension. */
export class RestWire implements OipWire {
  constructor(
    private readonly target: ClientTarget,
    private readonly http: HttpTransport,
  ) {}

  async infer(model: string, inputs: readonly OipNamedTensor[], o: WireInfer): Promise<OipResult> {
    const requested = (name: string) =>
      o.classification === undefined ? { name } : { name, parameters: { classification: o.classification } };
    const enc = encodeInferRequest(
      { ...(o.id !== undefined ? { id: o.id } : {}), inputs: [...inputs], outputs: (o.outputs ?? []).map(requested) },
      { binary: o.binary, binaryOutputs: o.binary },
    );
    const headers: Record<string, string> = { 'content-type': enc.contentType };
    if (enc.headerLength !== undefined) headers[HEADER_LENGTH] = String(enc.headerLength);
    const res = this.ok(await this.send('POST', `${modelPath(model, o.version)}/infer`, o, { chunks: enc.chunks, headers }));
    try {
      const r = parseInferResponse(res.body, res.headers[HEADER_LENGTH] as string | undefined);
      return { modelName: r.modelName, modelVersion: r.modelVersion, id: r.id, outputs: byName(r.outputs) };
    } catch (err: unknown) {
      throw this.unreadable('inference response', err);
    }
  }

  modelMetadata(model: string, version: string | undefined, o: WireCall): Promise<OipModelMetadata> {
    return this.json<OipModelMetadata>(modelPath(model, version), o, 'metadata');
  }

  async health(what: 'live' | 'ready', o: WireCall): Promise<boolean> {
    return (await this.send('GET', `/v2/health/${what}`, o)).status === 200;
  }

  /** False for a model that is not ready; a RemoteError (404) for an unknown one. */
  async modelReady(model: string, version: string | undefined, o: WireCall): Promise<boolean> {
    const res = await this.send('GET', `${modelPath(model, version)}/ready`, o);
    if (res.status === 503) return false;
    this.ok(res);
    return true;
  }

  serverMetadata(o: WireCall): Promise<OipServerMetadata> {
    return this.json<OipServerMetadata>('/v2', o, 'server metadata');
  }

  modelStatistics(model: string | undefined, version: string | undefined, o: WireCall): Promise<OipStatistics> {
    return this.json<OipStatistics>(`${model === undefined ? '/v2/models' : modelPath(model, version)}/stats`, o, 'statistics');
  }

  modelConfig(model: string, version: string | undefined, o: WireCall): Promise<Record<string, unknown>> {
    return this.json<Record<string, unknown>>(`${modelPath(model, version)}/config`, o, 'configuration');
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private send(method: 'GET' | 'POST', path: string, o: WireCall, body?: HttpBody): Promise<HttpAnswer> {
    return this.http.send(this.target.href(path), method, o.security, body, o);
  }

  private async json<T>(path: string, o: WireCall, what: string): Promise<T> {
    const res = this.ok(await this.send('GET', path, o));
    try {
      return JSON.parse(new TextDecoder().decode(res.body)) as T;
    } catch (err: unknown) {
      throw this.unreadable(what, err);
    }
  }

  /** A non-2xx answer: {"error": message}, with our stable code in x-modelpipe-error when the server is modelpipe. */
  private ok(res: HttpAnswer): HttpAnswer {
    if (res.status >= 200 && res.status < 300) return res;
    const url = this.target.url;
    const sent = res.headers['x-modelpipe-error'];
    const code = typeof sent === 'string' && Object.hasOwn(ERROR_CODES, sent) ? (sent as ErrorCode) : 'MP_ERR_REMOTE';
    const text = new TextDecoder().decode(res.body.subarray(0, 2000)).trim();
    let message = text;
    try {
      const j = JSON.parse(text) as { error?: unknown };
      if (typeof j.error === 'string') message = j.error;
    } catch {
      // not JSON: keep the text
    }
    const retry = res.status === 429 ? retryAfterMs(res.headers['retry-after']) : undefined;
    throw new RemoteError(code, `${url}: ${message || `HTTP ${res.status}`}`, { url, status: res.status, retryAfterMs: retry });
  }

  private unreadable(what: string, err: unknown): RemoteError {
    const url = this.target.url;
    return new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable ${what}: ${(err as Error).message}`, { url, cause: err });
  }
}

function modelPath(model: string, version: string | undefined): string {
  return `/v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
}
