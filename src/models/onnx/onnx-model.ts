import { availableParallelism } from 'node:os';
import { basename, extname } from 'node:path';
import type { Tensor } from '../../tensor/index.js';
import { type Model, type ModelMetadata, type RunRequest, type TensorSpec, inferBatchable } from '../model.js';
import type { SessionSettings } from './worker-messages.js';
import { WorkerPool } from './worker-pool.js';

export interface OnnxModelOptions {
  /** Local path of the .onnx file (see source.ts for URLs). */
  path: string;
  name?: string;
  version?: string;
  description?: string;
  device?: 'cpu' | 'cuda';
  /** Worker threads, one session each (default 1). */
  instances?: number;
  /** onnxruntime intra-op threads per session (default: onnxruntime's own for one instance, else the CPUs shared out). */
  intraOpThreads?: number;
  interOpThreads?: number;
  /** onnxruntime thread-pool spin-waiting (default false: the event loop needs the CPU more). */
  spinning?: boolean;
  /**
   * CPU niceness of inference threads (default 19: the event loop comes first; 0 to disable).
   * Measured on 2 busy cores: /health/live p99 4.1–4.4 ms at 19 against 5.1–6.9 ms at 10, same rows/s.
   */
  nice?: number;
  /** Default inputs/outputs (default: the model's, in order). */
  inputs?: string[];
  outputs?: string[];
  /** GraphPipe-style value inputs: {name: [dtypeHint, shape]} pins or overrides input shapes. */
  valueInputs?: Record<string, [unknown, number[]]>;
  /** Free-form metadata carried in ModelMetadata.extra (a repository's app fields). */
  extra?: Record<string, unknown>;
}

/** An ONNX model served by onnxruntime-node sessions in worker threads. */
export class OnnxModel implements Model {
  readonly metadata: ModelMetadata;
  readonly instances: number;
  readonly batchable: boolean;
  readonly fanout = true;
  readonly loadMs: number;

  private constructor(
    private readonly pool: WorkerPool,
    md: ModelMetadata,
    readonly device: 'cpu' | 'cuda',
  ) {
    this.metadata = md;
    this.instances = pool.size;
    this.batchable = inferBatchable(md);
    this.loadMs = pool.info.loadMs;
  }

  static async load(opts: OnnxModelOptions): Promise<OnnxModel> {
    const settings: SessionSettings = {
      modelPath: opts.path,
      device: opts.device ?? 'cpu',
      spinning: opts.spinning ?? false,
      nice: opts.nice ?? 19,
    };
    const instances = Math.max(1, opts.instances ?? 1);
    // Several sessions each taking every CPU would oversubscribe the cores: share them out.
    const intra = opts.intraOpThreads ?? (instances > 1 ? Math.max(1, Math.floor(availableParallelism() / instances)) : undefined);
    if (intra !== undefined) settings.intraOpThreads = intra;
    if (opts.interOpThreads !== undefined) settings.interOpThreads = opts.interOpThreads;
    const pool = await WorkerPool.start(settings, instances);
    const toSpec = (s: { name: string; dtype: TensorSpec['dtype']; shape: number[] }): TensorSpec => ({ ...s, description: '' });
    const inputs = pool.info.inputs.map(toSpec);
    for (const [name, [, shape]] of Object.entries(opts.valueInputs ?? {})) {
      const spec = inputs.find((s) => s.name === name);
      if (spec) spec.shape = shape.map((d) => (d < 0 ? -1 : d));
    }
    const md: ModelMetadata = {
      name: opts.name ?? basename(opts.path, extname(opts.path)),
      version: opts.version ?? '1',
      description: opts.description ?? `ONNX model ${basename(opts.path)}`,
      server: 'modelpipe',
      inputs,
      outputs: pool.info.outputs.map(toSpec),
      defaultInputs: opts.inputs ?? inputs.map((s) => s.name),
      defaultOutputs: opts.outputs ?? pool.info.outputs.map((s) => s.name),
      ...(opts.extra ? { extra: opts.extra } : {}),
    };
    return new OnnxModel(pool, md, settings.device);
  }

  run(req: RunRequest): Promise<Tensor[]> {
    return this.pool.run(req.inputs, req.outputNames, req.transferable, req);
  }

  /** Terminates the worker of a run that outlived its timeout and starts a fresh one. */
  abandon(req: RunRequest): void {
    this.pool.abandon(req);
  }

  /** Workers replaced after abandoned runs (see WorkerPool.abandon). */
  get workersReplaced(): number {
    return this.pool.replaced;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
