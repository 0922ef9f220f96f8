import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { modelNameOf, resolveModelSource } from '../../src/models/source.js';
import { CLI, freePort, runNode, stop } from '../helpers/spawn.js';
import { needShared, sharedPath } from '../helpers/shared.js';

/**
 * A file server that answers like Python's http.server: HTTP/1.0, Content-Length,
 * the body in 64 KiB writes, then the connection closed right after the last byte.
 * That close, while undici's body stream was paused, crashed the downloader.
 */
function pythonLikeServer(files: Record<string, Buffer>): Server {
  return createServer((sock: Socket) => {
    sock.on('error', () => {});
    let head = '';
    sock.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = /^GET (\S+)/.exec(head)?.[1] ?? '';
      const body = files[path.split('?')[0] as string];
      if (body === undefined) {
        sock.end('HTTP/1.0 404 File not found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      sock.write(`HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3\r\nContent-Type: application/octet-stream\r\n`);
      sock.write(`Content-Length: ${body.length}\r\n\r\n`);
      for (let at = 0; at < body.length; at += 65536) sock.write(body.subarray(at, at + 65536));
      sock.end();
    });
  });
}

describe('model downloads from a server that closes after the body', () => {
  const body = randomBytes(2 * 1024 * 1024 + 123);
  let srv: Server;
  let base: string;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'modelpipe-dl-'));
    dirs.push(d);
    return d;
  };

  before(async () => {
    const files: Record<string, Buffer> = { '/m/big.onnx': body };
    const mnist = needShared('models/mnist.onnx') === false ? readFileSync(sharedPath('models/mnist.onnx')) : undefined;
    if (mnist) files['/m/mnist.onnx'] = mnist;
    srv = pythonLikeServer(files);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  });
  after(() => {
    srv.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('50 downloads in a row, with a slow progress consumer, all complete and leave no .partial', async () => {
    for (let i = 0; i < 50; i++) {
      const dir = tmp();
      // A busy progress callback makes the consumer slower than loopback, as a terminal is.
      const path = await resolveModelSource(`${base}/m/big.onnx`, {
        cacheDir: dir,
        onProgress: () => {
          const t = performance.now();
          while (performance.now() - t < 0.2) {}
        },
      });
      assert.ok(readFileSync(path).equals(body), `download ${i} is intact`);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.endsWith('.partial')),
        [],
      );
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a failed download leaves no .partial, and a dead process’s leftover is removed', async () => {
    const dir = tmp();
    await assert.rejects(resolveModelSource(`${base}/m/absent.onnx`, { cacheDir: dir }), { code: 'MP_ERR_DOWNLOAD' });
    await assert.rejects(resolveModelSource(`${base}/m/big.onnx`, { cacheDir: dir, sha256: '0'.repeat(64) }), {
      code: 'MP_ERR_CHECKSUM',
    });
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.partial')),
      [],
    );
    // A file left by a process that was killed mid-download (pid 2^22+1 is never live).
    const path = await resolveModelSource(`${base}/m/big.onnx`, { cacheDir: dir }).then((p) => {
      rmSync(p);
      return p;
    });
    writeFileSync(`${path}.4194305.partial`, 'half');
    await resolveModelSource(`${base}/m/big.onnx`, { cacheDir: dir });
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.partial')),
      [],
    );
  });

  test('a model is named after its file, not its hash-prefixed cache file', () => {
    assert.equal(modelNameOf('http://h:1/a/squeezenet1.1.onnx?v=2'), 'squeezenet1.1');
    assert.equal(modelNameOf('./models/mnist.onnx'), 'mnist');
  });

  test('modelpipe serve URL serves the model under its file name', { skip: needShared('models/mnist.onnx') }, async () => {
    const dir = tmp();
    const port = await freePort();
    // The progress line prints the download URL first, so wait for the server's own.
    const proc = spawn(process.execPath, [CLI, 'serve', `${base}/m/mnist.onnx`, '--download-dir', dir, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer): void => {
          out += d.toString();
          if (out.includes(`127.0.0.1:${port}`)) resolve();
        };
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const r = await runNode([CLI, 'metadata', `http://127.0.0.1:${port}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { name: string }).name, 'mnist');
      assert.ok(readdirSync(dir).some((f) => /^[0-9a-f]{16}-mnist\.onnx$/.test(f)));
    } finally {
      await stop(proc);
    }
  });
});
