import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * A real redis-server with AOF on (appendonly yes, fsync every second) that can be shut
 * down with SHUTDOWN and started again on the same port and data directory.
 */
export interface AofRedis {
  url: string;
  client: Redis;
  /** SHUTDOWN (AOF flushed), wait `downMs`, start again on the same port and directory. */
  restart(downMs: number): Promise<void>;
  stop(): void;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startAofRedis(dir: string): Promise<AofRedis> {
  if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is needed: apt-get install -y redis-server');
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir],
      { stdio: 'ignore' },
    );
    const t0 = Date.now();
    for (;;) {
      const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      r.on('error', () => {});
      try {
        await r.connect();
        // Wait until the AOF is loaded (LOADING errors until then).
        if ((await r.ping()) === 'PONG' && (await r.dbsize()) >= 0) {
          r.disconnect();
          return;
        }
      } catch {
        r.disconnect();
      }
      if (Date.now() - t0 > 20_000) throw new Error('redis-server did not start');
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  await launch();
  const client = new Redis(url, { maxRetriesPerRequest: 20 });
  client.on('error', () => {});
  return {
    url,
    client,
    async restart(downMs) {
      const p = proc as ChildProcess;
      const gone = new Promise((r) => p.once('exit', r));
      const admin = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      admin.on('error', () => {});
      await admin.connect();
      await admin.call('SHUTDOWN').catch(() => {}); // the connection drops as it answers
      admin.disconnect();
      await gone;
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop() {
      client.disconnect();
      proc?.kill('SIGKILL');
    },
  };
}
