import { Metadata, Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import type { Engine } from '../core/engine.js';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import { type GrpcTensor, inferenceService, tensorFromGrpc, tensorToGrpc, typedContentsPossible } from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { DEFAULT_BODY_LIMIT } from './http-server.js';
import { type Logger, silentLogger } from './logger.js';
import { EXTENSIONS, type ModelDirectory, SERVER_NAME, SERVER_VERSION, oipModelMetadata, resolveModel, versionsOf } from './oip-models.js';

export interface OipGrpcServerOptions {
  engine: Engine;
  directory?: ModelDirectory;
  logger?: Logger;
  /** Largest message either way, in bytes (default: the HTTP body limit, 64 MiB, not gRPC's 4 MiB). */
  maxMessageBytes?: number;
  /** Default per-request timeout in ms. */
  timeoutMs?: number;
}

interface InferRequestMsg {
  model_name: string;
  model_version: string;
  id: string;
  inputs: GrpcTensor[];
  outputs: { name: string }[];
  raw_input_contents: Uint8Array[];
}

/** gRPC status for a modelpipe error, from its HTTP status. */
export function grpcStatusOf(e: ModelpipeError): status {
  switch (e.status) {
    case 400:
      return status.INVALID_ARGUMENT;
    case 404:
      return status.NOT_FOUND;
    case 413:
      return status.RESOURCE_EXHAUSTED;
    case 499:
      return status.CANCELLED;
    case 503:
      return status.UNAVAILABLE;
    case 504:
      return status.DEADLINE_EXCEEDED;
    default:
      return status.INTERNAL;
  }
}

/**
 * inference.GRPCInferenceService over @grpc/grpc-js, beside the HTTP server and
 * on the same engine: health, metadata and ModelInfer with typed or raw contents.
 */
export class OipGrpcServer {
  readonly server: Server;
  private readonly log: Logger;
  private port = 0;
  private host = '127.0.0.1';

  constructor(private readonly opts: OipGrpcServerOptions) {
    this.log = opts.logger ?? silentLogger;
    const max = opts.maxMessageBytes ?? DEFAULT_BODY_LIMIT;
    this.server = new Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
    const { engine, directory } = opts;
    this.server.addService(inferenceService().service, {
      ServerLive: this.unary(() => ({ live: true })),
      ServerReady: this.unary(() => ({ ready: engine.isReady() })),
      ModelReady: this.unary((r: { name: string; version: string }) => {
        try {
          resolveModel(engine, r.name, r.version || undefined, directory);
          return { ready: true };
        } catch (err: unknown) {
          if (toModelpipeError(err).code === 'MP_ERR_MODEL_NOT_READY') return { ready: false };
          throw err;
        }
      }),
      ServerMetadata: this.unary(() => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS })),
      ModelMetadata: this.unary((r: { name: string; version: string }) => {
        const key = resolveModel(engine, r.name, r.version || undefined, directory);
        return oipModelMetadata(engine.metadata(key), r.version ? [r.version] : versionsOf(engine, key, r.name, directory));
      }),
      ModelInfer: this.unary((r: InferRequestMsg, call) => this.infer(r, call)),
    });
  }

  private unary<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
      Promise.resolve()
        .then(() => fn(call.request, call))
        .then(
          (res) => cb(null, res),
          (err: unknown) => {
            const e = toModelpipeError(err);
            if (e.status >= 500) this.log.error({ code: e.code, err: e.message }, 'grpc request failed');
            const md = new Metadata();
            md.set('x-modelpipe-error', e.code);
            cb({ code: grpcStatusOf(e), details: e.message, metadata: md });
          },
        );
    };
  }

  private async infer(r: InferRequestMsg, call: ServerUnaryCall<InferRequestMsg, unknown>) {
    const { engine, directory } = this.opts;
    const raw = r.raw_input_contents ?? [];
    if (raw.length > 0 && raw.length !== r.inputs.length) {
      throw new ModelpipeError('MP_ERR_OIP_BINARY', `raw_input_contents has ${raw.length} entries for ${r.inputs.length} inputs`);
    }
    if (r.inputs.length === 0) throw new ModelpipeError('MP_ERR_BAD_REQUEST', 'inference request has no inputs');
    const inputs = r.inputs.map((t, i) => tensorFromGrpc(t, raw.length > 0 ? raw[i] : undefined, `input ${t.name}`));
    const key = resolveModel(engine, r.model_name, r.model_version || undefined, directory);
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    const out = await engine.infer(
      key,
      {
        inputNames: r.inputs.map((t) => t.name),
        inputs,
        outputNames: (r.outputs ?? []).map((o) => o.name),
        config: '',
        signal: ac.signal,
        // Raw contents may be views into gRPC's (possibly pooled) buffers: never transfer those.
        transferable: inputs.every((t) => ownsMemory(t, raw)),
        ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
      },
      'oip-grpc',
    );
    const useRaw = raw.length > 0 || !typedContentsPossible(out.outputs);
    const outputs: GrpcTensor[] = [];
    const rawOut: Uint8Array[] = [];
    out.outputNames.forEach((n, i) => {
      const t = tensorToGrpc(n, out.outputs[i] as Tensor, useRaw);
      outputs.push(t.msg);
      if (t.raw) rawOut.push(t.raw);
    });
    return { model_name: out.model.name, model_version: out.model.version, id: r.id, outputs, raw_output_contents: rawOut };
  }

  /** Binds and starts; resolves with the port (0 picks a free one). */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.server.bindAsync(addr, ServerCredentials.createInsecure(), (err, bound) => {
        if (err) {
          reject(new ModelpipeError('MP_ERR_BAD_CONFIG', `gRPC cannot listen on ${addr}: ${err.message}`));
          return;
        }
        this.port = bound;
        this.host = host;
        resolve(bound);
      });
    });
  }

  /** host:port to dial. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Stops taking calls, lets running ones finish (5 s at most). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 5000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

function ownsMemory(t: Tensor, raw: readonly Uint8Array[]): boolean {
  if (t.dtype === 'string') return false;
  const buf = (t.data as { buffer: ArrayBufferLike }).buffer;
  return !raw.some((r) => r.buffer === buf);
}
