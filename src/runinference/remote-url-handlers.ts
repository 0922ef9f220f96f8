import { metadata as graphPipeMetadata, multiRemoteRaw } from '../client/graphpipe-client.js';
import { infer as oipInfer, modelMetadata as oipMetadata } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import type { Tensor } from '../tensor/index.js';
import type { ModelHandler, RemoteInfer } from './handler.js';
import { type RemoteHandlerOptions, graphPipeHandler, openInferenceHandler } from './remote-handler.js';

/**
 * Remote handlers for a server URL, on modelpipe's own clients (src/client/): the
 * RemoteInfer of remote-handler.ts is a GraphPipe `multiRemoteRaw` or an Open Inference
 * Protocol `infer` call. load() fetches the model's metadata once, so a wrong URL or model
 * name fails the run at load instead of dead-lettering every batch.
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

const once = (fn: () => Promise<void>): (() => Promise<void>) => {
  let p: Promise<void> | undefined;
  return () => {
    p ??= fn();
    // A failed connect may be retried by a later load().
    p.catch(() => {
      p = undefined;
    });
    return p;
  };
};

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
  const timeout = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  const connect = once(async () => {
    const md = await graphPipeMetadata(url, timeout);
    outputNames ??= md.outputs.map((o) => o.name);
    if (outputNames.length === 0) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${url}: the model declares no outputs`);
  });
  const infer: RemoteInfer = async (inputs) => {
    await connect();
    const names = Object.keys(inputs);
    const wanted = outputNames as string[];
    const out = await multiRemoteRaw(
      url,
      names.map((n) => inputs[n] as Tensor),
      // "" is the default input: sending no names at all lets the server pick it.
      { ...timeout, outputNames: wanted, ...(names.every((n) => n === '') ? {} : { inputNames: names }) },
    );
    if (out.length !== wanted.length) {
      throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${url}: ${out.length} outputs for ${wanted.length} requested`);
    }
    return Object.fromEntries(wanted.map((n, i) => [n, out[i] as Tensor]));
  };
  return graphPipeHandler(infer, remoteOptions(options, options.modelId ?? url), { connect, defaultInput: () => '' });
}

/**
 * A model behind an Open Inference Protocol server: `http://` speaks REST with the binary
 * tensor extension, `grpc://` speaks gRPC with raw contents. OIP has no default input, so
 * bare-tensor examples need `inputName`, or a model with exactly one input (from metadata).
 */
export function openInferenceUrlHandler(url: string, options: OipUrlHandlerOptions): ModelHandler<Example, Prediction> {
  const { model, version } = options;
  let single: string | undefined;
  const call = {
    ...(version === undefined ? {} : { version }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  };
  const connect = once(async () => {
    const md = await oipMetadata(url, model, call);
    if (md.inputs.length === 1) single = md.inputs[0]?.name;
  });
  const infer: RemoteInfer = async (inputs) => {
    const res = await oipInfer(url, model, inputs, {
      ...call,
      binary: true,
      ...(options.outputs ? { outputs: [...options.outputs] } : {}),
    });
    return res.outputs;
  };
  const { model: _m, version: _v, ...rest } = options;
  const modelId = options.modelId ?? (version === undefined ? model : `${model}/${version}`);
  return openInferenceHandler(infer, remoteOptions(rest, modelId), { connect, defaultInput: () => single });
}
