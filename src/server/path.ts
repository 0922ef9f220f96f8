import { ModelpipeError, quote } from '../errors/index.js';

/** A percent-encoded path segment, decoded; malformed encoding (`%zz`) is the caller's 400, not a URIError. */
export function decodeSegment(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${what} ${quote(s)} in the path is not valid percent-encoding`);
  }
}
