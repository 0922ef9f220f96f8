import { ModelpipeError } from '../errors/index.js';
import { Tensor, concat, split } from '../tensor/index.js';
import { tensorBytes, tensorSignature } from './function-handler.js';
import type { BatchResult, BatchingHints, ModelHandler, RemoteInfer } from './handler.js';

/**
 * Handlers for models served elsewhere. They stack a batch into one request per batch
 * (concat per input), call a RemoteInfer function, and split the outputs back per
 * example. The transport is a RemoteInfer function: remote-url-handlers.ts builds one
 * from modelpipe's GraphPipe and Open Inference Protocol clients for a server URL, and
 * tests or other transports may pass their own.
 *
 * Protocol differences handled here:
 * - GraphPipe: a bare-tensor example goes to the model's default input (name ""); bool
 *   has no GraphPipe type and travels as uint8; string tensors are allowed.
 * - Open Inference Protocol (KServe v2): every input needs a name (no default input),
 *   the model is addressed as name/version, and `null` tensors cannot be sent.
 */
export interface RemoteHandlerOptions {
  /** Model id reported in results, e.g. the served model name. */
  modelId: string;
  /** Input name for bare-tensor examples. */
  inputName?: string;
  /** Outputs to keep (default: all returned). */
  outputs?: readonly string[];
  batching?: BatchingHints;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
}

type Example = Tensor | Record<string, Tensor>;
type Prediction = Record<string, Tensor>;

/**
 * What a transport may add: `connect` runs once at load (e.g. fetching the server's
 * metadata, which fails fast when the server is unreachable), `defaultInput` is read
 * per batch so that it may come from that metadata, and `close` runs at unload (it
 * releases the transport's client; a later load() connects again).
 */
export interface RemoteHooks {
  connect?: () => Promise<void>;
  defaultInput: () => string | undefined;
  close?: () => Promise<void>;
}

function remote(
  infer: RemoteInfer,
  o: RemoteHandlerOptions,
  hooks: RemoteHooks,
  adapt: (name: string, t: Tensor) => Tensor,
): ModelHandler<Example, Prediction> {
  let loaded = false;
  return {
    modelId: o.modelId,
    batching: o.batching ?? {},
    concurrency: o.concurrency ?? 4,
    // Nothing to load locally: the server owns the model.
    load: async () => {
      await hooks.connect?.();
      loaded = true;
    },
    isLoaded: () => loaded,
    unload: async () => {
      loaded = false;
      await hooks.close?.();
    },
    async runBatch(examples): Promise<BatchResult<Prediction>> {
      const dicts = examples.map((x, i) => {
        if (!(x instanceof Tensor)) return x;
        const name = o.inputName ?? hooks.defaultInput();
        if (name === undefined) {
          throw new ModelpipeError(
            'MP_ERR_MISSING_INPUT',
            `${o.modelId}: example ${i} is a bare tensor; set inputName (the protocol has no default input)`,
          );
        }
        return { [name]: x };
      });
      const names = Object.keys(dicts[0] ?? {});
      const rows = dicts.map((d, i) => {
        const ks = Object.keys(d);
        if (ks.length !== names.length || ks.some((k) => !names.includes(k))) {
          throw new ModelpipeError(
            'MP_ERR_INPUT_COUNT',
            `${o.modelId}: example ${i} has inputs ${ks.join(',')}, expected ${names.join(',')}`,
          );
        }
        const t = d[names[0] as string] as Tensor;
        if (t.shape.length === 0)
          throw new ModelpipeError('MP_ERR_INPUT_RANK', `${o.modelId}: example ${i} is a scalar; need a batch dimension`);
        return t.shape[0] as number;
      });
      const request: Record<string, Tensor> = {};
      for (const n of names) request[n] = adapt(n, concat(dicts.map((d) => d[n] as Tensor)));
      let response: Record<string, Tensor>;
      try {
        response = await infer(request);
      } catch (e) {
        if (e instanceof ModelpipeError) throw e;
        throw new ModelpipeError('MP_ERR_REMOTE', `${o.modelId}: ${(e as Error).message}`, { cause: e });
      }
      const total = rows.reduce((a, b) => a + b, 0);
      const keep = o.outputs ?? Object.keys(response);
      const out: Prediction[] = dicts.map(() => ({}));
      for (const name of keep) {
        const t = response[name];
        if (!(t instanceof Tensor)) throw new ModelpipeError('MP_ERR_UNKNOWN_OUTPUT', `${o.modelId}: response has no output ${name}`);
        if (t.shape[0] !== total) {
          throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${o.modelId}: output ${name} has ${t.shape[0]} rows for ${total} input rows`);
        }
        split(t, rows).forEach((p, i) => {
          (out[i] as Prediction)[name] = p;
        });
      }
      return { predictions: out, modelId: o.modelId };
    },
    signature: tensorSignature,
    weight: tensorBytes,
    byteSize: () => 0,
  };
}

/** A model behind a GraphPipe server. */
export function graphPipeHandler(
  infer: RemoteInfer,
  options: RemoteHandlerOptions,
  hooks: RemoteHooks = { defaultInput: () => '' },
): ModelHandler<Example, Prediction> {
  return remote(infer, options, hooks, (_n, t) => (t.dtype === 'bool' ? new Tensor('uint8', t.shape, t.data) : t));
}

/** A model behind an Open Inference Protocol (KServe v2) server; modelId is "name/version" or "name". */
export function openInferenceHandler(
  infer: RemoteInfer,
  options: RemoteHandlerOptions,
  hooks: RemoteHooks = { defaultInput: () => undefined },
): ModelHandler<Example, Prediction> {
  return remote(infer, options, hooks, (n, t) => {
    if (t.dtype === 'null')
      throw new ModelpipeError('MP_ERR_INPUT_DTYPE', `${options.modelId}: input ${n} is a null tensor, which OIP cannot carry`);
    return t;
  });
}
