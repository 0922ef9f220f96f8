import { metadata as fetchMetadata, multiRemoteRaw } from '../client/graphpipe-client.js';
import type { ClientSecurity } from '../client/security.js';
import type { Tensor } from '../tensor/index.js';
import { type Model, type ModelMetadata, type RunRequest, inferBatchable } from './model.js';

export interface RemoteModelOptions {
  url: string;
  name?: string;
  /** Concurrent requests to the remote server (default 32). */
  instances?: number;
  timeoutMs?: number;
  /** Forward each request's config string (default true). */
  forwardConfig?: boolean;
  /** Treat dimension 0 as a batch dimension even if the target's metadata pins it. */
  batchable?: boolean;
  /** CA, client certificate and bearer token for the target (default: the process's hop settings). */
  security?: ClientSecurity;
}

/**
 * A model that lives on another GraphPipe server (modelpipe's or graphpipe-go's):
 * the proxy building block of server and hybrid sequencing, and of the batcher.
 */
export class RemoteModel implements Model {
  readonly instances: number;
  readonly batchable: boolean;

  private constructor(
    readonly metadata: ModelMetadata,
    private readonly opts: RemoteModelOptions,
  ) {
    this.instances = opts.instances ?? 32;
    this.batchable = opts.batchable ?? inferBatchable(metadata);
  }

  static async connect(opts: RemoteModelOptions): Promise<RemoteModel> {
    const md = await fetchMetadata(opts.url, {
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.security ? { security: opts.security } : {}),
    });
    const spec = (s: (typeof md.inputs)[number]) => ({ name: s.name, dtype: s.type, shape: s.shape, description: s.description });
    return new RemoteModel(
      {
        name: opts.name ?? (md.name || 'remote'),
        version: md.version || '1',
        description: md.description || `proxy for ${opts.url}`,
        server: md.server || 'graphpipe',
        inputs: md.inputs.map(spec),
        outputs: md.outputs.map(spec),
        defaultInputs: md.inputs.map((s) => s.name),
        defaultOutputs: md.outputs.map((s) => s.name),
      },
      opts,
    );
  }

  run(req: RunRequest): Promise<Tensor[]> {
    return multiRemoteRaw(this.opts.url, [...req.inputs.values()], {
      inputNames: [...req.inputs.keys()],
      outputNames: [...req.outputNames],
      config: this.opts.forwardConfig === false ? '' : req.config,
      signal: req.signal,
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
      ...(this.opts.security ? { security: this.opts.security } : {}),
    });
  }

  async close(): Promise<void> {}
}
