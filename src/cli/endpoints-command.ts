import { EndpointSet } from '../client/endpoints/endpoint-set.js';
import type { Endpoint } from '../client/endpoints/endpoint.js';
import type { Probe } from '../client/endpoints/health.js';
import { httpProbe } from '../client/endpoints/probe.js';
import { HttpTransport } from '../client/http-transport.js';
import { GrpcWire } from '../client/oip-grpc-client.js';
import { type ClientSecurity, securityOf } from '../client/security.js';
import { ClientTarget } from '../client/target.js';
import { int } from '../flags/args.js';
import { helpText } from '../flags/help.js';
import { CLIENT_SECURITY_GROUP, clientSecurityFromFlags } from '../flags/security-flags.js';
import { defineCommand, flagGroup, parseFlags } from '../flags/table.js';

export const ENDPOINTS = defineCommand({
  name: 'endpoints',
  usage: 'TARGET [--json]   resolve TARGET (URL, comma-separated URLs, or a discovery URL), probe each endpoint once',
  groups: [
    flagGroup({
      json: { type: 'boolean', help: 'print JSON instead of a table' },
      timeout: { type: 'int', value: 'MS', default: '2000', help: "each probe's timeout" },
    }),
    CLIENT_SECURITY_GROUP,
  ],
});

export const ENDPOINTS_HELP = helpText(ENDPOINTS);

/** One endpoint as printed. */
interface Row {
  url: string;
  state: 'ready' | 'not ready' | 'unreachable';
  probeMs: number | undefined;
  error: string | undefined;
}

/**
 * `modelpipe endpoints TARGET`: what a client given TARGET would use now (Hive's "ask
 * where, then connect directly"): the endpoints discovery yields, each probed once
 * for readiness as a client's health check would (HTTP /health/ready, else
 * /control/is_ready; gRPC ServerReady). Exits 1 when none is ready.
 */
export async function endpointsCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, ENDPOINTS);
  const target = positionals[0];
  if (v.help || !target) {
    console.log(ENDPOINTS_HELP);
    if (!target && !v.help) process.exitCode = 2;
    return;
  }
  const security = securityOf(clientSecurityFromFlags(v));
  const http = new HttpTransport({ connections: 4 });
  const grpc = new Map<string, GrpcWire>();
  const set = new EndpointSet(target, {
    probe: probeBySchemes(http, grpc, security),
    health: { timeoutMs: int(v.timeout, 'timeout') ?? 2000, intervalMs: 3_600_000 },
  });
  try {
    await set.probeAll();
    const rows = set.endpoints().map(rowOf);
    const ready = rows.filter((r) => r.state === 'ready').length;
    if (v.json) console.log(JSON.stringify({ target: set.description, ready, endpoints: rows }, null, 2));
    else console.log(table(set.description, rows, ready));
    if (ready === 0) process.exitCode = 1;
  } finally {
    await set.close();
    await Promise.all([http.close(), ...[...grpc.values()].map((w) => w.close())]);
  }
}

/** gRPC endpoints answer ServerReady; HTTP ones the HTTP probe (probe.ts). */
function probeBySchemes(http: HttpTransport, grpc: Map<string, GrpcWire>, security: ClientSecurity): Probe {
  const overHttp = httpProbe(http, () => security);
  return (url, timeoutMs) => {
    const t = new ClientTarget(url);
    if (!t.grpcScheme) return overHttp(url, timeoutMs);
    let w = grpc.get(url);
    if (!w) {
      w = new GrpcWire(t);
      grpc.set(url, w);
    }
    return w.health('ready', { security, timeoutMs });
  };
}

function rowOf(e: Endpoint): Row {
  const state = e.probed ?? 'unreachable';
  return { url: e.url, state, probeMs: e.probeMs, error: state === 'ready' ? undefined : e.lastError };
}

function table(description: string, rows: readonly Row[], ready: number): string {
  const width = Math.max(8, ...rows.map((r) => r.url.length));
  const lines = [`${description}: ${ready} of ${rows.length} ready`, `${'ENDPOINT'.padEnd(width)}  ${'STATE'.padEnd(11)}  PROBE`];
  for (const r of rows) {
    const ms = r.probeMs === undefined ? '-' : `${r.probeMs} ms`;
    lines.push(`${r.url.padEnd(width)}  ${r.state.padEnd(11)}  ${ms}${r.error ? `  (${r.error})` : ''}`);
  }
  return lines.join('\n');
}
