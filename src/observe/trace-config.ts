import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ModelpipeError } from '../errors/index.js';
import { EXPORT_DEFAULTS } from './export-batching.js';
import { parseResourceAttributes } from './resource-attributes.js';

/**
 * Whether and where modelpipe exports traces, read from the standard OpenTelemetry
 * environment (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
 * or the --otlp-endpoint flag. Tracing is off unless an endpoint is named (by the
 * flag or OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT) or OTEL_TRACES_EXPORTER=otlp asks for
 * the default one; OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true keep it off.
 */
export interface TraceConfig {
  /** Where spans are POSTed: the full OTLP/HTTP traces URL (…/v1/traces). */
  url: string;
  serviceName: string;
  /** Resource attributes from OTEL_RESOURCE_ATTRIBUTES (`service.name` comes from serviceName). */
  resource?: Readonly<Record<string, string>>;
  sampler: Sampler;
  /** Short description for logs: "parentbased_traceidratio(0.1)". */
  samplerName: string;
  /** OTLP/HTTP encoding: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, http/protobuf (the spec's default) or http/json. */
  protocol: 'http/json' | 'http/protobuf';
  /** How often queued spans are exported (OTEL_BSP_SCHEDULE_DELAY; default 500 ms, so a hop's spans show soon). */
  scheduleDelayMs?: number;
  /** Spans per export request (OTEL_BSP_MAX_EXPORT_BATCH_SIZE; at most maxQueue; default EXPORT_DEFAULTS.batch). */
  maxExportBatch?: number;
  /** Spans that may wait for the collector before more are dropped (OTEL_BSP_MAX_QUEUE_SIZE; default EXPORT_DEFAULTS.queue). */
  maxQueue?: number;
}

/** A whole number of `env[name]` at least `min`, or `fallback` when unset. */
function count(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw bad(`${name} ${JSON.stringify(raw)} is not a whole number of at least ${min}`);
  return n;
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_ENDPOINT = 'http://localhost:4318';
const TRACES_PATH = '/v1/traces';

function bad(message: string): ModelpipeError {
  return new ModelpipeError('MP_ERR_TRACING_CONFIG', message);
}

/** The traces URL: a signal-specific endpoint is used as given, a base endpoint gets /v1/traces (the spec's rule). */
function tracesUrl(env: Env, flag: string | undefined): string {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const url = flag ?? (specific ? specific : `${(env.OTEL_EXPORTER_OTLP_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '')}${TRACES_PATH}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(`OTLP endpoint ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw bad(`OTLP endpoint ${url} must be http:// or https://`);
  // A bare --otlp-endpoint http://collector:4318 means the collector, as the base variable does.
  return flag !== undefined && (parsed.pathname === '/' || parsed.pathname === '') ? `${url.replace(/\/+$/, '')}${TRACES_PATH}` : url;
}

/**
 * The OTLP encoding: http/protobuf by default, as the spec says (and ~2× cheaper to
 * write than JSON: RESULTS, "tracing"); http/json on request. gRPC export is not
 * offered: the collector's OTLP/HTTP receiver is the one every deployment runs.
 */
function protocolOf(env: Env): TraceConfig['protocol'] {
  const p = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim().toLowerCase();
  if (p === 'http/json' || p === 'http/protobuf') return p;
  throw bad(`OTLP protocol ${JSON.stringify(p)}: modelpipe exports over http/json or http/protobuf`);
}

function ratio(arg: string | undefined): number {
  if (arg === undefined || arg === '') return 1;
  const r = Number(arg);
  if (!Number.isFinite(r) || r < 0 || r > 1) throw bad(`OTEL_TRACES_SAMPLER_ARG ${JSON.stringify(arg)} is not a ratio between 0 and 1`);
  return r;
}

/** OTEL_TRACES_SAMPLER and _ARG; the spec's default is parentbased_always_on. */
export function samplerOf(name: string | undefined, arg: string | undefined): { sampler: Sampler; name: string } {
  const n = name === undefined || name === '' ? 'parentbased_always_on' : name;
  switch (n) {
    case 'always_on':
      return { sampler: new AlwaysOnSampler(), name: n };
    case 'always_off':
      return { sampler: new AlwaysOffSampler(), name: n };
    case 'traceidratio':
      return { sampler: new TraceIdRatioBasedSampler(ratio(arg)), name: `${n}(${ratio(arg)})` };
    case 'parentbased_always_on':
      return { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), name: n };
    case 'parentbased_always_off':
      return { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), name: n };
    case 'parentbased_traceidratio':
      return { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio(arg)) }), name: `${n}(${ratio(arg)})` };
    default:
      throw bad(
        `OTEL_TRACES_SAMPLER ${JSON.stringify(n)} is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio`,
      );
  }
}

/** The tracing configuration `env` and the flag ask for, or undefined when tracing stays off. */
export function traceConfigFrom(env: Env, otlpEndpoint?: string): TraceConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return undefined;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === 'none') return undefined;
  if (exporter !== undefined && exporter !== '' && exporter !== 'otlp')
    throw bad(`OTEL_TRACES_EXPORTER ${JSON.stringify(exporter)}: modelpipe exports traces over otlp (or none)`);
  const named = otlpEndpoint !== undefined || !!env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || !!env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!named && exporter !== 'otlp') return undefined;
  const s = samplerOf(env.OTEL_TRACES_SAMPLER, env.OTEL_TRACES_SAMPLER_ARG);
  const delay = count(env, 'OTEL_BSP_SCHEDULE_DELAY', 500, 0);
  const maxQueue = count(env, 'OTEL_BSP_MAX_QUEUE_SIZE', EXPORT_DEFAULTS.queue, 1);
  // As the SDK does: an export batch larger than the queue is cut to the queue's size.
  const maxExportBatch = Math.min(count(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', EXPORT_DEFAULTS.batch, 1), maxQueue);
  const url = tracesUrl(env, otlpEndpoint);
  const protocol = protocolOf(env);
  const resource = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);
  return {
    url,
    // The spec's order: OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES.
    serviceName: env.OTEL_SERVICE_NAME || resource['service.name'] || 'modelpipe',
    resource,
    sampler: s.sampler,
    samplerName: s.name,
    protocol,
    scheduleDelayMs: delay,
    maxExportBatch,
    maxQueue,
  };
}
