import { type TraceConfig, traceConfigFrom } from '../observe/trace-config.js';
import type { Logger } from '../observe/logger.js';
import { startTracing } from '../observe/tracing.js';
import { type FlagGroup, flagGroup } from './table.js';

/**
 * --otlp-endpoint: OpenTelemetry tracing for a command that serves or makes calls
 * (serve, batcher, run, classy). The standard OTEL_* variables turn it on too
 * (observe/trace-config.ts); the flag wins over them for the URL.
 */
export const TRACING_FLAGS = {
  'otlp-endpoint': {
    type: 'string',
    value: 'URL',
    help: 'export traces over OTLP/HTTP (protobuf; http/json with OTEL_EXPORTER_OTLP_PROTOCOL) to URL (a collector, e.g. http://localhost:4318, or its /v1/traces); OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables turn tracing on too',
    defaultNote: 'off',
  },
} as const;

export const TRACING_GROUP: FlagGroup<typeof TRACING_FLAGS> = flagGroup(TRACING_FLAGS, 'Tracing:');

/** Puts --otlp-endpoint where a pipeline run and its worker processes read it: the OTEL_* environment. */
export function otlpEndpointToEnv(endpoint: string | undefined, env = process.env): void {
  if (endpoint === undefined) return;
  const config = traceConfigFrom({ ...env, OTEL_TRACES_EXPORTER: 'otlp' }, endpoint) as TraceConfig;
  env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = config.url;
}

/** Starts tracing when the flag or the environment asks for it, and says so in the log. */
export async function startTracingFromFlags(v: { 'otlp-endpoint'?: string | undefined }, log: Logger, env = process.env): Promise<void> {
  const config = traceConfigFrom(env, v['otlp-endpoint']);
  if (config === undefined) return;
  await startTracing(config);
  log.info({ otlp: config.url, service: config.serviceName, sampler: config.samplerName }, 'tracing on');
}
