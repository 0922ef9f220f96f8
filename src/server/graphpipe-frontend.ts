import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModelpipeError } from '../errors/index.js';
import type { ModelMetadata } from '../models/model.js';
import {
  type DecodeLimits,
  type MetadataResponse,
  decodeRequest,
  encodeInferResponse,
  encodeInferResponseChunks,
  encodeMetadataResponse,
} from '../protocol/graphpipe/index.js';
import { endRequest, failSpan, requestTrace } from '../observe/tracing.js';
import { readBody } from './body.js';
import { decodeTimed, encodeTimed } from './phases.js';
import { decodeSegment } from './path.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { errorHeaders, logFailure, reasonPhrase, sendChunks, sendJSON } from './respond.js';

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

  /** The catch-all: single-model clients post to any path. */
  claims(_path: string): boolean {
    return true;
  }

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    if (req.method === 'GET' || req.method === 'HEAD') {
      const md = ctx.engine.metadata(modelFromPath(ctx.path));
      sendJSON(res, 200, { ...toGraphPipeMetadata(md), defaultInputs: md.defaultInputs, defaultOutputs: md.defaultOutputs });
      return true;
    }
    if (req.method !== 'POST') return false;
    const model = modelFromPath(ctx.path);
    const body = await readBody(req, ctx.bodyLimit);
    const { value: msg, decodeMs } = decodeTimed(ctx.engine, model, 'graphpipe', () => decodeRequest(body, decodeLimits(ctx, model)));
    if (msg.type === 'metadata') {
      sendChunks(res, 200, FB, [encodeMetadataResponse(toGraphPipeMetadata(ctx.engine.metadata(model)))]);
      return true;
    }
    const t = requestTrace(req.headers, 'graphpipe', body.length, ctx.startedAt);
    ctx.traced = true;
    try {
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
          decodeMs,
          trace: t,
        },
        'graphpipe',
      );
      const chunks = encodeTimed(
        out,
        t,
        () => encodeInferResponseChunks({ outputs: out.outputs, errors: [] }),
        (c) => c,
      );
      sendChunks(res, 200, FB, chunks, {
        'server-timing': `queue;dur=${out.timings.queueMs.toFixed(2)}, compute;dur=${out.timings.computeMs.toFixed(2)}`,
      });
    } catch (err: unknown) {
      failSpan(t?.span, err); // the request span fails with the error's code, and ends either way
      throw err;
    } finally {
      endRequest(t);
    }
    return true;
  }

  /** A GET (JSON metadata) fails as JSON `{error, code}`; a POST as sendGraphPipeError answers. */
  sendError(req: IncomingMessage, res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') sendGraphPipeError(res, e, ctx, req.headers.accept);
    else if (logFailure(res, e, ctx)) sendJSON(res, e.status, { error: e.message, code: e.code }, errorHeaders(e));
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
 * Whether the client asked for errors as a GraphPipe InferResponse: it names
 * application/octet-stream in Accept itself (modelpipe's client does), not by a wildcard.
 */
export function wantsFlatbufferErrors(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*application\/octet-stream\s*(;|,|$)/i.test(accept);
}

/**
 * Errors as the reference server (graphpipe-go) answers them by default: the message
 * as a text body, which its client prints; the stable code in `x-modelpipe-error`; the
 * code and message in the reason phrase too (graphpipe-py shows only the status line).
 * A client that asks for it (Accept: application/octet-stream) gets an InferResponse
 * carrying `errors`, per the GraphPipe spec. The status matches the error either way.
 */
export function sendGraphPipeError(res: ServerResponse, e: ModelpipeError, ctx: RequestContext, accept?: string): void {
  if (!logFailure(res, e, ctx)) return;
  res.statusMessage = reasonPhrase(e);
  const headers = errorHeaders(e);
  if (wantsFlatbufferErrors(accept)) {
    sendChunks(res, e.status, FB, [encodeInferResponse({ outputs: [], errors: [{ code: e.numericCode, message: e.message }] })], headers);
  } else {
    sendChunks(res, e.status, 'text/plain; charset=utf-8', [Buffer.from(`${e.message}\n`)], headers);
  }
}
