import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GrpcChannel } from '../../src/client/grpc-channel.js';
import { toNpy } from '../../src/tensor/index.js';
import { argmax, squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const skip = needShared('models/squeezenet1.1.onnx', 'models/mnist.onnx', 'images/mug227.png');

describe('modelpipe serve --repository --grpc-listen, infer/metadata --protocol v2|v2-grpc', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-cli-repo-'));
  let proc: ChildProcess | undefined;
  let url = '';
  let grpcPort = 0;
  before(async () => {
    for (const [name, file] of [
      ['squeezenet', 'squeezenet1.1.onnx'],
      ['mnist', 'mnist.onnx'],
    ]) {
      mkdirSync(join(dir, 'repo', name as string, '1'), { recursive: true });
      symlinkSync(sharedPath(`models/${file}`), join(dir, 'repo', name as string, '1', 'model.onnx'));
    }
    writeFileSync(join(dir, 'mug.npy'), toNpy(await squeezenetInput(sharedPath('images/mug227.png'))));
    // Pick a free port for gRPC by asking the OS through a throwaway server.
    const { createServer } = await import('node:net');
    grpcPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const s = await startPrintingUrl([
      CLI,
      'serve',
      '--repository',
      join(dir, 'repo'),
      '--default-model',
      'squeezenet',
      '--listen',
      '127.0.0.1:0',
      '--grpc-listen',
      `127.0.0.1:${grpcPort}`,
      '--grpc-max-connections',
      '2',
      '--grpc-max-streams',
      '8',
    ]);
    proc = s.proc;
    url = s.url;
  });
  after(async () => {
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const protocol of ['graphpipe', 'v2', 'v2-grpc']) {
    test(`infer --protocol ${protocol} classifies the mug`, async () => {
      const target = protocol === 'v2-grpc' ? `127.0.0.1:${grpcPort}` : url;
      const r = await runNode([CLI, 'infer', target, '--input', join(dir, 'mug.npy'), '--protocol', protocol, '--model', 'squeezenet']);
      assert.equal(r.code, 0, r.stderr);
      const probs = (JSON.parse(r.stdout) as number[][][][])[0]?.map((x) => x[0]?.[0] as number) ?? [];
      assert.equal(argmax(probs), 504);
    });
  }

  test('metadata --protocol v2-grpc and unknown models', async () => {
    const r = await runNode([CLI, 'metadata', `grpc://127.0.0.1:${grpcPort}`, '--protocol', 'v2-grpc', '--model', 'mnist']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { inputs: { name: string }[] }).inputs[0]?.name, 'Input3');
    const bad = await runNode([CLI, 'metadata', url, '--protocol', 'v2', '--model', 'nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /MP_ERR_UNKNOWN_MODEL: .*unknown model "nope"/);
  });
  test('--grpc-max-connections and --grpc-max-streams reach the gRPC server', async () => {
    const live = '/inference.GRPCInferenceService/ServerLive';
    const o = { timeoutMs: 5000, maxReceiveBytes: 1024 };
    const held = [new GrpcChannel(`127.0.0.1:${grpcPort}`), new GrpcChannel(`127.0.0.1:${grpcPort}`)];
    const extra = new GrpcChannel(`127.0.0.1:${grpcPort}`);
    try {
      for (const ch of held) await ch.unary(live, [], o);
      const err = (await extra.unary(live, [], o).catch((e: unknown) => e)) as Error;
      assert.match(err.message, /UNAVAILABLE: .*limit of 2 connections/);
      const session = http2.connect(`http://127.0.0.1:${grpcPort}`);
      session.on('error', () => {});
      held[0]?.close();
      await new Promise((r) => session.once('remoteSettings', r));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 8);
      session.close();
    } finally {
      for (const ch of [...held, extra]) ch.close();
    }
  });
});
