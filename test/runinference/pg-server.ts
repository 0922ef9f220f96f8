import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/spawn.js';

/**
 * A throwaway PostgreSQL for the sink test: MODELPIPE_PG_URL if set; otherwise, when the
 * server binaries are installed, initdb + postgres in a temp dir on a free loopback port
 * (as the `postgres` user when we are root, since postgres refuses to run as root).
 * Returns a skip reason when neither is possible.
 */
export interface PgServer {
  url: string;
  stop(): Promise<void>;
}

// pg_ctl is needed too (to stop the server).
const BIN_DIRS = ['/usr/local/bin', '/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

export async function startPg(): Promise<PgServer | string> {
  if (process.env.MODELPIPE_PG_URL) return { url: process.env.MODELPIPE_PG_URL, stop: async () => {} };
  const bin = BIN_DIRS.find((d) => ['initdb', 'postgres', 'pg_ctl'].every((b) => existsSync(join(d, b))));
  if (!bin) return 'no PostgreSQL: set MODELPIPE_PG_URL or install the postgresql package';
  const root = process.getuid?.() === 0;
  const asUser = (cmd: string, args: string[]): [string, string[]] =>
    root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const dir = mkdtempSync(join(tmpdir(), 'runinf-pg-'));
  if (root) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return 'running as root and there is no postgres user to run PostgreSQL as';
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  const [c, a] = asUser(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'mp', '--no-sync']);
  const init = spawnSync(c, a, { encoding: 'utf8' });
  if (init.status !== 0) return `initdb failed: ${init.stderr.slice(0, 300)}`;
  const port = await freePort();
  const [pc, pa] = asUser(join(bin, 'postgres'), [
    '-D',
    join(dir, 'data'),
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
  ]);
  const server: ChildProcess = spawn(pc, pa, { stdio: 'ignore' });
  const url = `postgresql://mp@127.0.0.1:${port}/postgres`;
  const pg = (await import('pg')).default;
  const t0 = Date.now();
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => {});
      if (Date.now() - t0 > 15_000) {
        server.kill('SIGKILL');
        return 'PostgreSQL did not start within 15 s';
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      // pg_ctl, not a signal: runuser does not pass SIGINT on to the server.
      const exited = new Promise((r) => server.once('exit', r));
      const [sc, sa] = asUser(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), 'stop', '-m', 'fast']);
      spawnSync(sc, sa, { stdio: 'ignore', timeout: 15_000 });
      if (server.exitCode === null) await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
