import { RemoteError } from '../client/errors.js';
import { GraphPipeClient } from '../client/graphpipe-client.js';
import type { ClientSecurity } from '../client/security.js';
import type { Tensor } from '../tensor/index.js';
import { type Model, type ModelMetadata, type RunRequest, inferBatchable, serverHasExactMetadata } from './model.js';

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
  /**
   * Whether the target's metadata is exact, so requests are validated against it here
   * (default: only when the target is a modelpipe server, which says so in `server`).
   */
  exactMetadata?: boolean;
}

/**
 * A model that lives on another GraphPipe server (modelpipe's or graphpipe-go's):
 * the proxy building block of server and hybrid sequencing, and of the batcher.
 * It owns its GraphPipeClient (pool sized to `instances`), closed when the model is.
 */
export class RemoteModel implements Model {
  readonly instances: number;
  readonly batchable: boolean;
  readonly exactMetadata: boolean;

  private constructor(
    readonly metadata: ModelMetadata,
    private readonly opts: RemoteModelOptions,
    private readonly client: GraphPipeClient,
  ) {
    this.instances = opts.instances ?? 32;
    this.exactMetadata = opts.exactMetadata ?? serverHasExactMetadata(metadata.server);
    // Approximate metadata says nothing about dimension 0: assume the GraphPipe
    // convention (rows along it), as graphpipe-batcher does; the target answers otherwise.
    this.batchable = opts.batchable ?? (this.exactMetadata ? inferBatchable(metadata) : true);
  }

  static async connect(opts: RemoteModelOptions): Promise<RemoteModel> {
    const client = new GraphPipeClient(opts.url, {
      timeoutMs: opts.timeoutMs,
      security: opts.security,
      // One socket per request in flight: the pool never queues behind the model's own limit.
      connections: opts.instances ?? 32,
    });
    const md = await client.metadata().catch(async (err: unknown) => {
      await client.close();
      throw err;
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
      client,
    );
  }

  async run(req: RunRequest): Promise<Tensor[]> {
    const outputs = await this.client.inferManyRaw([...req.inputs.values()], {
      inputNames: [...req.inputs.keys()],
      outputNames: [...req.outputNames],
      config: this.opts.forwardConfig === false ? '' : req.config,
      signal: req.signal,
      trace: req.trace,
    });
    if (this.exactMetadata) this.checkOutputs(req.outputNames, outputs);
    return outputs;
  }

  /** The target's answer against its own (exact) metadata: a wrong tensor fails here, not downstream. */
  private checkOutputs(names: readonly string[], outputs: Tensor[]): void {
    names.forEach((name, i) => {
      const spec = this.metadata.outputs.find((s) => s.name === name);
      const t = outputs[i];
      if (!spec || !t) return;
      const dtypeOk = spec.dtype === t.dtype || (spec.dtype === 'bool' && t.dtype === 'uint8');
      if (!dtypeOk || spec.shape.length !== t.shape.length) {
        throw new RemoteError(
          'MP_ERR_BAD_RESPONSE',
          `${this.opts.url}: output ${name} should be ${spec.dtype} of rank ${spec.shape.length}, the server returned ${t.dtype} of rank ${t.shape.length}`,
          { url: this.opts.url },
        );
      }
    });
  }

  /** Releases the connection pool once the requests in flight have finished. */
  close(): Promise<void> {
    return this.client.close();
  }
}
