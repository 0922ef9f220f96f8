import type { Engine } from '../core/engine.js';
import { ANNOUNCE_GROUP } from '../flags/announce-flags.js';
import { BODY_LIMIT_FLAG, listenFlag, logFlags } from '../flags/common-flags.js';
import { TRACING_GROUP } from '../flags/tracing-flags.js';
import { LIMIT_GROUP, limitsFromFlags } from '../flags/limit-flags.js';
import { RUNTIME_FLAGS, SCHEDULER_FLAGS } from '../flags/scheduler-group.js';
import { SERVER_SECURITY_GROUP, serverSecurityFromFlags } from '../flags/security-flags.js';
import { type FlagValues, defineCommand, flagGroup } from '../flags/table.js';
import type { Logger } from '../observe/logger.js';
import { labelSource } from '../server/oip-classification.js';

/** `modelpipe serve`'s flags (one table: parsing, --help, MODELPIPE_*), and what the server stack takes from them. */

const MODEL = flagGroup(
  {
    name: { type: 'string', value: 'NAME', help: 'model name', defaultNote: "the file's stem" },
    inputs: { type: 'list', help: 'default inputs, in order', defaultNote: "the model's" },
    outputs: { type: 'list', help: 'default outputs', defaultNote: "the model's" },
    'value-inputs': { type: 'string', value: 'FILE.json', help: 'GraphPipe value inputs {"name": [dtype, shape]} pinning input shapes' },
    device: {
      type: 'string',
      choices: ['cpu', 'cuda'],
      help: 'execution provider',
      defaultNote: "the model config's instance_group kind, else cpu",
    },
    sha256: { type: 'string', value: 'HEX', help: 'expected SHA-256 of the model file' },
    'download-dir': { type: 'string', value: 'DIR', help: 'where downloaded models are kept', defaultNote: '~/.cache/modelpipe/models' },
    'model-config': {
      type: 'string',
      value: 'FILE',
      help: "model config in Triton's names, JSON or config.pbtxt (max_batch_size, dynamic_batching, instance_group, …; docs/model-config.md); flags override it",
      defaultNote: 'a config.json or config.pbtxt beside the model, if any',
    },
    labels: {
      type: 'string',
      value: 'FILE',
      help: "class labels (one a line) for OIP's classification extension; with --repository, DIR/<model>/labels.txt is used instead",
    },
  },
  'Model:',
);

const REPOSITORY = flagGroup({
  repository: { type: 'string', value: 'DIR', help: 'serve every model in DIR/<model>/<version>/model.onnx (+ config.json)' },
  'default-model': { type: 'string', value: 'NAME', help: "repository model GraphPipe's root path serves", defaultNote: 'the first' },
  'poll-seconds': { type: 'int', help: 'rescan the repository every N seconds, reloading changed models' },
});

const LISTEN = flagGroup(
  {
    ...listenFlag('127.0.0.1:9000', 'address to listen on: GraphPipe and OIP REST (/v2)'),
    'grpc-listen': { type: 'string', value: 'host:port', help: 'also serve OIP gRPC (inference.GRPCInferenceService) there' },
    'grpc-max-message': { type: 'bytes', help: 'largest gRPC message either way', defaultNote: '--body-limit' },
    'grpc-max-connections': { type: 'int', help: 'gRPC connections at once; more are answered UNAVAILABLE', defaultNote: '1000' },
    'grpc-max-streams': { type: 'int', help: 'gRPC calls at once per connection', defaultNote: '256' },
    'grpc-max-pending': {
      type: 'bytes',
      help: 'memory held by gRPC messages still arriving, all calls together; past it a call is RESOURCE_EXHAUSTED',
      defaultNote: '1GiB',
    },
    'grpc-stream-idle-timeout': {
      type: 'int',
      value: 'MS',
      help: 'a gRPC call whose message stops arriving is ended (DEADLINE_EXCEEDED); 0: never',
      defaultNote: '30000',
    },
    'grpc-idle-timeout': {
      type: 'int',
      value: 'MS',
      help: 'an idle gRPC connection is closed gracefully; 0: never',
      defaultNote: '300000',
    },
    processes: {
      type: 'string',
      value: 'N|auto',
      help: 'server processes sharing the listen port(s), each with its own model instances (auto: one per core); /metrics and health answer for all of them, one that dies is restarted',
      defaultNote: '1',
    },
    ...BODY_LIMIT_FLAG,
  },
  'Listening:',
);

const CACHE = flagGroup(
  {
    cache: { type: 'boolean', help: 'row-level result cache (off by default)' },
    'cache-dir': { type: 'string', value: 'DIR', help: 'where the row cache lives', defaultNote: '~/.cache/modelpipe/rows' },
    'cache-max-bytes': { type: 'bytes', help: 'row cache budget, oldest rows evicted beyond it', defaultNote: '1GiB' },
  },
  'Row cache:',
);

export const SERVE = defineCommand({
  name: 'serve',
  usage: 'MODEL.onnx|DIR|URL [options]    (or: modelpipe serve --repository DIR)',
  about: `  DIR                       a directory holding exactly one *.onnx file (as KServe lays out /mnt/models)
                            (the model may also come from MODELPIPE_MODEL, as in the container image)`,
  groups: [
    MODEL,
    REPOSITORY,
    LISTEN,
    ANNOUNCE_GROUP,
    flagGroup(SCHEDULER_FLAGS, 'Scheduling:'),
    flagGroup(RUNTIME_FLAGS, 'onnxruntime:'),
    CACHE,
    LIMIT_GROUP,
    SERVER_SECURITY_GROUP,
    flagGroup(logFlags()),
    TRACING_GROUP,
  ],
});

export type ServeValues = FlagValues<typeof SERVE.flags>;

export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** What startServeStack needs from the flags. */
export function stackOptions(v: ServeValues, engine: Engine, log: Logger) {
  return {
    engine,
    log,
    listen: v.listen,
    grpcListen: v['grpc-listen'],
    bodyLimit: v['body-limit'],
    grpcMaxMessage: v['grpc-max-message'],
    grpcLimits: {
      ...optional('maxSessions', v['grpc-max-connections']),
      ...optional('maxConcurrentStreams', v['grpc-max-streams']),
      ...optional('maxPendingBytes', v['grpc-max-pending']),
      ...optional('streamIdleMs', v['grpc-stream-idle-timeout']),
      ...optional('sessionIdleMs', v['grpc-idle-timeout']),
    },
    timeoutMs: v.timeout,
    ...optional('labels', labelSource({ ...optional('file', v.labels), ...optional('repository', v.repository) })),
    ...limitsFromFlags(v),
    ...serverSecurityFromFlags(v),
  };
}
