import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ModelpipeError, toModelpipeError } from '../../errors/index.js';
import type { RequestContext } from '../../server/frontend.js';
import { sendChunks, sendJSON } from '../../server/respond.js';
import { type ClassifyResult, type ClassyClient, type ClassyInput, predictions } from './client.js';
import { parseUpload } from './upload.js';
import { PLAYGROUND_HTML } from './web/page.js';

/**
 * The playground's HTTP routes (HttpServer `routes`, tried before GraphPipe):
 *   GET  /               the web page (self-contained: no CDN, no fonts, works offline)
 *   POST /classify       simple-ml-serving parity: `curl -F data=@x.jpg` → [["coffee mug", 0.85], …]
 *   POST /api/classify   the page's call: a `data` file or a `url` field → predictions + stage timings
 *   GET  /api/info       model metadata and the stage URLs, for the page's side panel
 */

export interface PlaygroundOptions {
  /** The stack's stages (downloader, preprocessor and model endpoints), owned by the caller. */
  readonly client: ClassyClient;
  readonly labels: readonly string[];
  readonly preset: string;
  /** Largest upload (default 20 MiB). */
  readonly uploadLimit?: number;
  /** Default number of classes answered (default 5). */
  readonly k?: number;
}

type Route = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<boolean>;

function sendError(res: ServerResponse, err: ModelpipeError): void {
  // Anything the caller got wrong (bad upload, unreachable URL, undecodable image) is a 4xx; our failures stay 5xx.
  sendJSON(res, err.status, { error: { code: err.code, message: err.message } });
}

function kFrom(req: IncomingMessage, fallback: number): number {
  const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('k');
  const k = raw === null ? fallback : Number(raw);
  return Number.isInteger(k) && k >= 1 && k <= 100 ? k : fallback;
}

export function playgroundRoutes(opts: PlaygroundOptions): Route[] {
  const limit = opts.uploadLimit ?? 20 * 1024 * 1024;
  const k = opts.k ?? 5;
  let info: Promise<unknown> | undefined;

  const classifyUpload = async (req: IncomingMessage, ctx: RequestContext): Promise<{ result: ClassifyResult; totalMs: number }> => {
    const up = await parseUpload(req, limit);
    const input: ClassyInput = up.kind === 'file' ? { bytes: up.bytes, name: up.name } : { url: up.url };
    const t0 = performance.now();
    const result = await opts.client.classify([input], { signal: ctx.signal });
    return { result, totalMs: performance.now() - t0 };
  };

  const route: Route = async (req, res, ctx) => {
    const { path } = ctx;
    try {
      if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
        sendChunks(res, 200, 'text/html; charset=utf-8', [Buffer.from(PLAYGROUND_HTML)], {
          'cache-control': 'no-cache',
          // Everything is inline; nothing may load from elsewhere.
          'content-security-policy':
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob: data: http: https:; connect-src 'self'",
        });
        return true;
      }
      if (req.method === 'GET' && path === '/api/info') {
        info ??= opts.client.modelMetadata({ timeoutMs: 10_000 }).catch((err: unknown) => {
          info = undefined; // retry next time: the model server may still be starting
          throw err;
        });
        const md = await info;
        sendJSON(res, 200, { model: md, preset: opts.preset, classes: opts.labels.length, stages: opts.client.endpoints });
        return true;
      }
      if (req.method === 'POST' && path === '/classify') {
        const { result } = await classifyUpload(req, ctx);
        const preds = predictions(result.images[0] as NonNullable<(typeof result.images)[0]>, kFrom(req, k), opts.labels);
        sendJSON(
          res,
          200,
          preds.map((p) => [p.label, p.probability]),
        );
        return true;
      }
      if (req.method === 'POST' && path === '/api/classify') {
        const { result, totalMs } = await classifyUpload(req, ctx);
        const preds = predictions(result.images[0] as NonNullable<(typeof result.images)[0]>, kFrom(req, k), opts.labels);
        sendJSON(res, 200, { predictions: preds, timings: { ...result.timings, total: Math.round(totalMs * 100) / 100 } });
        return true;
      }
    } catch (err: unknown) {
      sendError(res, toModelpipeError(err));
      return true;
    }
    return false;
  };
  return [route];
}
