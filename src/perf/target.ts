import { Agent } from 'undici';
import { metadata as graphpipeMetadata, multiRemoteRaw } from '../client/graphpipe-client.js';
import { closeGrpcClients, infer, modelMetadata } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import { dtypeFromOip } from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import type { InputSpec } from './inputs.js';
import type { Send } from './load.js';

export type Protocol = 'graphpipe' | 'rest' | 'rest-json' | 'grpc';
export const PROTOCOLS: readonly Protocol[] = ['graphpipe', 'rest', 'rest-json', 'grpc'];

/**
 * One model behind one server, spoken to with the project's own clients: GraphPipe
 * (URL is the model's endpoint), OIP REST with binary tensors or JSON, OIP gRPC.
 */
export interface Target {
  protocol: Protocol;
  url: string;
  /** The model's name as the server reports it. */
  model: string;
  inputs: InputSpec[];
  /** A sender for these tensors. */
  sender(tensors: readonly Tensor[]): Send;
  close(): Promise<void>;
}

export interface TargetOptions {
  protocol?: Protocol;
  model?: string;
  /** Sockets for HTTP protocols: at least the highest concurrency, so the pool never queues. */
  connections: number;
  timeoutMs: number;
}

/** grpc:// means gRPC; an HTTP URL with a model name means OIP REST; otherwise GraphPipe. */
export function protocolFor(url: string, model: string | undefined): Protocol {
  if (url.startsWith('grpc://') || url.startsWith('grpcs://')) return 'grpc';
  return model === undefined ? 'graphpipe' : 'rest';
}

export async function connectTarget(url: string, o: TargetOptions): Promise<Target> {
  const protocol = o.protocol ?? protocolFor(url, o.model);
  const dispatcher = new Agent({ connections: o.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const close = async () => {
    await dispatcher.close();
    if (protocol === 'grpc') closeGrpcClients();
  };
  const timeoutMs = o.timeoutMs;
  try {
    if (protocol === 'graphpipe') {
      const md = await graphpipeMetadata(url, { dispatcher, timeoutMs });
      const names = md.inputs.map((i) => i.name);
      return {
        protocol,
        url,
        model: md.name,
        inputs: md.inputs.map((i) => ({ name: i.name, dtype: i.type, shape: i.shape })),
        sender: (tensors) => async (signal) => {
          await multiRemoteRaw(url, tensors, { inputNames: names, dispatcher, timeoutMs, signal });
        },
        close,
      };
    }
    if (o.model === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--protocol ${protocol} needs --model NAME`);
    const model = o.model;
    const md = await modelMetadata(url, model, { timeoutMs });
    const binary = protocol !== 'rest-json';
    return {
      protocol,
      url,
      model: md.name,
      inputs: md.inputs.map((i) => ({ name: i.name, dtype: dtypeFromOip(i.datatype, `input ${i.name}`), shape: i.shape })),
      sender: (tensors) => {
        const named = md.inputs.map((i, k) => ({ name: i.name, tensor: tensors[k] as Tensor }));
        return async (signal) => {
          await infer(url, model, named, { binary, dispatcher, timeoutMs, signal });
        };
      },
      close,
    };
  } catch (err: unknown) {
    await close();
    throw err;
  }
}
