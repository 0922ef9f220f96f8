import { GraphPipeClient } from '../client/graphpipe-client.js';
import { OipClient } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import type { Tensor } from '../tensor/index.js';
import type { ModelHandler, RemoteInfer } from './handler.js';
import { type RemoteHandlerOptions, graphPipeHandler, openInferenceHandler } from './remote-handler.js';

/**
 * Remote handlers for a server URL, on modelpipe's client objects (src/client/): the
 * RemoteInfer of remote-handler.ts is a GraphPipeClient's inferManyRaw or an
 * OipClient's infer. The handler owns its client from load() to unload(): load()
 * makes it and fetches the model's metadata once, so a wrong URL or model name fails
 * the run at load instead of dead-lettering every batch; unload() closes it.
 */
export interface UrlHandlerOptions extends Omit<RemoteHandlerOptions, 'modelId'> {
  /** Model id reported in results (default: the URL for GraphPipe, "model[/version]" for OIP). */
  modelId?: string;
  /** Per-request timeout in ms (the clients' default is 60 s). */
  timeoutMs?: number;
}

export interface OipUrlHandlerOptions extends UrlHandlerOptions {
  /** The served model's name (OIP addresses models by name). */
  model: string;
  version?: string;
}

type Example = Tensor | Record<string, Tensor>;
type Prediction = Record<string, Tensor>;

/**
 * The client a handler holds: made on first use, connected once (a failed connect
 * may be retried by a later load()), closed and forgotten at unload.
 */
function clientSlot<C extends { close(): Promise<void> }>(make: () => C, connect: (c: C) => Promise<void>) {
  let client: C | undefined;
  let ready: Promise<void> | undefined;
  const current = (): C => {
    client ??= make();
    return client;
  };
  return {
    current,
    connect: (): Promise<void> => {
      if (!ready) {
        const p = connect(current());
        p.catch(() => {
          if (ready === p) ready = undefined;
        });
        ready = p;
      }
      return ready;
    },
    close: async (): Promise<void> => {
      const c = client;
      client = undefined;
      ready = undefined;
      await c?.close();
    },
  };
}

const remoteOptions = (o: UrlHandlerOptions, modelId: string): RemoteHandlerOptions => {
  const { timeoutMs: _t, ...rest } = o;
  return { ...rest, modelId };
};

/**
 * A model behind a GraphPipe server (`http://host:port`). Outputs are the `outputs` option
 * or, by default, every output the server's metadata lists (GraphPipe answers by position,
 * so the names must be known before the first request). Bare-tensor examples go to the
 * server's default input.
 */
export function graphPipeUrlHandler(url: string, options: UrlHandlerOptions = {}): ModelHandler<Example, Prediction> {
  let outputNames = options.outputs ? [...options.outputs] : undefined;
  const slot = clientSlot(
    () => new GraphPipeClient(url, { timeoutMs: options.timeoutMs }),
    async (client) => {
      const md = await client.metadata();
      outputNames ??= md.outputs.map((o) => o.name);
      if (outputNames.length === 0) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${url}: the model declares no outputs`);
    },
  );
  const infer: RemoteInfer = async (inputs) => {
    await slot.connect();
    const names = Object.keys(inputs);
    const wanted = outputNames as string[];
    const out = await slot.current().inferManyRaw(
      names.map((n) => inputs[n] as Tensor),
      // "" is the default input: sending no names at all lets the server pick it.
      { outputNames: wanted, ...(names.every((n) => n === '') ? {} : { inputNames: names }) },
    );
    if (out.length !== wanted.length) {
      throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${url}: ${out.length} outputs for ${wanted.length} requested`);
    }
    return Object.fromEntries(wanted.map((n, i) => [n, out[i] as Tensor]));
  };
  return graphPipeHandler(infer, remoteOptions(options, options.modelId ?? url), {
    connect: slot.connect,
    defaultInput: () => '',
    close: slot.close,
  });
}

/**
 * A model behind an Open Inference Protocol server: `http://` speaks REST with the binary
 * tensor extension, `grpc://` speaks gRPC with raw contents. OIP has no default input, so
 * bare-tensor examples need `inputName`, or a model with exactly one input (from metadata).
 */
export function openInferenceUrlHandler(url: string, options: OipUrlHandlerOptions): ModelHandler<Example, Prediction> {
  const { model, version } = options;
  let single: string | undefined;
  const call = version === undefined ? {} : { version };
  const slot = clientSlot(
    () => new OipClient(url, { timeoutMs: options.timeoutMs }),
    async (client) => {
      const md = await client.modelMetadata(model, call);
      if (md.inputs.length === 1) single = md.inputs[0]?.name;
    },
  );
  const infer: RemoteInfer = async (inputs) => {
    const res = await slot.current().infer(model, inputs, {
      ...call,
      binary: true,
      ...(options.outputs ? { outputs: [...options.outputs] } : {}),
    });
    return res.outputs;
  };
  const { model: _m, version: _v, ...rest } = options;
  const modelId = options.modelId ?? (version === undefined ? model : `${model}/${version}`);
  return openInferenceHandler(infer, remoteOptions(rest, modelId), {
    connect: slot.connect,
    defaultInput: () => single,
    close: slot.close,
  });
}
