import { toModelpipeError } from '../errors/index.js';
import type { Model } from '../models/model.js';
import type { Logger } from '../observe/logger.js';
import { silentLogger } from '../observe/logger.js';
import type { Engine, EntryOptions } from './engine.js';

/** An entry whose drain or close failed after it was retired (reported, never dropped). */
export interface RetireFailure {
  key: string;
  code: string;
  message: string;
}

/**
 * The one hot-swap mechanism: models behind names that can be replaced while requests
 * run. A new model becomes a fresh engine entry (`base#generation`, its own workers and
 * scheduler) that nothing reaches yet; `point` then switches the names (engine aliases)
 * to it in one synchronous step, so a request resolves either the old entry or the new
 * one, never half; `retire` drains the entries nothing points at any more (in-flight
 * work finishes on them) and closes them. A failure to drain or close is logged and
 * kept in `failures`, and never fails the swap that caused it: the new model serves.
 *
 * Used by the model repository (versions and reloads) and by RunInference's file-watch
 * reload (ModelSlot below), so both switch models the same way.
 */
export class ModelSlots {
  private generation = 0;
  /** Retire failures so far, oldest first (bounded: the last 100). */
  readonly failures: RetireFailure[] = [];

  constructor(
    readonly engine: Engine,
    private readonly log: Logger = silentLogger,
  ) {}

  /** Registers a model as a fresh entry nothing points at yet; returns its key. */
  add(base: string, model: Model, opts: EntryOptions = {}): string {
    const key = `${base}#${++this.generation}`;
    this.engine.add(key, model, opts);
    return key;
  }

  /** Points each name at an entry key (undefined: the name stops resolving). Synchronous, so atomic for requests. */
  point(names: Iterable<readonly [string, string | undefined]>): void {
    for (const [name, key] of names) {
      if (key === undefined) this.engine.unalias(name);
      else this.engine.alias(name, key);
    }
  }

  /** Drains and removes entries; resolves when all are gone, whatever failed (see `failures`). */
  async retire(keys: Iterable<string>): Promise<void> {
    await Promise.all(
      [...keys].map(async (key) => {
        try {
          await this.engine.remove(key);
        } catch (err: unknown) {
          const e = toModelpipeError(err, 'MP_ERR_MODEL_RUNTIME');
          this.failures.push({ key, code: e.code, message: e.message });
          if (this.failures.length > 100) this.failures.shift();
          this.log.error({ entry: key, code: e.code, err: e.message }, 'unloading a retired model failed');
        }
      }),
    );
  }
}

/**
 * One name with one model behind it at a time (RunInference's watched model file):
 * `swap` adds the new model, points the name at it and retires the old entry.
 */
export class ModelSlot<T = unknown> {
  private cur: { key: string; model: Model; tag: T } | undefined;

  constructor(
    private readonly slots: ModelSlots,
    readonly name: string,
    private readonly opts: EntryOptions = {},
  ) {}

  /** The entry serving now and the tag given with its model (e.g. a model id). */
  get current(): { readonly key: string; readonly model: Model; readonly tag: T } | undefined {
    return this.cur;
  }

  /** Makes `model` the one behind the name; in-flight work finishes on the previous one, which is then closed. */
  async swap(model: Model, tag: T): Promise<void> {
    const old = this.cur;
    const key = this.slots.add(this.name, model, this.opts);
    this.cur = { key, model, tag };
    this.slots.point([[this.name, key]]);
    if (old) await this.slots.retire([old.key]);
  }

  /** Stops serving the name and retires its entry. */
  async clear(): Promise<void> {
    const old = this.cur;
    this.cur = undefined;
    this.slots.point([[this.name, undefined]]);
    if (old) await this.slots.retire([old.key]);
  }
}
