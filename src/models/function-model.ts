import type { TraceContext } from '../observe/tracing.js';
import { ModelpipeError } from '../errors/index.js';
import { type DType, type Nested, type Tensor, fromNested, isTensor, toNested } from '../tensor/index.js';
import { type Model, type ModelMetadata, type RunRequest, type TensorSpec, inferBatchable } from './model.js';

/** Context handed to a function model's apply. */
export interface ApplyContext {
  signal: AbortSignal;
  outputNames: readonly string[];
  /**
   * The run's trace context when traced. Calls made before the function's first await
   * continue it by themselves; a call made later continues it when given it: the
   * client option `{ trace: ctx.trace }`.
   */
  readonly trace: TraceContext | undefined;
}

export type ApplyInputs = Record<string, Tensor>;
export type ApplyResult = Record<string, Tensor | Nested> | Tensor | Nested | (Tensor | Nested)[];

/**
 * `apply(inputs, config, ctx)`: inputs by name. With `nested: true` the inputs are
 * nested JS arrays (`[[0,1],[2,3]]`) and outputs may be too, the way graphpipe-go's
 * gp.Serve introspects a Go function's types.
 */
export interface FunctionModelOptions {
  name: string;
  inputs: (Omit<TensorSpec, 'description'> & { description?: string })[];
  outputs: (Omit<TensorSpec, 'description'> & { description?: string })[];
  version?: string;
  description?: string;
  /** Pass nested arrays to apply instead of tensors. */
  nested?: boolean;
  /** Concurrent applies allowed (default 64: functions are usually async I/O). */
  instances?: number;
  /** Whether requests may be merged along dimension 0 (default: from the specs). */
  batchable?: boolean;
}

export type ApplyFn = (inputs: Record<string, Tensor | Nested>, config: string, ctx: ApplyContext) => ApplyResult | Promise<ApplyResult>;

export class FunctionModel implements Model {
  readonly metadata: ModelMetadata;
  readonly instances: number;
  readonly batchable: boolean;

  constructor(
    private readonly apply: ApplyFn,
    private readonly opts: FunctionModelOptions,
  ) {
    const spec = (s: FunctionModelOptions['inputs'][number]): TensorSpec => ({ ...s, description: s.description ?? '' });
    this.metadata = {
      name: opts.name,
      version: opts.version ?? '1',
      description: opts.description ?? '',
      server: 'modelpipe',
      inputs: opts.inputs.map(spec),
      outputs: opts.outputs.map(spec),
      defaultInputs: opts.inputs.map((s) => s.name),
      defaultOutputs: opts.outputs.map((s) => s.name),
    };
    this.instances = opts.instances ?? 64;
    this.batchable = opts.batchable ?? inferBatchable(this.metadata);
  }

  async run(req: RunRequest): Promise<Tensor[]> {
    const args: Record<string, Tensor | Nested> = {};
    for (const [k, t] of req.inputs) args[k] = this.opts.nested ? toNested(t) : t;
    let result: ApplyResult;
    try {
      result = await this.apply(args, req.config, new Context(req));
    } catch (err: unknown) {
      if (err instanceof ModelpipeError) throw err;
      throw new ModelpipeError(
        'MP_ERR_MODEL_RUNTIME',
        `model ${this.metadata.name} failed: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      );
    }
    return req.outputNames.map((name) => this.toTensor(pick(result, name, this.metadata.outputs), name));
  }

  private toTensor(v: Tensor | Nested, name: string): Tensor {
    if (isTensor(v)) return v;
    const spec = this.metadata.outputs.find((s) => s.name === name);
    const dtype: DType | undefined = spec?.dtype;
    return fromNested(v, dtype);
  }

  async close(): Promise<void> {}
}

/** Finds output `name` in whatever shape apply returned (map, single value or positional list). */
function pick(result: ApplyResult, name: string, outputs: readonly TensorSpec[]): Tensor | Nested {
  const idx = outputs.findIndex((s) => s.name === name);
  if (isTensor(result)) {
    if (idx === 0) return result;
  } else if (Array.isArray(result) && outputs.length > 1) {
    const v = result[idx];
    if (v !== undefined) return v as Tensor | Nested;
  } else if (Array.isArray(result) || typeof result !== 'object' || result instanceof Uint8Array) {
    if (idx === 0) return result as Nested;
  } else {
    const v = (result as Record<string, Tensor | Nested>)[name];
    if (v !== undefined) return v;
  }
  throw new ModelpipeError('MP_ERR_MODEL_OUTPUT', `model did not return output ${name}`);
}

/** apply's context; `signal` is made only if apply looks at it (a prototype getter). */
class Context implements ApplyContext {
  constructor(private readonly req: RunRequest) {}

  get outputNames(): readonly string[] {
    return this.req.outputNames;
  }

  get signal(): AbortSignal {
    return this.req.signal;
  }

  get trace(): TraceContext | undefined {
    return this.req.trace;
  }
}
