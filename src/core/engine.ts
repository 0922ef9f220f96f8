import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { Model, ModelMetadata } from '../models/model.js';
import { ModelScheduler, type SubmitOptions } from '../scheduling/scheduler.js';
import { DEFAULT_SCHEDULER, type SchedulerOptions } from '../scheduling/options.js';
import type { Tensor } from '../tensor/index.js';
import { Cancellation } from '../scheduling/cancel.js';
import type { Observed, Observer } from '../observe/fast-metrics.js';
import { Metrics } from '../observe/metrics.js';
import { tagRequest } from '../observe/tracing.js';
import { type ModelStatistics, fromSeconds } from './model-stats.js';
import type { InferCall, PreparedCall } from '../scheduling/call.js';
import { prepareCall } from './validate.js';
import type { ModelConfig } from '../config/index.js';

export interface InferOutcome {
  model: ModelMetadata;
  outputNames: string[];
  outputs: Tensor[];
  timings: { queueMs: number; computeMs: number; totalMs: number };
  /** Where the frontend records the time it spends encoding these outputs (the "encode" phase). */
  encode: Observer;
}

/** A hook that may answer some rows itself (the row cache) and runs the rest. */
export type RunThrough = (prepared: PreparedCall, run: (call: PreparedCall) => Promise<RunResult>) => Promise<RunResult>;

/** A request's outputs and phase timings (input and output preparation: absent when nothing ran, e.g. a cache hit). */
export interface RunResult {
  outputs: Tensor[];
  queueMs: number;
  inputMs?: number;
  computeMs: number;
  outputMs?: number;
}

/** How an entry is scheduled, plus its cache hook and how long its model took to load. */
export type EntryOptions = Partial<SchedulerOptions> & { runThrough?: RunThrough; loadSeconds?: number; config?: ModelConfig };

interface Served {
  /** The entry's own name (what aliases resolve to). */
  name: string;
  model: Model;
  scheduler: ModelScheduler;
  runThrough: RunThrough | undefined;
  /** The config it was added with (rendered by the model configuration extension). */
  config: ModelConfig | undefined;
  /** Metric children bound to this model's labels (label lookup per request is costly). */
  m: {
    decode: Observed;
    queue: Observed;
    input: Observed;
    compute: Observed;
    output: Observed;
    encode: Observed;
    total: Observed;
    /** Failed requests and their summed time (the statistics extension's "fail"). */
    failed: { count: number; ms: number };
    /** Requests accepted and not yet answered (read by the gauge at scrape time). */
    inFlight: number;
    ok: Map<string, { inc(): void }>;
  };
}

/**
 * The protocol-independent core. Frontends (GraphPipe, Open Inference Protocol REST
 * and gRPC) translate their wire format into an InferCall and call `infer`; the
 * engine validates against metadata, schedules (queue, batching, instances) and
 * keeps the metrics. Nothing protocol-specific lives here.
 */
export class Engine {
  readonly metrics: Metrics;
  private readonly models = new Map<string, Served>();
  /** Names that point at an entry (model versions, reload swaps); resolved when a request starts. */
  private readonly aliases = new Map<string, string>();
  defaultModel: string | undefined;
  private shuttingDown = false;

  constructor(opts: { metrics?: Metrics } = {}) {
    this.metrics = opts.metrics ?? new Metrics();
  }

  add(name: string, model: Model, opts: EntryOptions = {}): void {
    const sched = new ModelScheduler(model, name, { ...DEFAULT_SCHEDULER, ...opts }, this.metrics);
    const m = this.metrics;
    const served: Served = {
      name,
      model,
      scheduler: sched,
      runThrough: opts.runThrough,
      config: opts.config,
      m: {
        decode: m.latency.labels({ model: name, phase: 'decode' }),
        queue: m.latency.labels({ model: name, phase: 'queue' }),
        input: m.latency.labels({ model: name, phase: 'compute_input' }),
        compute: m.latency.labels({ model: name, phase: 'compute' }),
        output: m.latency.labels({ model: name, phase: 'compute_output' }),
        encode: m.latency.labels({ model: name, phase: 'encode' }),
        total: m.latency.labels({ model: name, phase: 'total' }),
        failed: { count: 0, ms: 0 },
        inFlight: 0,
        ok: new Map(),
      },
    };
    this.models.set(name, served);
    m.watch(name, { inFlight: () => served.m.inFlight, depth: () => sched.depth, stuck: () => sched.stuck });
    this.defaultModel ??= name;
    if (opts.loadSeconds !== undefined) this.metrics.loadTime.set({ model: name }, opts.loadSeconds);
  }

  async remove(name: string): Promise<void> {
    const s = this.models.get(name);
    if (!s) return;
    this.models.delete(name);
    this.metrics.unwatch(name);
    if (this.defaultModel === name) this.defaultModel = this.models.keys().next().value;
    await s.scheduler.drain();
    await s.model.close();
  }

  /** The scheduling options a model was added with (for logs and tests). */
  schedulerOptions(name: string): SchedulerOptions {
    return this.served(name).scheduler.options;
  }

  /** The model config an entry was added with, if it had one (the scheduler options say what runs). */
  modelConfig(name: string): ModelConfig | undefined {
    return this.served(name).config;
  }

  names(): string[] {
    return [...this.models.keys()];
  }

  has(name: string): boolean {
    return this.models.has(this.aliases.get(name) ?? name);
  }

  /**
   * Points `name` at the entry `target` (added: repository versions and reloads).
   * A request resolves the alias once, when it starts, so switching an alias never
   * moves a request that is already queued or running.
   */
  alias(name: string, target: string): void {
    this.aliases.set(name, target);
  }

  /** Removes an alias (added with alias()); entries are left alone. */
  unalias(name: string): void {
    this.aliases.delete(name);
  }

  /** The entry a name or alias stands for, when it is served (added with alias()). */
  resolve(name: string): string | undefined {
    const n = this.aliases.get(name) ?? name;
    return this.models.has(n) ? n : undefined;
  }

  private served(name: string | undefined): Served {
    const asked = name ?? this.defaultModel;
    const n = asked === undefined ? undefined : (this.aliases.get(asked) ?? asked);
    const s = n === undefined ? undefined : this.models.get(n);
    if (n === undefined || s === undefined)
      throw new ModelpipeError(
        'MP_ERR_UNKNOWN_MODEL',
        asked === undefined ? 'no model is being served' : `unknown model ${JSON.stringify(asked)}`,
      );
    return s;
  }

  metadata(name?: string): ModelMetadata {
    return this.served(name).model.metadata;
  }

  isReady(): boolean {
    return !this.shuttingDown && this.models.size > 0;
  }

  /** Whether a model takes requests: not while too many of its runs are stuck (see ModelScheduler). */
  isModelReady(name: string): boolean {
    return !this.shuttingDown && !this.served(name).scheduler.wedged;
  }

  /**
   * The statistics extension's numbers for an entry: request-level durations are the
   * sums and counts of its /metrics latency histograms, executions come from its scheduler.
   */
  statistics(name: string): ModelStatistics {
    const s = this.served(name);
    const x = s.scheduler.stats;
    return {
      lastInference: x.lastInference,
      inferenceCount: x.inferences,
      executionCount: x.executions,
      success: fromSeconds(s.m.total),
      fail: { count: s.m.failed.count, ns: Math.round(s.m.failed.ms * 1e6) },
      queue: fromSeconds(s.m.queue),
      computeInput: fromSeconds(s.m.input),
      computeInfer: fromSeconds(s.m.compute),
      computeOutput: fromSeconds(s.m.output),
      batches: x.batches(),
    };
  }

  /** What the model configuration extension reports besides metadata: instances and device. */
  model(name: string): Pick<Model, 'instances' | 'batchable' | 'device'> {
    return this.served(name).model;
  }

  /** Runs of a model that outlived their timeout and have not settled. */
  stuckRuns(name: string): number {
    return this.served(name).scheduler.stuck;
  }

  /**
   * Counts a failed inference request once, by its stable code, and returns it as a
   * ModelpipeError. The engine calls it for what fails inside `infer`; frontends call
   * it (through server/phases.ts) for what fails before, while decoding. The model
   * label is the served entry, or '' for a name that is not served, so clients
   * cannot grow the label set.
   */
  failed(name: string | undefined, protocol: string, err: unknown): ModelpipeError {
    const asked = name ?? this.defaultModel;
    return this.count(asked === undefined ? '' : (this.resolve(asked) ?? ''), protocol, err);
  }

  private count(entry: string, protocol: string, err: unknown): ModelpipeError {
    const e = toModelpipeError(err, 'MP_ERR_MODEL_RUNTIME');
    this.metrics.failures.inc({ model: entry, protocol, code: e.code });
    this.metrics.requests.inc({ model: entry, protocol, outcome: e.code });
    return e;
  }

  async infer(name: string | undefined, call: InferCall, protocol: string): Promise<InferOutcome> {
    const t0 = performance.now();
    let s: Served;
    try {
      s = this.served(name);
    } catch (err: unknown) {
      throw this.failed(name, protocol, err);
    }
    s.m.inFlight++;
    try {
      if (this.shuttingDown) throw new ModelpipeError('MP_ERR_SHUTTING_DOWN', 'server is shutting down');
      const prepared = prepareCall(s.model.metadata, call, s.model.exactMetadata !== false);
      if (call.trace?.span !== undefined) tagRequest(call.trace.span, s.name, s.model.metadata.version);
      // One object of one shape per request (conditional spreads here cost ~2 µs a call).
      const options: SubmitOptions = {
        cancel: call.cancel ?? (call.signal ? Cancellation.fromSignal(call.signal) : undefined),
        timeoutMs: call.timeoutMs,
        priority: call.priority ?? 0,
        transferable: call.transferable ?? false,
        trace: call.trace,
      };
      const run = (c: PreparedCall) => s.scheduler.submit(c, options);
      const r = s.runThrough ? await s.runThrough(prepared, run) : await run(prepared);
      const totalMs = performance.now() - t0;
      if (call.decodeMs !== undefined) s.m.decode.observe(call.decodeMs / 1000);
      s.m.queue.observe(r.queueMs / 1000);
      s.m.input.observe((r.inputMs ?? 0) / 1000);
      s.m.compute.observe(r.computeMs / 1000);
      s.m.output.observe((r.outputMs ?? 0) / 1000);
      s.m.total.observe(totalMs / 1000);
      let ok = s.m.ok.get(protocol);
      if (ok === undefined) {
        ok = this.metrics.requests.labels({ model: s.name, protocol, outcome: 'ok' });
        s.m.ok.set(protocol, ok);
      }
      ok.inc();
      call.trace?.span?.setAttribute('modelpipe.outcome', 'ok');
      return {
        model: s.model.metadata,
        outputNames: prepared.outputNames,
        outputs: r.outputs,
        timings: { queueMs: r.queueMs, computeMs: r.computeMs, totalMs },
        encode: s.m.encode,
      };
    } catch (err: unknown) {
      const e = this.count(s.name, protocol, err);
      s.m.failed.count++;
      s.m.failed.ms += performance.now() - t0;
      throw e;
    } finally {
      s.m.inFlight--;
    }
  }

  /** Stops taking requests, lets queued and running ones finish, closes the models. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.models.values()].map((s) => s.scheduler.drain()));
    await Promise.all([...this.models.values()].map((s) => s.model.close()));
  }
}
