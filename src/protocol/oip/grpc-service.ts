import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type GrpcObject, type ServiceClientConstructor, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

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
