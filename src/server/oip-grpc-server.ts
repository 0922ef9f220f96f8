import { status } from '@grpc/grpc-js';
import type { Engine, InferOutcome } from '../core/engine.js';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import {
  type GrpcParameter,
  type GrpcTensor,
  bytesField,
  parametersFromGrpc,
  grpcStatusOfHttp,
  methodCodec,
  scanInferRequest,
  tensorFromGrpc,
  tensorToGrpc,
  typedContentsPossible,
} from '../protocol/oip/index.js';
import { type Tensor, largeBuffers } from '../tensor/index.js';
import { type GrpcCallContext, GrpcError, GrpcHttp2Server, type GrpcLimits, type UnaryHandler } from './grpc-transport.js';
import { DEFAULT_BODY_LIMIT } from './http-server.js';
import { type Logger, silentLogger } from '../observe/logger.js';
import { endRequest, failSpan, refusedRequest, requestTrace } from '../observe/tracing.js';
import { errorLogLevel } from './respond.js';
import { decodeTimed, encodeTimed } from './phases.js';
import type { TokenAuth } from './auth.js';
import type { ServerTls } from './tls.js';
import { type LabelSource, applyClassification } from './oip-classification.js';
import { modelConfig, modelStatistics } from './oip-extensions.js';
import type { ModelDirectory } from '../core/model-directory.js';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION, oipModelMetadata, resolveModel, versionsOf } from './oip-models.js';
export interface OipGrpcServerOptions {
  engine: Engine;
  directory?: ModelDirectory;
  logger?: Logger;
  /** Largest message either way, in bytes (default: the HTTP body limit, 64 MiB, not gRPC's 4 MiB). */
  maxMessageBytes?: number;
  /** Default per-request timeout in ms. */
  timeoutMs?: number;
  /** Timeouts and caps against stalled or greedy clients (defaults: GRPC_LIMIT_DEFAULTS). */
  limits?: GrpcLimits;
  /** TLS (reloadable, see tls.ts). */
  tls?: ServerTls;
  /** Bearer tokens, sent as `authorization` metadata (see auth.ts). */
  auth?: TokenAuth;
  /** Label names for the classification extension. */
  labels?: LabelSource;
}

interface InferRequestMsg {
  model_name: string;
  model_version: string;
  id: string;
  inputs: GrpcTensor[];
  outputs: { name: string; parameters?: Record<string, GrpcParameter> }[];
  raw_input_contents: Uint8Array[];
}

/** How a method is read besides its codec: ModelInfer's alignment, early check and failure counting. */
interface MethodOptions {
  alignField?: number;
  check?: (body: Buffer) => void;
  /** Counts a failure before the handler ran (inference failures count once, see Engine.failed). */
  failed?: (err: unknown) => void;
}

/** A handler's answer: the message, and already-encoded fields sent after it (raw tensors). */
interface Answer {
  message: object;
  appended?: readonly Uint8Array[];
}

/** The protocol label of this frontend's requests in /metrics. */
const PROTOCOL = 'oip-grpc';

/** ModelInferRequest.raw_input_contents: placed 64-byte aligned so a tensor decodes as a view. */
const RAW_INPUT_FIELD = 7;
/** ModelInferResponse.raw_output_contents. */
const RAW_OUTPUT_FIELD = 6;

/**
 * inference.GRPCInferenceService beside the HTTP server and on the same engine:
 * health, metadata and ModelInfer with typed or raw contents, over modelpipe's
 * own HTTP/2 transport (grpc-transport.ts).
 */
export class OipGrpcServer {
  private readonly transport: GrpcHttp2Server;
  private readonly log: Logger;
  private port = 0;
  private host = '127.0.0.1';

  constructor(private readonly opts: OipGrpcServerOptions) {
    this.log = opts.logger ?? silentLogger;
    const { engine, directory } = opts;
    const modelReady = (r: { name: string; version: string }): Answer => {
      try {
        const key = resolveModel(engine, r.name, r.version || undefined, directory);
        return { message: { ready: engine.isModelReady(key) } };
      } catch (err: unknown) {
        if (toModelpipeError(err).code === 'MP_ERR_MODEL_NOT_READY') return { message: { ready: false } };
        throw err;
      }
    };
    const modelMetadata = (r: { name: string; version: string }): Answer => {
      const key = resolveModel(engine, r.name, r.version || undefined, directory);
      const versions = r.version ? [r.version] : versionsOf(engine, key, r.name, directory);
      return { message: oipModelMetadata(engine.metadata(key), versions) };
    };
    const methods = new Map<string, UnaryHandler>([
      this.method('ServerLive', () => ({ message: { live: true } })),
      this.method('ServerReady', () => ({ message: { ready: engine.isReady() } })),
      this.method('ModelReady', modelReady),
      this.method('ServerMetadata', () => ({ message: { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS } })),
      this.method('ModelMetadata', modelMetadata),
      this.method('ModelInfer', (r: InferRequestMsg, call, body, since) => this.infer(r, call, body, since), {
        alignField: RAW_INPUT_FIELD,
        check: (body) => this.checkInfer(body),
        failed: (err) => engine.failed('', PROTOCOL, err),
      }),
      this.method('ModelStatistics', (r: { name: string; version: string }) => ({
        message: modelStatistics(engine, r.name || undefined, r.version || undefined, directory),
      })),
      this.method('ModelConfig', (r: { name: string; version: string }) => ({
        message: { config: modelConfig(engine, resolveModel(engine, r.name, r.version || undefined, directory)) },
      })),
    ]);
    this.transport = new GrpcHttp2Server(methods, {
      ...opts.limits,
      maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_BODY_LIMIT,
      onError: (err) => this.log.error({ err: String(err) }, 'grpc handler failed'),
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.auth ? { authorize: opts.auth.grpcCheck.bind(opts.auth) } : {}),
    });
  }

  /** A method: its proto (de)serializers around `fn`, modelpipe errors mapped to gRPC statuses. */
  private method<Req>(
    name: string,
    fn: (req: Req, call: GrpcCallContext, body: Buffer, since: number) => Answer | Promise<Answer>,
    opts: MethodOptions = {},
  ): [string, UnaryHandler] {
    const codec = methodCodec(name);
    const { alignField, check, failed } = opts;
    const handle = async (body: Buffer, call: GrpcCallContext): Promise<readonly Uint8Array[]> => {
      // Decoding starts here: the handler adds the time to build its tensors.
      const since = performance.now();
      let req: Req;
      try {
        check?.(body);
      } catch (err: unknown) {
        const e = toModelpipeError(err);
        failed?.(e);
        throw new GrpcError(grpcStatusOfHttp(e.status), e.message, { 'x-modelpipe-error': e.code });
      }
      try {
        req = codec.requestDeserialize(body) as Req;
      } catch (err: unknown) {
        const e = new ModelpipeError('MP_ERR_BAD_REQUEST', `unreadable ${name} request: ${(err as Error).message}`);
        failed?.(e);
        throw new GrpcError(status.INVALID_ARGUMENT, e.message, { 'x-modelpipe-error': e.code });
      }
      try {
        const a = await fn(req, call, body, since);
        return [codec.responseSerialize(a.message), ...(a.appended ?? [])];
      } catch (err: unknown) {
        const e = toModelpipeError(err);
        if (e.status >= 500) this.log[errorLogLevel(e)]({ code: e.code, err: e.message }, 'grpc request failed');
        throw new GrpcError(grpcStatusOfHttp(e.status), e.message, { 'x-modelpipe-error': e.code });
      }
    };
    return [`/inference.GRPCInferenceService/${name}`, alignField === undefined ? { handle } : { handle, alignField }];
  }

  /**
   * Counts the request's entries before the generated decoder builds an object for
   * each (see grpc-scan.ts); more inputs than the addressed model takes are refused
   * here. An unknown model is left to the handler's 404.
   */
  private checkInfer(body: Buffer): void {
    const scan = scanInferRequest(body);
    let max: number;
    try {
      const key = resolveModel(this.opts.engine, scan.modelName, scan.modelVersion || undefined, this.opts.directory);
      max = this.opts.engine.metadata(key).inputs.length;
    } catch {
      return;
    }
    if (scan.inputs > max) {
      throw new ModelpipeError('MP_ERR_INPUT_COUNT', `request carries ${scan.inputs} inputs; the model takes ${max} inputs`);
    }
  }

  private async infer(r: InferRequestMsg, call: GrpcCallContext, body: Buffer, since: number): Promise<Answer> {
    const { engine } = this.opts;
    const raw = r.raw_input_contents ?? [];
    let decoded: ReturnType<typeof decodeTimed<{ key: string; inputs: Tensor[] }>>;
    try {
      decoded = decodeTimed(engine, r.model_name, PROTOCOL, () => this.inputsOf(r, raw), since);
    } catch (err: unknown) {
      refusedRequest(call.headers, PROTOCOL, err); // undecodable or for no model: a failed request span
      throw err;
    }
    const { key, inputs } = decoded.value;
    // Raw tensors are views into this call's own (recycled) message buffer, or copies
    // of it; typed ones are built. Byte strings stay views, so those are not moved.
    const strings = inputs.some((t) => t.dtype === 'string');
    if (!strings && !inputs.some((t) => (t.data as { buffer: ArrayBufferLike }).buffer === body.buffer)) {
      largeBuffers.reclaim(body.buffer as ArrayBuffer); // everything was copied out of it
    }
    // The client's deadline aborts `call.signal`; this is the server's own limit.
    const timeoutMs = this.opts.timeoutMs;
    const t = requestTrace(call.headers, PROTOCOL, body.length, since);
    try {
      const out = await engine.infer(
        key,
        {
          inputNames: r.inputs.map((i) => i.name),
          inputs,
          outputNames: (r.outputs ?? []).map((o) => o.name),
          config: '',
          signal: call.signal,
          transferable: !strings,
          timeoutMs,
          decodeMs: decoded.decodeMs,
          trace: t,
        },
        PROTOCOL,
      );
      return encodeTimed(
        out,
        t,
        () => this.answer(r, key, raw.length > 0, out),
        (a) => a.appended,
      );
    } catch (err: unknown) {
      failSpan(t?.span, err); // the request span fails with the error's code, and ends either way
      throw err;
    } finally {
      endRequest(t);
    }
  }

  /** The request's tensors and the entry it addresses (the decode phase after deserializing). */
  private inputsOf(r: InferRequestMsg, raw: Uint8Array[]): { key: string; inputs: Tensor[] } {
    if (raw.length > 0 && raw.length !== r.inputs.length) {
      throw new ModelpipeError('MP_ERR_OIP_BINARY', `raw_input_contents has ${raw.length} entries for ${r.inputs.length} inputs`);
    }
    if (r.inputs.length === 0) throw new ModelpipeError('MP_ERR_BAD_REQUEST', 'inference request has no inputs');
    const inputs = r.inputs.map((t, i) => tensorFromGrpc(t, raw.length > 0 ? raw[i] : undefined, `input ${t.name}`));
    return { key: resolveModel(this.opts.engine, r.model_name, r.model_version || undefined, this.opts.directory), inputs };
  }

  /** ModelInferResponse for an outcome: raw contents when the request sent raw ones or typed cannot carry them. */
  private answer(r: InferRequestMsg, key: string, rawIn: boolean, out: InferOutcome): Answer & { appended: Uint8Array[] } {
    const requested = (r.outputs ?? []).map((o) => {
      const p = parametersFromGrpc(o.parameters);
      return { name: o.name, ...(p ? { parameters: p } : {}) };
    });
    const labels = () => this.opts.labels?.(key);
    const tensors = applyClassification(out.outputNames, out.outputs as Tensor[], requested, out.model.outputs, labels);
    const useRaw = rawIn || !typedContentsPossible(tensors);
    const outputs: GrpcTensor[] = [];
    const appended: Uint8Array[] = [];
    out.outputNames.forEach((n, i) => {
      const t = tensorToGrpc(n, tensors[i] as Tensor, useRaw);
      outputs.push(t.msg);
      if (t.raw) appended.push(...bytesField(RAW_OUTPUT_FIELD, t.raw));
    });
    return { message: { model_name: out.model.name, model_version: out.model.version, id: r.id, outputs }, appended };
  }

  /** Binds and starts; resolves with the port (0 picks a free one). */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.port = await this.transport.listen(port, host);
    this.host = host;
    return this.port;
  }

  /** host:port to dial. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Connections, calls and bytes of unfinished messages held now. */
  stats(): { sessions: number; streams: number; pendingBytes: number } {
    return this.transport.stats();
  }

  /** Stops taking calls, lets running ones finish (5 s at most). */
  close(): Promise<void> {
    return this.transport.close();
  }
}
