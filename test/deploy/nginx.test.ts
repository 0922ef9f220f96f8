import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_BODY_LIMIT } from '../../src/server/http-server.js';
import { DEFAULT_SERVER_LIMITS } from '../../src/server/server-limits.js';
import { firstResponse, rawConnect } from '../helpers/raw-http.js';
import { postIdentity, postIdentityOip, runLoad, until } from '../helpers/replica-load.js';
import { Replicas } from '../helpers/replicas.js';
import { repoRoot } from '../helpers/shared.js';
import { freePort } from '../helpers/spawn.js';

/**
 * deploy/nginx/modelpipe.conf.template, as shipped, run by Debian's real nginx in
 * front of three `modelpipe serve` replicas: requests spread over all three, a body
 * over modelpipe's limit is refused by nginx, and kill -9 of a replica under load
 * costs the caller nothing (nginx retries on another).
 */

const NGINX = '/usr/sbin/nginx';
const TEMPLATE = readFileSync(join(repoRoot, 'deploy', 'nginx', 'modelpipe.conf.template'), 'utf8');
const skip = existsSync(NGINX) ? false : `${NGINX} is not installed (scripts/install-system-deps.sh installs it)`;

/** Fills ${NAME} as envsubst would; every placeholder must be given. */
function render(template: string, vars: Record<string, string>): string {
  const out = template.replace(/\$\{(\w+)\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`no value for \${${k}}`);
    return v;
  });
  return out;
}

/** nginx in the foreground with everything (pid, logs, temp files) in a temporary prefix. */
async function startNginx(upstreams: string[]): Promise<{ url: string; proc: ChildProcess; dir: string; log(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-nginx-'));
  const port = await freePort();
  const [a, b, c] = upstreams.map((u) => new URL(u).host);
  writeFileSync(
    join(dir, 'modelpipe.conf'),
    render(TEMPLATE, {
      MODELPIPE_LISTEN: `127.0.0.1:${port}`,
      MODELPIPE_REPLICA_A: a ?? '',
      MODELPIPE_REPLICA_B: b ?? '',
      MODELPIPE_REPLICA_C: c ?? '',
    }),
  );
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`).join(' ');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;\nevents { worker_connections 1024; }\nhttp { access_log off; ${temps} include ${join(dir, 'modelpipe.conf')}; }\n`,
  );
  // As root nginx switches its workers to a user; the test's own keeps the temp prefix theirs.
  const user = process.getuid?.() === 0 ? ' user root;' : '';
  const globals = `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')} warn;${user}`;
  const proc = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', globals], {
    stdio: 'ignore',
  });
  const log = () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
  const url = `http://127.0.0.1:${port}`;
  await until(`nginx answering on ${url}`, async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${log()}`);
    return fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
  });
  return { url, proc, dir, log };
}

let set: Replicas;
let nginx: Awaited<ReturnType<typeof startNginx>>;

before(async () => {
  if (skip) return;
  set = await Replicas.start(3);
  nginx = await startNginx(set.urls);
});

after(async () => {
  if (nginx) {
    nginx.proc.kill('SIGQUIT'); // graceful: workers finish, then exit
    if (nginx.proc.exitCode === null) await once(nginx.proc, 'exit');
    rmSync(nginx.dir, { recursive: true, force: true });
  }
  await set?.close();
});

test('the template states modelpipe’s own limits: body size and timeouts', () => {
  const mib = Number(/client_max_body_size (\d+)m;/.exec(TEMPLATE)?.[1]);
  assert.equal(mib * 1024 * 1024, DEFAULT_BODY_LIMIT);
  const seconds = (d: string) => Number(new RegExp(`${d} (\\d+)s;`).exec(TEMPLATE)?.[1]) * 1000;
  assert.equal(seconds('client_header_timeout'), DEFAULT_SERVER_LIMITS.headersTimeoutMs);
  assert.equal(seconds('client_body_timeout'), DEFAULT_SERVER_LIMITS.bodyIdleTimeoutMs);
  assert.equal(seconds('proxy_send_timeout'), DEFAULT_SERVER_LIMITS.bodyIdleTimeoutMs);
  assert.equal(seconds('proxy_read_timeout'), DEFAULT_SERVER_LIMITS.requestTimeoutMs);
  // The first keepalive_timeout is the upstream block's, the second the client side's.
  const [upstream, clients] = [...TEMPLATE.matchAll(/keepalive_timeout (\d+)s;/g)].map((m) => Number(m[1]) * 1000);
  assert.equal(clients, DEFAULT_SERVER_LIMITS.keepAliveTimeoutMs);
  assert.ok((upstream ?? Infinity) < DEFAULT_SERVER_LIMITS.keepAliveTimeoutMs, 'upstream idle connections close first');
});

test('nginx spreads GraphPipe and OIP requests over all three replicas', { skip, timeout: 60_000 }, async () => {
  const before = await set.counts();
  const failures = await runLoad(600, 6, (agent) => postIdentity(nginx.url, agent)).finished;
  assert.deepEqual(failures, []);
  const oip = await postIdentityOip(nginx.url);
  assert.equal(oip.status, 200, oip.body.toString());
  assert.deepEqual(JSON.parse(oip.body.toString()).outputs[0].data, [1, 2, 3, 4]);
  const served = (await set.counts()).map((n, i) => n - (before[i] ?? 0));
  assert.equal(
    served.reduce((x, y) => x + y),
    601,
  );
  for (const n of served) assert.ok(n >= 60, `each replica serves a share: ${served.join(', ')}`);
});

test('a body over modelpipe’s limit is answered 413 by nginx', { skip, timeout: 30_000 }, async () => {
  const c = await rawConnect(
    nginx.url,
    `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${DEFAULT_BODY_LIMIT + 1}\r\n\r\n`,
  );
  await until('an answer', () => c.received().includes('\r\n\r\n'), 10_000);
  c.socket.destroy();
  assert.equal(firstResponse(c.received()).status, 413);
});

test('kill -9 of a replica under load through nginx: 0 failed requests', { skip, timeout: 60_000 }, async () => {
  const run = runLoad(1500, 8, (agent) => postIdentity(nginx.url, agent));
  await until('a third of the load done', () => run.done >= 500);
  await set.kill(0, 'SIGKILL');
  const failures = await run.finished;
  assert.deepEqual(failures, [], nginx.log());
  assert.equal(run.done, 1500);
  // Not a lucky run: nginx did meet the dead replica, and passed those requests on.
  assert.match(nginx.log(), new RegExp(`upstream: "http://127\\.0\\.0\\.1:${set.at(0).port}/"`));
});
