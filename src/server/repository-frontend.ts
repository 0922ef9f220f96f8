import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModelpipeError } from '../errors/index.js';
import type { ModelRepository } from '../repository/index.js';
import { readBody } from './body.js';
import { decodeSegment } from './path.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { sendOipError } from './oip-frontend.js';
import { sendJSON } from './respond.js';

const MODEL_OP = /^\/v2\/repository\/models\/([^/]+)\/(load|unload)\/?$/;

/**
 * The repository extension's explicit control: POST /v2/repository/index lists
 * every model with its state and reason; POST …/models/{name}/load (re)loads and
 * …/unload unloads, answering once the operation is done.
 */
export class RepositoryFrontend implements HttpFrontend {
  readonly name = 'oip-repository';

  constructor(private readonly repo: ModelRepository) {}

  claims(path: string): boolean {
    return path.startsWith('/v2/repository/');
  }

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    if (!this.claims(ctx.path) || req.method !== 'POST') return false;
    // The request body (optional parameters) is read and ignored, keeping the connection reusable.
    await readBody(req, 1 << 20);
    if (ctx.path === '/v2/repository/index' || ctx.path === '/v2/repository/index/') {
      sendJSON(res, 200, this.repo.index());
      return true;
    }
    const m = MODEL_OP.exec(ctx.path);
    if (!m) return false;
    const name = decodeSegment(m[1] as string, 'model name');
    if (m[2] === 'load') await this.repo.load(name);
    else await this.repo.unload(name);
    sendJSON(res, 200, {});
    return true;
  }

  /** The repository extension is part of the Open Inference Protocol: its errors are OIP's. */
  sendError(_req: IncomingMessage, res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void {
    sendOipError(res, e, ctx);
  }
}
