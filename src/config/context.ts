import { type ErrorCode, ModelpipeError } from '../errors/index.js';
import type { ConfigWarn } from './model-config.js';

/**
 * What a parse carries along: where the config came from (for messages), the error
 * code its user answers with, the warn callback, and for every field moved from an
 * old spelling the path the user wrote, so a bad value is reported under that name.
 */
export class ConfigContext {
  readonly origin = new Map<string, string>();

  constructor(
    readonly where: string,
    readonly code: ErrorCode,
    private readonly warnFn: ConfigWarn,
  ) {}

  /** The path as the user wrote it. */
  shown(path: string): string {
    return this.origin.get(path) ?? path;
  }

  fail(path: string, why: string): never {
    const at = path === '' ? '' : `${this.shown(path)} `;
    throw new ModelpipeError(this.code, `${this.where}: ${at}${why}`);
  }

  warn(message: string): void {
    this.warnFn(`${this.where}: ${message}`);
  }
}

export type Raw = Record<string, unknown>;

export const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export const join = (path: string, key: string | number): string => (path === '' ? String(key) : `${path}.${key}`);
