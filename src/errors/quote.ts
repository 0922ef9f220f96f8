/**
 * Input quoted in an error message, bounded: messages travel back to the caller, into
 * logs and into HTTP reason phrases, and a request's names or values can be megabytes
 * long (a 1e6-dimension shape once produced a 3 MB message). Never recursive: a value
 * nested 200 000 deep is described by its kind, not serialized.
 */
export function quote(v: unknown, max = 64): string {
  if (typeof v === 'string') {
    const s = v.length > max ? `${v.slice(0, max)}…` : v;
    return `${JSON.stringify(s)}${v.length > max ? ` (${v.length} chars)` : ''}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${typeof v}`;
}

/** A name for a message, unquoted, cut to `max` characters. */
export function clip(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Longest message a ModelpipeError keeps; anything longer is cut, saying how much was. */
export const MAX_ERROR_MESSAGE = 1024;

export function clipMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE) return message;
  return `${message.slice(0, MAX_ERROR_MESSAGE)}… (${message.length - MAX_ERROR_MESSAGE} more chars)`;
}
