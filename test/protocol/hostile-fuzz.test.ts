import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { GrpcChannel } from '../../src/client/grpc-channel.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import {
  type Body,
  PROTOCOLS,
  type Protocol,
  type Targets,
  bodies,
  checkInProcess,
  fuzzModel,
  seeds,
  send,
} from '../helpers/fuzz-bodies.js';

/**
 * Seeded fuzz across GraphPipe, OIP JSON, OIP binary and gRPC: 60 000 mutated bodies
 * through each server's decode and validation path in-process, then 4 000 over real
 * loopback sockets. No 5xx, no hang, no crash (an uncaught error ends this process),
 * and the server still answers valid requests after. `npm run bench -- hostile` runs
 * the long version.
 */

const IN_PROCESS = 60_000;
const OVER_SOCKETS = 4_000;
const CONCURRENCY = 8;

type Tally = Map<string, number>;
const bump = (t: Tally, k: string) => t.set(k, (t.get(k) ?? 0) + 1);

describe('hostile fuzz: every protocol', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let targets: Targets;
  before(async () => {
    srv = await serveModel(fuzzModel());
    grpc = new OipGrpcServer({ engine: srv.engine });
    const port = await grpc.listen(0);
    targets = { http: srv.url, grpc: new GrpcChannel(`127.0.0.1:${port}`), agent: new Agent({ connections: CONCURRENCY }) };
  });
  after(async () => {
    targets?.grpc.close();
    await targets?.agent.close();
    await grpc?.close();
    await srv?.close();
  });

  test(`${IN_PROCESS} mutated bodies in-process: only 2xx and 4xx`, () => {
    const md = srv.engine.metadata('fz');
    const tally: Tally = new Map();
    for (const b of bodies(IN_PROCESS, 0x5eed)) {
      const status = checkInProcess(b, md);
      bump(tally, `${b.protocol} ${status}`);
      if (status >= 500) assert.fail(`${b.protocol} body ${Buffer.from(b.bytes).toString('base64').slice(0, 200)} → ${status}`);
    }
    // The mutations must reach past the first checks: each protocol sees requests that validate, and refusals.
    for (const p of PROTOCOLS) {
      assert.ok((tally.get(`${p} 200`) ?? 0) > 0, `${p}: no mutated body validated: ${JSON.stringify([...tally])}`);
      assert.ok((tally.get(`${p} 400`) ?? 0) > 0, `${p}: no mutated body was refused: ${JSON.stringify([...tally])}`);
    }
  });

  test(`${OVER_SOCKETS} mutated bodies over loopback sockets: no 5xx, no hang, still serving`, async () => {
    const tally: Tally = new Map();
    const failures: string[] = [];
    const it = bodies(OVER_SOCKETS, 0xfa11)[Symbol.iterator]();
    const worker = async () => {
      for (let r = it.next(); !r.done; r = it.next()) {
        const b: Body = r.value;
        const status = await send(b, targets);
        bump(tally, `${b.protocol} ${status}`);
        if (status >= 500 || status < 0)
          failures.push(`${b.protocol} → ${status}: ${Buffer.from(b.bytes).toString('base64').slice(0, 120)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures; tally ${JSON.stringify([...tally])}`);
    const counted = [...tally.values()].reduce((x, y) => x + y, 0);
    assert.equal(counted, OVER_SOCKETS);
    for (const s of seeds()) {
      assert.equal(await send(s, targets), 200, `a valid ${s.protocol as Protocol} request after the fuzz`);
    }
  });
});
