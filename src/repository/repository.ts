import type { Engine } from '../core/engine.js';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { Logger } from '../observe/logger.js';
import { silentLogger } from '../observe/logger.js';
import type { ModelDirectory, ModelState } from '../core/model-directory.js';
import { ModelSlots } from '../core/model-slot.js';
import { type ModelConfig, mergeConfig, toSchedulerOptions } from '../config/index.js';
import { selectVersions } from './config.js';
import { type ModelLoader, onnxLoader } from './loader.js';
import { clientReason } from './reason.js';
import { checkModelName, fingerprintOf, listModels, modelFile, readModel } from './scan.js';

export { onnxLoader, type ModelLoader };

export interface RepositoryOptions {
  dir: string;
  engine: Engine;
  loader?: ModelLoader;
  logger?: Logger;
  /** The config every model's config.json is merged over (the CLI's flags). */
  defaults?: ModelConfig;
}

export interface IndexEntry {
  name: string;
  version?: string;
  state: ModelState;
  reason: string;
}

interface VersionState {
  state: ModelState;
  reason: string;
  /** Engine entry serving it (READY only). */
  key?: string;
}

interface Served {
  versions: Map<string, VersionState>;
  fingerprint: string | undefined;
  /** Explicitly unloaded: polling leaves it alone until its files change. */
  unloaded: boolean;
}

/**
 * A directory of models served at once, each version its own engine entry
 * (`name@version#generation`, with its own workers and batcher) reached through
 * the aliases `name` (newest version) and `name@version`. Reloads go through core's
 * ModelSlots: register the new entries first, switch the aliases, then drain and
 * remove the old entries, so a request always finishes on the entry it started with
 * and none fails; a failure to close an old entry is logged and kept in `slots.failures`.
 */
export class ModelRepository implements ModelDirectory {
  private readonly models = new Map<string, Served>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly log: Logger;
  private readonly loader: ModelLoader;
  /** The entries behind the aliases (shared hot-swap mechanism, see core/model-slot.ts). */
  readonly slots: ModelSlots;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RepositoryOptions) {
    this.log = opts.logger ?? silentLogger;
    this.loader = opts.loader ?? onnxLoader;
    this.slots = new ModelSlots(opts.engine, this.log);
  }

  /** Loads every model in the directory; failures are recorded (not-ready), never thrown. */
  async loadAll(): Promise<void> {
    for (const name of listModels(this.opts.dir)) await this.load(name).catch(() => undefined);
  }

  /** One operation per model at a time: loads and unloads of a model queue behind each other. */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }

  /** Loads or reloads a model (the versions its policy selects); throws when no version could be loaded. */
  load(name: string): Promise<void> {
    checkModelName(name);
    return this.serial(name, () => this.doLoad(name));
  }

  private async doLoad(name: string): Promise<void> {
    const { dir } = this.opts;
    const old = this.models.get(name);
    const state: Served = { versions: new Map(), fingerprint: fingerprintOf(dir, name), unloaded: false };
    let disk: ReturnType<typeof readModel>;
    try {
      disk = readModel(dir, name, (msg) => this.log.warn({ model: name }, msg));
    } catch (err: unknown) {
      const e = toModelpipeError(err, 'MP_ERR_REPO_LOAD_FAILED');
      if (e.code === 'MP_ERR_REPO_UNKNOWN_MODEL' && !old) throw e;
      this.fail(name, old, state, e.message);
      throw new ModelpipeError(e.code, this.scrub(e.message));
    }
    const wanted = selectVersions(disk.versions, disk.config.version_policy);
    if (wanted.length === 0) {
      const links = disk.danglingVersions.map((v) => `; ${name}/${v}/model.onnx is a symbolic link that leads nowhere`).join('');
      const msg = `model ${name} has no version to serve (versions on disk: ${disk.versions.join(', ') || 'none'}${links})`;
      this.fail(name, old, state, msg);
      throw new ModelpipeError('MP_ERR_REPO_LOAD_FAILED', msg);
    }
    const errors: string[] = [];
    for (const v of wanted) {
      state.versions.set(v, { state: 'LOADING', reason: '' });
      const t0 = performance.now();
      try {
        const config = mergeConfig(this.opts.defaults ?? {}, disk.config);
        const model = await this.loader({ path: modelFile(dir, name, v), name, version: v, config });
        const loadSeconds = (performance.now() - t0) / 1000;
        const key = this.slots.add(`${name}@${v}`, model, { ...toSchedulerOptions(config, model.batchable), config, loadSeconds });
        state.versions.set(v, { state: 'READY', reason: '', key });
      } catch (err: unknown) {
        const msg = this.scrub(`failed to load ${name} version ${v}: ${toModelpipeError(err).message}`);
        errors.push(msg);
        const prev = old?.versions.get(v);
        // A failed reload keeps the previous load of that version serving.
        if (prev?.key) state.versions.set(v, { ...prev, reason: `reload failed, still serving the previous load: ${msg}` });
        else state.versions.set(v, { state: 'UNAVAILABLE', reason: msg });
        this.log.error({ model: name, version: v, err: msg }, 'model load failed');
      }
    }
    this.models.set(name, state);
    await this.switchAliases(name, old, state);
    if (![...state.versions.values()].some((s) => s.state === 'READY')) {
      throw new ModelpipeError('MP_ERR_REPO_LOAD_FAILED', errors.join('; '));
    }
    this.log.info({ model: name, versions: wanted }, `loaded ${name}`);
  }

  private fail(name: string, old: Served | undefined, state: Served, why: string): void {
    const reason = this.scrub(why);
    // Keep serving what was loaded before; record the reason.
    if (old && [...old.versions.values()].some((s) => s.key)) {
      for (const [v, s] of old.versions) state.versions.set(v, s.key ? { ...s, reason: `reload failed: ${reason}` } : s);
      state.fingerprint = state.fingerprint ?? old.fingerprint;
    } else state.versions.set('', { state: 'UNAVAILABLE', reason });
    this.models.set(name, state);
  }

  private scrub(msg: string): string {
    return clientReason(msg, this.opts.dir);
  }

  /** Points the aliases at the new entries, then drains and removes entries nothing points at. */
  private async switchAliases(name: string, old: Served | undefined, next: Served): Promise<void> {
    const ready = [...next.versions].filter(([, s]) => s.key).sort((a, b) => Number(b[0]) - Number(a[0]));
    const gone = [...(old?.versions.keys() ?? [])].filter((v) => !next.versions.get(v)?.key);
    this.slots.point([
      ...ready.map(([v, s]) => [`${name}@${v}`, s.key] as const),
      ...gone.map((v) => [`${name}@${v}`, undefined] as const),
      [name, ready[0]?.[1].key],
    ]);
    const keep = new Set(ready.map(([, s]) => s.key));
    await this.slots.retire([...(old?.versions.values() ?? [])].flatMap((s) => (s.key && !keep.has(s.key) ? [s.key] : [])));
  }

  /** Stops serving a model: aliases go first (new requests get 404), then entries drain. */
  unload(name: string): Promise<void> {
    checkModelName(name);
    return this.serial(name, async () => {
      const old = this.models.get(name);
      if (!old || ![...old.versions.values()].some((s) => s.key)) {
        if (!old && fingerprintOf(this.opts.dir, name) === undefined) {
          throw new ModelpipeError('MP_ERR_REPO_UNKNOWN_MODEL', `no model ${JSON.stringify(name)} in the repository`);
        }
      }
      const next: Served = {
        versions: new Map([['', { state: 'UNAVAILABLE', reason: 'unloaded' }]]),
        fingerprint: old?.fingerprint,
        unloaded: true,
      };
      this.models.set(name, next);
      await this.switchAliases(name, old, next);
      this.log.info({ model: name }, `unloaded ${name}`);
    });
  }

  /** Every model in the directory or loaded, one entry per version (a model that never loaded has none). */
  index(): IndexEntry[] {
    const names = new Set([...this.listed(), ...this.models.keys()]);
    const out: IndexEntry[] = [];
    for (const name of [...names].sort()) {
      const s = this.models.get(name);
      if (!s) {
        out.push({ name, state: 'UNAVAILABLE', reason: 'not loaded' });
        continue;
      }
      for (const [v, st] of s.versions) out.push({ name, ...(v ? { version: v } : {}), state: st.state, reason: st.reason });
    }
    return out;
  }

  status(name: string, version?: string): { state: ModelState; reason: string } | undefined {
    const s = this.models.get(name);
    if (!s) return undefined;
    if (version !== undefined) return s.versions.get(version);
    const all = [...s.versions.values()];
    return all.find((x) => x.state === 'READY') ?? all.find((x) => x.state === 'LOADING') ?? all[0];
  }

  versions(name: string): string[] {
    const s = this.models.get(name);
    return s ? [...s.versions].filter(([v, x]) => v && x.key).map(([v]) => v) : [];
  }

  /** Names of models with at least one version serving. */
  readyModels(): string[] {
    return [...this.models]
      .filter(([, s]) => [...s.versions.values()].some((x) => x.key))
      .map(([n]) => n)
      .sort();
  }

  /** Model directories on disk; none when the repository directory cannot be read (logged). */
  private listed(): string[] {
    try {
      return listModels(this.opts.dir);
    } catch (err: unknown) {
      this.log.error({ err: this.scrub(toModelpipeError(err).message) }, 'cannot read the repository directory');
      return [];
    }
  }

  /** Rescans every `seconds`: loads new or changed models, unloads removed ones. A scan still running skips a round. */
  poll(seconds: number): void {
    this.stopPolling();
    let scanning = false;
    this.timer = setInterval(() => {
      if (scanning) return;
      scanning = true;
      this.rescan()
        .catch((err: unknown) => this.log.error({ err: toModelpipeError(err).message }, 'poll: rescan failed'))
        .finally(() => {
          scanning = false;
        });
    }, seconds * 1000);
    this.timer.unref();
  }

  async rescan(): Promise<void> {
    let names: string[];
    try {
      names = listModels(this.opts.dir);
    } catch (err: unknown) {
      // A repository directory that vanished for a moment must not unload every model.
      this.log.error({ err: this.scrub(toModelpipeError(err).message) }, 'poll: cannot read the repository directory');
      return;
    }
    const onDisk = new Set(names);
    for (const name of onDisk) {
      const s = this.models.get(name);
      const fp = fingerprintOf(this.opts.dir, name);
      if (s && s.fingerprint === fp) continue;
      await this.load(name).catch((err: unknown) =>
        this.log.error({ model: name, err: toModelpipeError(err).message }, 'poll: load failed'),
      );
    }
    for (const [name, s] of this.models) {
      const report = (err: unknown) => this.log.error({ model: name, err: toModelpipeError(err).message }, 'poll: unload failed');
      if (!onDisk.has(name) && !s.unloaded) await this.unload(name).catch(report);
    }
  }

  stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
