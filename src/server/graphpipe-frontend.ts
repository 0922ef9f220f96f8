import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { ModelMetadata } from '../models/model.js';
import {
  type DecodeLimits,
  type MetadataResponse,
  decodeRequest,
  encodeInferResponse,
  encodeInferResponseChunks,
  encodeMetadataResponse,
} from '../protocol/graphpipe/index.js';
import { readBody } from './body.js';
import { decodeSegment } from './path.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { errorHeaders, errorLogLevel, reasonPhrase, sendChunks, sendJSON } from './respond.js';

const FB = 'application/octet-stream';

/** GraphPipe's metadata message for a model. */
export function toGraphPipeMetadata(md: ModelMetadata): MetadataResponse {
  const io = (s: ModelMetadata['inputs'][number]) => ({
    name: s.name,
    description: s.description ?? '',
    shape: s.shape,
    type: s.dtype === 'bool' ? ('uint8' as const) : s.dtype,
  });
  return {
    name: md.name,
    version: md.version,
    server: md.server,
    description: md.description,
    inputs: md.inputs.map(io),
    outputs: md.outputs.map(io),
  };
}

/**
 * Which model a path addresses: `/models/{name}[/versions/{v}]` names one, any
 * other path is the default model (single-model GraphPipe clients post to `/`).
 */
export function modelFromPath(path: string): string | undefined {
  const m = /^\/models\/([^/]+)(?:\/versions\/([^/]+))?\/?$/.exec(path);
  if (!m) return undefined;
  const name = decodeSegment(m[1] as string, 'model name');
  return m[2] === undefined ? name : `${name}@${decodeSegment(m[2], 'model version')}`;
}

/**
 * GraphPipe over HTTP: POST a flatbuffer Request to any path (whatever the
 * Content-Type: real clients send none or a wrong one); GET returns metadata as JSON.
 */
export class GraphPipeFrontend implements HttpFrontend {
  readonly name = 'graphpipe';

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    if (req.method === 'GET' || req.method === 'HEAD') {
      try {
        const md = ctx.engine.metadata(modelFromPath(ctx.path));
        sendJSON(res, 200, { ...toGraphPipeMetadata(md), defaultInputs: md.defaultInputs, defaultOutputs: md.defaultOutputs });
      } catch (err: unknown) {
        const e = toModelpipeError(err);
        sendJSON(res, e.status, { error: e.message, code: e.code }, errorHeaders(e));
      }
      return true;
    }
    if (req.method !== 'POST') return false;
    try {
      const model = modelFromPath(ctx.path);
      const body = await readBody(req, ctx.bodyLimit);
      const msg = decodeRequest(body, decodeLimits(ctx, model));
      if (msg.type === 'metadata') {
        sendChunks(res, 200, FB, [encodeMetadataResponse(toGraphPipeMetadata(ctx.engine.metadata(model)))]);
        return true;
      }
      const out = await ctx.engine.infer(
        model,
        {
          inputNames: msg.inputNames,
          inputs: msg.inputs,
          outputNames: msg.outputNames,
          config: msg.config,
          cancel: ctx.cancel,
          transferable: true,
          timeoutMs: ctx.timeoutMs,
        },
        'graphpipe',
      );
      sendChunks(res, 200, FB, encodeInferResponseChunks({ outputs: out.outputs, errors: [] }), {
        'server-timing': `queue;dur=${out.timings.queueMs.toFixed(2)}, compute;dur=${out.timings.computeMs.toFixed(2)}`,
      });
    } catch (err: unknown) {
      sendGraphPipeError(res, toModelpipeError(err), ctx);
    }
    return true;
  }
}

/**
 * The addressed model's input count bounds what the decoder accepts, so a
 * request with more tensors than the model takes is refused before their tables are
 * read. An unknown model gets the defaults: the engine answers 404 right after.
 */
function decodeLimits(ctx: RequestContext, model: string | undefined): DecodeLimits {
  let md: ModelMetadata;
  try {
    md = ctx.engine.metadata(model);
  } catch {
    return {};
  }
  return { maxInputs: md.inputs.length };
}

/**
 * Errors per the GraphPipe spec: an InferResponse carrying `errors`, with an HTTP
 * status that matches (4xx caller, 5xx server, 503 not ready) and the message in
 * the reason phrase too, so every real client surfaces it.
 */
export function sendGraphPipeError(res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void {
  const level = errorLogLevel(e);
  ctx.log[level]({ reqId: ctx.id, code: e.code, err: e.message }, level === 'error' ? 'request failed' : 'request rejected');
  if (res.headersSent || res.destroyed) return;
  res.statusMessage = reasonPhrase(e);
  const headers = errorHeaders(e);
  if (e.code === 'MP_ERR_BODY_TOO_LARGE') headers.connection = 'close';
  sendChunks(res, e.status, FB, [encodeInferResponse({ outputs: [], errors: [{ code: e.numericCode, message: e.message }] })], headers);
}
