import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CMD, DEFAULTS, ENTRYPOINT, deployment } from '../../src/deploy/manifests.js';
import { repoRoot } from '../helpers/shared.js';

/**
 * No container runtime exists here, so the image is not built: this reads the
 * Dockerfile instead, so what the image runs stays what the Deployment runs (and
 * what test/deploy/manifest-command.test.ts starts).
 */
type Instruction = { op: string; arg: string; stage: number };

function instructions(): Instruction[] {
  const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  let stage = -1;
  const out: Instruction[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    if (m[1] === 'FROM') stage++;
    out.push({ op: m[1] as string, arg: (m[2] as string).trim(), stage });
  }
  return out;
}

const all = instructions();
const last = Math.max(...all.map((i) => i.stage));
const final = all.filter((i) => i.stage === last);
const one = (op: string): string => {
  const found = final.filter((i) => i.op === op);
  assert.equal(found.length, 1, `one ${op} in the final stage`);
  return (found[0] as Instruction).arg;
};

test("the image's ENTRYPOINT and CMD are the Deployment's command and args", () => {
  const entrypoint = JSON.parse(one('ENTRYPOINT')) as string[];
  const cmd = JSON.parse(one('CMD')) as string[];
  const c = (deployment() as { spec: { template: { spec: { containers: { command: string[]; args: string[] }[] } } } }).spec.template.spec
    .containers[0];
  assert.deepEqual(entrypoint, ENTRYPOINT);
  assert.deepEqual(cmd, CMD);
  assert.deepEqual(c?.command, entrypoint);
  assert.deepEqual(c?.args, cmd);
});

test('the final stage: Debian Node 20, production dependencies only, tini, a non-root user, the ports the manifests use', () => {
  const froms = all.filter((i) => i.op === 'FROM').map((i) => i.arg);
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) assert.match(f, /^node:20-(bookworm|bullseye)/);
  assert.ok(final.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.arg)));
  assert.ok(!final.some((i) => i.op === 'RUN' && /npm (ci|install)(?!.*--omit=dev)/.test(i.arg)));
  assert.ok(final.some((i) => i.op === 'RUN' && /install .*\btini\b/.test(i.arg)));
  assert.match(one('USER'), /^[1-9]\d*(:[1-9]\d*)?$/);
  const env = final
    .filter((i) => i.op === 'ENV')
    .map((i) => i.arg)
    .join(' ');
  assert.match(env, new RegExp(`MODELPIPE_LISTEN=0\\.0\\.0\\.0:${DEFAULTS.httpPort}\\b`));
  assert.match(env, new RegExp(`MODELPIPE_GRPC_LISTEN=0\\.0\\.0\\.0:${DEFAULTS.grpcPort}\\b`));
});

test("the HEALTHCHECK's node one-liner exits 0 when /health/live answers 200 and 1 otherwise", async () => {
  const hc = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(one('HEALTHCHECK'));
  assert.ok(hc, 'HEALTHCHECK CMD [...]');
  const [bin, ...args] = JSON.parse(hc[1] as string) as string[];
  assert.equal(bin, 'node');
  let status = 200;
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const env = { ...process.env, MODELPIPE_LISTEN: `0.0.0.0:${(server.address() as AddressInfo).port}` };
    // Asynchronous: the server answers on this test's event loop.
    const run = async (): Promise<number | null> =>
      new Promise((resolve) => spawn(process.execPath, args, { env, stdio: 'ignore' }).once('exit', resolve));
    assert.equal(await run(), 0);
    status = 503;
    assert.equal(await run(), 1);
    assert.deepEqual(seen, ['/health/live', '/health/live']);
  } finally {
    server.close();
  }
});
