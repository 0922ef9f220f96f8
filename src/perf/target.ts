import { GraphPipeClient } from '../client/graphpipe-client.js';
import { OipClient, type OipStatistics, type OipTransport } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import { dtypeFromOip } from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { graphPipeSend } from './graphpipe-sender.js';
import { type HttpClientKind, httpLoad } from './http-load.js';
import type { InputSpec } from './inputs.js';
import type { Send } from './load.js';
import { oipRestSend } from './oip-rest-sender.js';

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
  /** The model's counters from the statistics extension (a GraphPipe URL: its origin's /v2). */
  statistics(): Promise<OipStatistics>;
  /** Closes the target's clients. */
  close(): Promise<void>;
}

export interface TargetOptions {
  protocol?: Protocol;
  model?: string;
  /** Sockets for HTTP protocols: at least the highest concurrency, so the pool never queues. */
  connections: number;
  timeoutMs: number;
  /** HTTP loads (GraphPipe, OIP REST): perf's own sockets (default) or undici. */
  httpClient?: HttpClientKind;
}

/** grpc:// means gRPC; an HTTP URL with a model name means OIP REST; otherwise GraphPipe. */
export function protocolFor(url: string, model: string | undefined): Protocol {
  if (url.startsWith('grpc://') || url.startsWith('grpcs://')) return 'grpc';
  return model === undefined ? 'graphpipe' : 'rest';
}

const OIP_TRANSPORT: Record<Exclude<Protocol, 'graphpipe'>, OipTransport> = { rest: 'rest-binary', 'rest-json': 'rest', grpc: 'grpc' };

export async function connectTarget(url: string, o: TargetOptions): Promise<Target> {
  const protocol = o.protocol ?? protocolFor(url, o.model);
  const { connections, timeoutMs } = o;
  const httpClient = o.httpClient ?? 'socket';
  if (protocol === 'graphpipe') {
    const client = new GraphPipeClient(url, { connections, timeoutMs });
    // Statistics come from the same server's OIP routes, on a client made when first asked.
    let stats: OipClient | undefined;
    const load = httpLoad(httpClient, client.target.url, connections, timeoutMs);
    const close = async () => {
      await Promise.all([client.close(), stats?.close(), load.close()]);
    };
    try {
      const md = await client.metadata();
      const names = md.inputs.map((i) => i.name);
      return {
        protocol,
        url,
        model: md.name,
        inputs: md.inputs.map((i) => ({ name: i.name, dtype: i.type, shape: i.shape })),
        sender: (tensors) => graphPipeSend(load, client.target.url, tensors, names),
        statistics: () => {
          stats ??= new OipClient(client.target.origin(), { transport: 'rest', timeoutMs });
          return stats.modelStatistics(md.name);
        },
        close,
      };
    } catch (err: unknown) {
      await close();
      throw err;
    }
  }
  if (o.model === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--protocol ${protocol} needs --model NAME`);
  const model = o.model;
  const client = new OipClient(url, { transport: OIP_TRANSPORT[protocol], connections, timeoutMs });
  // REST loads go on perf's HTTP load; gRPC on the client's own channel.
  const load = protocol === 'grpc' ? undefined : httpLoad(httpClient, client.target.url, connections, timeoutMs);
  const close = async () => {
    await Promise.all([client.close(), load?.close()]);
  };
  try {
    const md = await client.modelMetadata(model);
    return {
      protocol,
      url,
      model: md.name,
      inputs: md.inputs.map((i) => ({ name: i.name, dtype: dtypeFromOip(i.datatype, `input ${i.name}`), shape: i.shape })),
      sender: (tensors) => {
        const named = md.inputs.map((i, k) => ({ name: i.name, tensor: tensors[k] as Tensor }));
        if (load) return oipRestSend(load, client.target.url, model, named, protocol === 'rest');
        return async (signal) => {
          await client.infer(model, named, { signal });
        };
      },
      statistics: () => client.modelStatistics(model),
      close,
    };
  } catch (err: unknown) {
    await close();
    throw err;
  }
}
