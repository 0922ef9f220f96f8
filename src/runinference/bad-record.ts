import { ModelpipeError } from '../errors/index.js';
import { type ModelHandler, withPreprocess } from './handler.js';

/**
 * A record a source could not turn into a value (a line that is not JSON, a CSV row with
 * the wrong number of fields, a Redis entry delivered too often). Sources pass it on
 * instead of failing the run; the pipeline's first preprocessing step rejects it, so it
 * becomes a dead letter with its position and counts towards maxFailureRatio like any
 * other failed example.
 */
export class BadRecord {
  constructor(
    /** Where it came from: `file:line`, `stdin:line`, a Redis entry id, `POST n line m`. */
    readonly position: string,
    readonly error: ModelpipeError,
  ) {}

  static unparsable(position: string, what: string, e: unknown): BadRecord {
    return new BadRecord(position, new ModelpipeError('MP_ERR_SOURCE', `${position}: ${what}: ${(e as Error).message ?? String(e)}`));
  }
}

/** JSON.parse, or a BadRecord naming the position. */
export function parseRecord(text: string, position: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    return BadRecord.unparsable(position, 'invalid JSON', e);
  }
}

/** The handler with a first step that turns a BadRecord into its error (a dead letter). */
export function rejectBadRecords(h: ModelHandler<unknown, unknown>): ModelHandler<unknown, unknown> {
  return withPreprocess(h, (x: unknown) => {
    if (x instanceof BadRecord) throw x.error;
    return x;
  });
}
