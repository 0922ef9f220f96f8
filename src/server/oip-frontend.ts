import type { IncomingMessage, ServerResponse } from 'node:http';
import { ModelpipeError, clip } from '../errors/index.js';
import { HEADER_LENGTH, encodeInferResponse, parseInferRequest, requireInputs, wantsBinary } from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { endRequest, failSpan, requestTrace } from '../observe/tracing.js';
import { readBody } from './body.js';
import { decodeTimed, encodeTimed } from './phases.js';
import { decodeSegment } from './path.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { type LabelSource, applyClassification } from './oip-classification.js';
import { modelConfig, modelStatistics } from './oip-extensions.js';
import type { ModelDirectory } from '../core/model-directory.js';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION, oipModelMetadata, resolveModel, versionsOf } from './oip-models.js';
import { errorHeaders, logFailure, sendChunks, sendJSON } from './respond.js';

const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer|\/stats|\/config)?\/?$/;

/**
 * The Open Inference Protocol (KServe v2) over HTTP: health, metadata and
 * inference under /v2, JSON or JSON plus binary tensor data. A thin translation:
 * the engine validates, schedules and runs; its errors map to {"error": message}
 * with their HTTP status.
 */
export class OipFrontend implements HttpFrontend {
  readonly name = 'oip';

  constructor(private readonly opts: { directory?: ModelDirectory; labels?: LabelSource } = {}) {}

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    if (!this.claims(ctx.path)) return false;
    await this.route(req, res, ctx, ctx.path);
    return true;
  }

  claims(path: string): boolean {
    return path === '/v2' || path.startsWith('/v2/');
  }

  sendError(_req: IncomingMessage, res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void {
    sendOipError(res, e, ctx);
  }

  private async route(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, path: string): Promise<void> {
    const get = req.method === 'GET' || req.method === 'HEAD';
    const engine = ctx.engine;
    if (get && (path === '/v2' || path === '/v2/')) {
      sendJSON(res, 200, { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS });
      return;
    }
    if (get && path === '/v2/health/live') return empty(res, 200);
    if (get && path === '/v2/health/ready') return empty(res, engine.isReady() ? 200 : 503);
    if (get && (path === '/v2/models/stats' || path === '/v2/models/stats/')) {
      sendJSON(res, 200, modelStatistics(engine, undefined, undefined, this.opts.directory));
      return;
    }
    const m = MODEL_PATH.exec(path);
    if (!m) throw notFound(`no such endpoint: ${req.method} ${clip(path, 200)}`);
    const name = decodeSegment(m[1] as string, 'model name');
    const version = m[2] === undefined ? undefined : decodeSegment(m[2], 'model version');
    const action = m[3];
    if (action === '/infer') {
      if (req.method !== 'POST') throw notFound(`${path} takes POST`, 405);
      await this.infer(req, res, ctx, name, version);
      return;
    }
    if (!get) throw notFound(`${path} takes GET`, 405);
    if (action === '/stats') {
      sendJSON(res, 200, modelStatistics(engine, name, version, this.opts.directory));
      return;
    }
    const key = resolveModel(engine, name, version, this.opts.directory);
    if (action === '/config') return sendJSON(res, 200, modelConfig(engine, key));
    if (action === '/ready') return empty(res, engine.isModelReady(key) ? 200 : 503);
    const versions = version === undefined ? versionsOf(engine, key, name, this.opts.directory) : [version];
    sendJSON(res, 200, oipModelMetadata(engine.metadata(key), versions));
  }

  private async infer(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    name: string,
    version: string | undefined,
  ): Promise<void> {
    const headerLength = req.headers[HEADER_LENGTH] as string | undefined;
    const body = await readBody(req, ctx.bodyLimit, Number(headerLength ?? 0) || 0);
    const { value, decodeMs } = decodeTimed(ctx.engine, name, 'oip-rest', () => {
      const key = resolveModel(ctx.engine, name, version, this.opts.directory);
      const parsed = parseInferRequest(body, headerLength, { maxInputs: ctx.engine.metadata(key).inputs.length });
      requireInputs(parsed);
      return { key, parsed };
    });
    const { key, parsed } = value;
    const t = requestTrace(req.headers, 'oip-rest', body.length, ctx.startedAt);
    ctx.traced = true;
    try {
      const out = await ctx.engine.infer(
        key,
        {
          inputNames: parsed.inputs.map((i) => i.name),
          inputs: parsed.inputs.map((i) => i.tensor),
          outputNames: parsed.outputs.map((o) => o.name),
          config: '',
          cancel: ctx.cancel,
          // The tensors are views into this request's own body buffer, or built from its JSON.
          transferable: true,
          timeoutMs: ctx.timeoutMs,
          decodeMs,
          trace: t,
        },
        'oip-rest',
      );
      const encode = () => {
        const tensors = applyClassification(
          out.outputNames,
          out.outputs as Tensor[],
          parsed.outputs,
          out.model.outputs,
          this.labelsOf(key),
        );
        return encodeInferResponse(
          {
            ...(parsed.id !== undefined ? { id: parsed.id } : {}),
            modelName: out.model.name,
            modelVersion: out.model.version,
            outputs: out.outputNames.map((n, i) => ({ name: n, tensor: tensors[i] as Tensor })),
          },
          (n) => wantsBinary(parsed, n),
        );
      };
      const enc = encodeTimed(out, t, encode, (e) => e.chunks);
      const extra = enc.headerLength === undefined ? {} : { 'inference-header-content-length': String(enc.headerLength) };
      sendChunks(res, 200, enc.contentType, enc.chunks, extra);
    } catch (err: unknown) {
      failSpan(t?.span, err); // the request span fails with the error's code, and ends either way
      throw err;
    } finally {
      endRequest(t);
    }
  }

  /** Only consulted when a requested output asks for classification. */
  private labelsOf(key: string): () => readonly string[] | undefined {
    return () => this.opts.labels?.(key);
  }
}

function empty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' });
  res.end();
}

function notFound(message: string, status = 404): ModelpipeError {
  return new ModelpipeError('MP_ERR_OIP_NOT_FOUND', message, { status });
}

/** `{"error": message}` with the error's status; the stable code rides in x-modelpipe-error. */
export function sendOipError(res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void {
  if (logFailure(res, e, ctx)) sendJSON(res, e.status, { error: e.message }, errorHeaders(e));
}
