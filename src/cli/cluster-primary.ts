import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../observe/logger.js';
import { type ClusterMessage, isClusterMessage } from './cluster-protocol.js';

/**
 * The primary of `serve --processes N`: it loads no model and serves nothing
 * itself. It forks N workers (each a whole server with its own model instances,
 * sharing the listen sockets through node:cluster), restarts one that dies with
 * back-off, answers their /metrics questions by merging every worker's metrics,
 * tells them when all of them are ready, and on SIGTERM/SIGINT drains them all.
 */

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;
/** A worker that lived this long before dying is restarted at the first delay again. */
const STABLE_MS = 10_000;
const COLLECT_TIMEOUT_MS = 3_000;

interface Slot {
  worker: Worker | undefined;
  ready: boolean;
  startedAt: number;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
}

export interface PrimaryOptions {
  processes: number;
  log: Logger;
  /** node flags for the workers (the heap flag main.ts would otherwise relaunch with). */
  execArgv: string[];
  /** The workers' --drain-timeout; past it plus a grace they are killed. */
  drainTimeoutMs: number;
  /** Called once, when every process is ready for the first time, with the URL they serve (--announce's moment). */
  onReady?: (url: string) => void;
  /** Awaited on stop before the workers are told to drain (leaving a registry first). */
  beforeDrain?: () => Promise<void>;
}

export class ClusterPrimary {
  private readonly slots: Slot[] = [];
  private readonly registry = new Registry();
  private readonly restarts = new Counter({
    name: 'modelpipe_process_restarts_total',
    help: 'Server processes restarted after they died',
    registers: [this.registry],
  });
  private everReady = false;
  private announced = false;
  private url = '';
  private clusterReady = false;
  private stopping = false;
  private exitCode = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { want: number; got: object[]; done: () => void }>();
  readonly exited: Promise<number>;
  private finish: (code: number) => void = () => {};

  constructor(private readonly o: PrimaryOptions) {
    new Gauge({ name: 'modelpipe_processes', help: 'Server processes configured (--processes)', registers: [this.registry] }).set(
      o.processes,
    );
    this.exited = new Promise((r) => {
      this.finish = r;
    });
    cluster.setupPrimary({ execArgv: o.execArgv });
    for (let i = 0; i < o.processes; i++) {
      const slot: Slot = { worker: undefined, ready: false, startedAt: 0, delayMs: FIRST_DELAY_MS, timer: undefined };
      this.slots.push(slot);
      this.fork(slot);
    }
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => this.stop(sig));
  }

  private fork(slot: Slot): void {
    slot.timer = undefined;
    if (this.stopping) return;
    const w = cluster.fork();
    slot.worker = w;
    slot.ready = false;
    slot.startedAt = Date.now();
    w.on('message', (m: unknown) => {
      if (isClusterMessage(m)) this.onMessage(slot, w, m);
    });
    w.once('exit', (code, signal) => this.onExit(slot, w, code, signal));
  }

  private onMessage(slot: Slot, w: Worker, m: ClusterMessage): void {
    if (m.mp === 'ready') {
      slot.ready = true;
      this.url = m.url ?? this.url;
      this.everReady = true;
      this.o.log.info({ pid: w.process.pid }, 'server process ready');
      this.updateReady();
    } else if (m.mp === 'metrics?') void this.answerMetrics(w, m.id);
    else if (m.mp === 'metrics') {
      const p = this.pending.get(m.id);
      if (p) {
        p.got.push(m.json as object);
        if (p.got.length >= p.want) p.done();
      }
    }
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== w) return;
    slot.worker = undefined;
    slot.ready = false;
    this.updateReady();
    if (this.stopping) {
      if (this.slots.every((s) => s.worker === undefined)) this.finish(this.exitCode);
      return;
    }
    if (!this.everReady) {
      // Every process fails the same way at start-up (a bad model, a busy port): restarting would only loop.
      this.o.log.error({ pid: w.process.pid, code, signal }, 'a server process failed before any was ready; stopping');
      this.stop('start-up failure', 1);
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.delayMs = lived >= STABLE_MS ? FIRST_DELAY_MS : Math.min(MAX_DELAY_MS, slot.delayMs * 2);
    this.restarts.inc();
    this.o.log.warn(
      { pid: w.process.pid, code, signal, restartInMs: slot.delayMs },
      `server process ${w.process.pid} died (${signal ?? `exit code ${code}`}); restarting it`,
    );
    slot.timer = setTimeout(() => this.fork(slot), slot.delayMs);
  }

  /** Tells every worker whether all of them are ready (each answers /health/ready from it). */
  private updateReady(): void {
    const ready = !this.stopping && this.slots.every((s) => s.ready);
    if (ready === this.clusterReady) return;
    this.clusterReady = ready;
    for (const s of this.slots) send(s.worker, { mp: 'cluster-ready', ready });
    if (ready && !this.announced) {
      this.announced = true;
      this.o.onReady?.(this.url);
    }
  }

  /** Collects every live worker's metrics (JSON), merges them with the primary's own, and answers `w`. */
  private async answerMetrics(w: Worker, id: number): Promise<void> {
    const live = this.slots.flatMap((s) => (s.worker?.isConnected() ? [s.worker] : []));
    const cid = this.nextId++;
    const got: object[] = [];
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, COLLECT_TIMEOUT_MS);
      this.pending.set(cid, {
        want: live.length,
        got,
        done: () => {
          clearTimeout(t);
          resolve();
        },
      });
      for (const x of live) send(x, { mp: 'collect', id: cid });
      if (live.length === 0) resolve();
    });
    this.pending.delete(cid);
    try {
      const merged = AggregatorRegistry.aggregate([...got, await this.registry.getMetricsAsJSON()]);
      send(w, { mp: 'metrics!', id, text: await merged.metrics(), contentType: merged.contentType });
    } catch (err: unknown) {
      send(w, { mp: 'metrics!', id, error: (err as Error).message });
    }
  }

  /** Drains every worker (each stops as on its own SIGTERM) and resolves `exited` once all are gone. */
  stop(reason: string, code = 0): void {
    if (this.stopping) return;
    this.stopping = true;
    this.updateReady();
    this.o.log.info({ reason, processes: this.slots.length }, 'stopping: draining every server process');
    this.exitCode = code;
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = undefined;
    }
    void (this.o.beforeDrain?.() ?? Promise.resolve()).then(
      () => this.drain(),
      () => this.drain(),
    );
  }

  private drain(): void {
    for (const s of this.slots) s.worker?.process.kill('SIGTERM');
    if (this.slots.every((s) => s.worker === undefined)) this.finish(this.exitCode);
    // Workers bound their own drain; this only catches one that hangs past it.
    const hard = setTimeout(() => {
      for (const s of this.slots) s.worker?.process.kill('SIGKILL');
    }, this.o.drainTimeoutMs + 10_000);
    hard.unref();
  }
}

function send(w: Worker | undefined, m: ClusterMessage): void {
  if (w?.isConnected()) w.send(m, (err: Error | null) => void err); // a worker that just died is no error here
}
