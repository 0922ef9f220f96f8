import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModelpipeError } from '../errors/index.js';
import type { Cancellation } from '../scheduling/cancel.js';
import type { Engine } from '../core/engine.js';
import type { Logger } from '../observe/logger.js';

/** What a protocol frontend gets for each HTTP request. */
export interface RequestContext {
  id: string;
  log: Logger;
  engine: Engine;
  /** Cancelled when the client disconnects before the response is complete. */
  cancel: Cancellation;
  /** The same as a standard AbortSignal (made on first use). */
  readonly signal: AbortSignal;
  bodyLimit: number;
  timeoutMs: number | undefined;
  path: string;
  /** When the server began the request (performance.now()): its request span starts there. */
  readonly startedAt: number;
  /** Set by a frontend once it made the request's trace; an error answered before that gets a failed request span of its own. */
  traced: boolean;
}

/**
 * A protocol frontend: translates its wire format to Engine calls and back. It
 * returns false when the request is not for it, so the server tries the next one.
 * It does not answer its own failures: what `handle` throws, the server answers
 * through this frontend's `sendError`, so every error on a route is written in
 * that route's protocol.
 */
export interface HttpFrontend {
  readonly name: string;
  /**
   * Whether the path belongs to this protocol. The server answers errors raised
   * before or outside any frontend (limits, tokens, the drain deadline, app routes)
   * with the first frontend that claims the path.
   */
  claims(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean>;
  /** Answers `e` in this protocol's format, with its status and the code in `x-modelpipe-error`. */
  sendError(req: IncomingMessage, res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void;
}
