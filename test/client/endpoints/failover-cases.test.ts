import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EndpointSet } from '../../../src/client/endpoints/endpoint-set.js';
import { httpProbe } from '../../../src/client/endpoints/probe.js';
import { GraphPipeClient } from '../../../src/client/graphpipe-client.js';
import { HttpTransport } from '../../../src/client/http-transport.js';
import { OipClient } from '../../../src/client/oip-client.js';
import { RoutedWire } from '../../../src/client/oip-routed.js';
import { securityOf } from '../../../src/client/security.js';
import { ModelpipeError } from '../../../src/errors/index.js';
import { FunctionModel } from '../../../src/models/function-model.js';
import { OipGrpcServer } from '../../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../../src/server/serve.js';
import type { Tensor } from '../../../src/tensor/index.js';
import { doubled, input, io } from '../doubling-model.js';
import { type Fault, type FaultProxy, deadUrl, grpcFaultProxy, httpFaultProxy } from './fault-proxy.js';

/**
 * The failover rules as one table, run by every client (GraphPipe, OIP REST, OIP
 * gRPC) against a real server behind relays that inject each failure exactly.
 * Round-robin, so a call's first try is on the first endpoint of the list.
 */
type Slot = Fault | 'dead';
interface Case {
  name: string;
  slots: [Slot, Slot, Slot];
  calls: number;
  /** The calls all succeed, or the first fails with this code (and HTTP status). */
  fails?: { code: string; status?: number; mentions?: string };
  /** Model calls each relay saw ('dead' slots: none can be counted). */
  hits: (number | undefined)[] | ((h: number[]) => void);
}

const CASES: Case[] = [
  {
    name: 'a refused endpoint is ejected and the calls succeed elsewhere',
    slots: ['dead', 'ok', 'ok'],
    calls: 4,
    hits: (h) => assert.equal(h[1]! + h[2]!, 4),
  },
  {
    name: '503 fails over to the next endpoint',
    slots: [503, 'ok', 'ok'],
    calls: 1,
    hits: (h) => assert.deepEqual([h[0], h[1]! + h[2]!], [1, 1]),
  },
  { name: '400 is not retried', slots: [400, 'ok', 'ok'], calls: 1, fails: { code: 'MP_ERR_REMOTE', status: 400 }, hits: [1, 0, 0] },
  {
    name: '429 fails over and backs that endpoint off for its Retry-After',
    slots: [429, 'ok', 'ok'],
    calls: 5,
    hits: (h) => assert.deepEqual([h[0], h[1]! + h[2]!], [1, 5]),
  },
  {
    name: 'a request that drops two connections is not tried on a third',
    slots: ['drop', 'drop', 'drop'],
    calls: 1,
    fails: { code: 'MP_ERR_NO_ENDPOINTS', mentions: 'cost 2 endpoints their connection' },
    hits: (h) => assert.equal(h[0]! + h[1]! + h[2]!, 2),
  },
  {
    name: 'the last error names every endpoint tried',
    slots: [503, 503, 503],
    calls: 1,
    fails: { code: 'MP_ERR_NO_ENDPOINTS' },
    hits: [1, 1, 1],
  },
];

type Kind = 'graphpipe' | 'rest' | 'grpc';

describe('failover rules, every client', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let grpcPort: number;
  const open: { close(): Promise<void> }[] = [];

  before(async () => {
    srv = await serveModel(new FunctionModel((i) => ({ y: doubled(i.x as Tensor) }), { name: 'double', ...io }));
    grpc = new OipGrpcServer({ engine: srv.engine });
    grpcPort = await grpc.listen(0);
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await grpc.close();
    await srv.close();
  });

  /** A client of `kind` over `urls`, and its endpoint set (round-robin; probes rare, so only calls move endpoints). */
  function clientOf(kind: Kind, urls: string[]): { call: () => Promise<unknown>; set: EndpointSet } {
    const target = urls.join(',');
    const endpoints = { balance: 'round-robin' as const, health: { intervalMs: 60_000 } };
    if (kind === 'graphpipe') {
      const http = new HttpTransport({});
      const set = new EndpointSet(target, { ...endpoints, probe: httpProbe(http, () => securityOf(undefined)) });
      const c = new GraphPipeClient(target, { route: set, timeoutMs: 10_000 });
      open.push(c, set, http);
      return { call: () => c.inferManyRaw([input()]), set };
    }
    const wire = new RoutedWire(target, {
      grpc: kind === 'grpc',
      http: new HttpTransport({}),
      security: () => securityOf(undefined),
      endpoints,
    });
    const c = new OipClient(target, { timeoutMs: 10_000 }, wire);
    open.push(c, wire);
    return { call: () => c.infer('double', { x: input() }), set: wire.set };
  }

  async function relays(kind: Kind, slots: Slot[]): Promise<{ urls: string[]; proxies: (FaultProxy | undefined)[] }> {
    const proxies = await Promise.all(
      slots.map((s) => {
        if (s === 'dead') return undefined;
        return kind === 'grpc' ? grpcFaultProxy(grpcPort, s) : httpFaultProxy(Number(new URL(srv.url).port), s);
      }),
    );
    for (const p of proxies) if (p) open.push(p);
    const urls = await Promise.all(proxies.map((p) => (p ? p.url : deadUrl(kind === 'grpc' ? 'grpc' : 'http'))));
    return { urls, proxies };
  }

  for (const kind of ['graphpipe', 'rest', 'grpc'] as const) {
    for (const c of CASES) {
      test(`${kind}: ${c.name}`, async () => {
        const { urls, proxies } = await relays(kind, c.slots);
        const client = clientOf(kind, urls);
        if (c.fails) {
          const fails = c.fails;
          await assert.rejects(client.call(), (e: unknown) => {
            assert.ok(e instanceof ModelpipeError, String(e));
            assert.equal(e.code, fails.code, e.message);
            if (fails.status !== undefined) assert.equal(e.status, fails.status);
            if (fails.mentions) assert.match(e.message, new RegExp(fails.mentions));
            if (fails.code === 'MP_ERR_NO_ENDPOINTS')
              for (const [i, u] of urls.entries()) if ((proxies[i]?.hits ?? 1) > 0) assert.ok(e.message.includes(u), e.message);
            return true;
          });
        } else for (let i = 0; i < c.calls; i++) await client.call();
        const hits = proxies.map((p) => p?.hits ?? 0);
        if (typeof c.hits === 'function') c.hits(hits);
        else
          assert.deepEqual(
            hits,
            c.hits.map((h) => h ?? 0),
          );
        if (c.slots[0] === 'dead') assert.equal(client.set.endpoints()[0]?.health, 'ejected');
      });
    }
  }
});
