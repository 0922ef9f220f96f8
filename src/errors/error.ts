import { ERROR_CODES, type ErrorCode } from './codes.js';
import { clipMessage } from './quote.js';

/**
 * The one error class of modelpipe. `code` is stable (see codes.ts); `status` is the
 * HTTP status a frontend answers with; `numericCode` is what GraphPipe carries.
 */
export class ModelpipeError extends Error {
  override readonly name = 'ModelpipeError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly numericCode: number;
  /** For remote errors: the URL that answered. */
  readonly url: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; url?: string; status?: number } = {}) {
    super(clipMessage(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.numericCode = ERROR_CODES[code].num;
    this.url = options.url;
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Wraps anything thrown into a ModelpipeError, keeping ours as they are. */
export function toModelpipeError(err: unknown, fallback: ErrorCode = 'MP_ERR_INTERNAL'): ModelpipeError {
  if (err instanceof ModelpipeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ModelpipeError(fallback, message, { cause: err });
}

export function isModelpipeError(err: unknown, code?: ErrorCode): err is ModelpipeError {
  return err instanceof ModelpipeError && (code === undefined || err.code === code);
}
