import { isEndpointSetTarget } from '../client/endpoints/route.js';
import { GraphPipeClient } from '../client/graphpipe-client.js';
import { OipClient, type OipStatistics, type OipTransport } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import { dtypeFromOip } from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { GraphPipeSender } from './graphpipe-sender.js';
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
  if (protocol === 'graphpipe') {
    const client = new GraphPipeClient(url, { connections, timeoutMs });
    // Statistics come from the same server's OIP routes, on a client made when first asked.
    let stats: OipClient | undefined;
    // Several endpoints: the load goes through the client's balancing (the lean sender speaks to one URL).
    const load = isEndpointSetTarget(url) ? undefined : new GraphPipeSender(url, connections, timeoutMs);
    const close = async () => {
      await Promise.all([client.close(), stats?.close(), load?.close()]);
    };
    try {
      const md = await client.metadata();
      const names = md.inputs.map((i) => i.name);
      return {
        protocol,
        url,
        model: md.name,
        inputs: md.inputs.map((i) => ({ name: i.name, dtype: i.type, shape: i.shape })),
        sender: (tensors) =>
          load
            ? load.sender(tensors, names)
            : async (signal) => {
                await client.inferManyRaw(tensors, { inputNames: names, signal });
              },
        statistics: () => {
          if (!load) return Promise.reject(setStatistics(url));
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
  try {
    const md = await client.modelMetadata(model);
    return {
      protocol,
      url,
      model: md.name,
      inputs: md.inputs.map((i) => ({ name: i.name, dtype: dtypeFromOip(i.datatype, `input ${i.name}`), shape: i.shape })),
      sender: (tensors) => {
        const named = md.inputs.map((i, k) => ({ name: i.name, tensor: tensors[k] as Tensor }));
        return async (signal) => {
          await client.infer(model, named, { signal });
        };
      },
      statistics: () => (isEndpointSetTarget(url) ? Promise.reject(setStatistics(url)) : client.modelStatistics(model)),
      close: () => client.close(),
    };
  } catch (err: unknown) {
    await client.close();
    throw err;
  }
}

/** One endpoint's counters would pass for the whole set's: perf reports no server split for a set. */
const setStatistics = (url: string): ModelpipeError =>
  new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: no server statistics for a set of endpoints`);
