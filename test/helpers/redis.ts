import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './spawn.js';

/** A real redis-server on a free loopback port, no persistence, in `dir`. */
export interface RedisServer {
  url: string;
  /** A connected client for the test's own commands. */
  client: Redis;
  stop(): void;
}

/** `port`: a given one, to start a server again where its clients reconnect (default: a free one). */
export async function startRedis(dir: string, port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const server: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  // Without redis-server installed, spawn's ENOENT would be an uncaught 'error' event.
  const missing = new Promise<never>((_, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'ENOENT'
            ? 'redis-server not found: install redis-server (sudo scripts/install-system-deps.sh)'
            : `redis-server: ${err.message}`,
        ),
      ),
    );
  });
  missing.catch(() => {});
  const url = `redis://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    // A fresh client per attempt: the server may not be listening yet.
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') {
        return {
          url,
          client: r,
          stop() {
            r.disconnect();
            server.kill('SIGKILL');
          },
        };
      }
    } catch {
      r.disconnect();
      if (server.pid === undefined) await missing; // never started: rejects with why
      if (server.exitCode !== null) throw new Error(`redis-server exited with code ${server.exitCode}`);
      if (Date.now() - t0 > 10_000) {
        server.kill('SIGKILL');
        throw new Error('redis-server did not start');
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
