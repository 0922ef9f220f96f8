import { ModelpipeError } from '../errors/index.js';
import { Tensor, batchSignature, stackInputs, unstackNamed } from '../tensor/index.js';
import { tensorBytes } from './function-handler.js';
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
      const { inputs, rows } = stackInputs(dicts);
      const request: Record<string, Tensor> = {};
      for (const [n, t] of inputs) request[n] = adapt(n, t);
      let response: Record<string, Tensor>;
      try {
        response = await infer(request);
      } catch (e) {
        if (e instanceof ModelpipeError) throw e;
        throw new ModelpipeError('MP_ERR_REMOTE', `${o.modelId}: ${(e as Error).message}`, { cause: e });
      }
      const keep = o.outputs ?? Object.keys(response);
      const outputs = keep.map((name) => {
        const t = response[name];
        if (!(t instanceof Tensor)) throw new ModelpipeError('MP_ERR_UNKNOWN_OUTPUT', `${o.modelId}: response has no output ${name}`);
        return t;
      });
      const out = unstackNamed(keep, outputs, rows, 'MP_ERR_BAD_RESPONSE');
      return { predictions: out, modelId: o.modelId };
    },
    signature: batchSignature,
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
