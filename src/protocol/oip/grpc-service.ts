import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type GrpcObject, type ServiceClientConstructor, loadPackageDefinition, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ModelpipeError, quote } from '../../errors/index.js';

/**
 * Loads grpc_service.proto. The build copies it beside the compiled code
 * (dist/src/protocol/oip/); running from a checkout without that copy, the
 * source file (shipped in the package too) is used.
 */
function protoPath(): string {
  const beside = fileURLToPath(new URL('./grpc_service.proto', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../../../src/protocol/oip/grpc_service.proto', import.meta.url));
}

let cached: ServiceClientConstructor | undefined;

/**
 * The GRPCInferenceService definition. Field names keep their proto spelling
 * (raw_input_contents), 64-bit integers arrive as strings (exact), bytes as Buffers.
 */
export function inferenceService(): ServiceClientConstructor {
  if (cached) return cached;
  const def = loadSync(protoPath(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = (loadPackageDefinition(def) as GrpcObject).inference as GrpcObject;
  cached = pkg.GRPCInferenceService as ServiceClientConstructor;
  return cached;
}

/** One method's protobuf (de)serializers, generated from the proto. */
export interface MethodCodec {
  requestSerialize(v: object): Buffer;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: object): Buffer;
  responseDeserialize(b: Buffer): unknown;
}

export function methodCodec(method: string): MethodCodec {
  const m = (inferenceService().service as unknown as Record<string, MethodCodec | undefined>)[method];
  if (!m) throw new ModelpipeError('MP_ERR_OIP_NOT_FOUND', `GRPCInferenceService has no method ${quote(method)}`);
  return m;
}

/** gRPC statuses and the HTTP statuses of the same errors, both ways (server: HTTP → gRPC; client: back). */
const STATUS_HTTP: readonly [status, number][] = [
  [status.INVALID_ARGUMENT, 400],
  [status.UNAUTHENTICATED, 401],
  [status.PERMISSION_DENIED, 403],
  [status.NOT_FOUND, 404],
  [status.RESOURCE_EXHAUSTED, 413],
  [status.CANCELLED, 499],
  [status.UNAVAILABLE, 503],
  [status.DEADLINE_EXCEEDED, 504],
];

/** The gRPC status for an error with this HTTP status (INTERNAL for any other). */
export function grpcStatusOfHttp(http: number): status {
  return STATUS_HTTP.find(([, h]) => h === http)?.[0] ?? status.INTERNAL;
}

/** The HTTP status for a gRPC status, when one corresponds. */
export function httpStatusOfGrpc(code: status): number | undefined {
  return STATUS_HTTP.find(([c]) => c === code)?.[1];
}
