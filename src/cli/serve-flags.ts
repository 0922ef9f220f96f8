import type { Engine } from '../core/engine.js';
import { bytes, int, str } from '../flags/args.js';
import { limitsFromFlags } from '../flags/limit-flags.js';
import { serverSecurityFromFlags } from '../flags/security-flags.js';
import type { Logger } from '../observe/logger.js';
import { labelSource } from '../server/oip-classification.js';

export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** What startServeStack needs from the flags. */
export function stackOptions(v: Record<string, unknown>, engine: Engine, log: Logger) {
  return {
    engine,
    log,
    listen: str(v.listen),
    grpcListen: str(v['grpc-listen']),
    bodyLimit: bytes(v['body-limit'], 'body-limit'),
    grpcMaxMessage: bytes(v['grpc-max-message'], 'grpc-max-message'),
    grpcLimits: {
      ...optional('maxSessions', int(v['grpc-max-connections'], 'grpc-max-connections')),
      ...optional('maxConcurrentStreams', int(v['grpc-max-streams'], 'grpc-max-streams')),
      ...optional('maxPendingBytes', bytes(v['grpc-max-pending'], 'grpc-max-pending')),
      ...optional('streamIdleMs', int(v['grpc-stream-idle-timeout'], 'grpc-stream-idle-timeout')),
      ...optional('sessionIdleMs', int(v['grpc-idle-timeout'], 'grpc-idle-timeout')),
    },
    timeoutMs: int(v.timeout, 'timeout'),
    ...optional('labels', labelSource({ ...optional('file', str(v.labels)), ...optional('repository', str(v.repository)) })),
    ...limitsFromFlags(v),
    ...serverSecurityFromFlags(v),
  };
}
