import type { IncomingMessage, ServerResponse } from 'node:http';
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
}

/**
 * A protocol frontend: translates its wire format to Engine calls and back. It
 * returns false when the request is not for it, so the server tries the next one.
 */
export interface HttpFrontend {
  readonly name: string;
  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean>;
}
