import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { needShared, sharedPath } from '../../helpers/shared.js';
import { CLI, runNode, stop } from '../../helpers/spawn.js';
import { type ImageServer, imageBytes, startImageServer } from './image-server.js';

/** `modelpipe classy` as users run it: spawned processes, real sockets, the real model. */
const skip = needShared(
  'models/squeezenet1.1.onnx',
  'models/imagenet-labels.txt',
  'images/mug227.png',
  'images/dog.jpg',
  'images/fish.png',
);
const MODEL = sharedPath('models/squeezenet1.1.onnx');
const LABELS = sharedPath('models/imagenet-labels.txt');

interface Up {
  proc: ChildProcess;
  ends: { model: string; preprocessor: string; downloader: string };
  playground: string;
  logs: () => string;
}

/** Starts `classy up` and waits for its "classy is up" log line, which lists the stage URLs. */
async function startUp(args: string[]): Promise<Up> {
  const proc = spawn(process.execPath, [CLI, 'classy', 'up', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`classy up did not come up:\n${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const up = out.split('\n').find((l) => l.includes('"classy is up'));
      const pg = /web playground on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
      if (up === undefined || pg === undefined) return;
      clearTimeout(t);
      const j = JSON.parse(up) as Up['ends'];
      resolve({ proc, ends: { model: j.model, preprocessor: j.preprocessor, downloader: j.downloader }, playground: pg, logs: () => out });
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`classy up exited with ${code}:\n${out}`)));
  });
}

describe('modelpipe classy CLI', { skip }, () => {
  let images: ImageServer;
  let up: Up | undefined;
  before(async () => {
    images = await startImageServer();
    up = await startUp(['--model', MODEL, '--listen-base', '0', '--allow-private']);
  });
  after(async () => {
    await stop(up?.proc);
    await images?.close();
  });

  test('in-process mode classifies mixed files and URLs in argument order', async () => {
    const r = await runNode([
      CLI,
      'classy',
      '--model',
      MODEL,
      '--labels',
      LABELS,
      '--preset',
      'squeezenet',
      '--allow-private',
      sharedPath('images/mug227.png'),
      `${images.base}/images/hummingbird.jpg`,
      sharedPath('images/dog.jpg'),
      `${images.base}/images/fish.png`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'image 0 is class 504: coffee mug',
        'image 1 is class 94: hummingbird',
        'image 2 is class 207: golden retriever',
        'image 3 is class 0: tench, Tinca tinca',
        '',
      ].join('\n'),
    );
  });

  test('remote mode against running servers, with --top-k and the labels found next to the model', async () => {
    const { downloader, preprocessor } = up!.ends;
    const r = await runNode([
      CLI,
      'classy',
      '--downloader',
      downloader,
      '--preprocessor',
      preprocessor,
      '--model',
      MODEL, // only to find the labels beside it: with --preprocessor, nothing is loaded here
      '--top-k',
      '2',
      `${images.base}/images/dog.jpg`,
      sharedPath('images/mug227.png'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^image 0 is class 207: golden retriever\n {4}2\. class 208: Labrador retriever \(\d+\.\d\d%\)\nimage 1 is class 504: coffee mug\n {4}2\. class 968: cup /,
    );
  });

  test('remote mode fails fast naming the index, or with --keep-going reports every image', async () => {
    const { downloader, preprocessor } = up!.ends;
    const base = [CLI, 'classy', '--downloader', downloader, '--preprocessor', preprocessor, '--labels', LABELS];
    const args = [sharedPath('images/fish.png'), `${images.base}/missing.png`, `${images.base}/images/dog.jpg`];
    const fast = await runNode([...base, ...args]);
    assert.equal(fast.code, 1);
    assert.equal(fast.stdout, '');
    assert.match(fast.stderr, /^modelpipe: MP_ERR_FETCH: url 1 \(http:\/\/127\.0\.0\.1:\d+\/missing\.png\): HTTP 404\n$/);
    const all = await runNode([...base, '--keep-going', ...args, '/nonexistent/file.png']);
    assert.equal(all.code, 1, 'a failed image makes the exit status 1');
    const lines = all.stdout.trim().split('\n');
    assert.equal(lines[0], 'image 0 is class 0: tench, Tinca tinca');
    assert.match(lines[1]!, /^image 1 failed: MP_ERR_FETCH: url 1 \(.*\/missing\.png\): HTTP 404$/);
    assert.equal(lines[2], 'image 2 is class 207: golden retriever');
    assert.match(lines[3]!, /^image 3 failed: MP_ERR_FETCH: image 3 \(\/nonexistent\/file\.png\): cannot read file/);
  });

  test('classy up: logs every server, serves the upload endpoint, stops on SIGTERM with 0', async () => {
    const logs = up!.logs();
    for (const what of ['model server listening on', 'preprocessor listening on', 'downloader listening on', 'web playground on'])
      assert.ok(logs.includes(what), `log says "${what}"`);
    const form = new FormData();
    form.append('data', new Blob([imageBytes('mug227.png')], { type: 'image/png' }), 'mug227.png');
    const res = await fetch(`${up!.playground}/classify`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as [string, number][])[0]?.[0], 'coffee mug');
    const page = await fetch(`${up!.playground}/`);
    assert.match(await page.text(), /<title>Classy playground/);
    assert.equal(await stop(up!.proc, 'SIGTERM'), 0);
    up = undefined;
  });

  test('usage errors exit non-zero with a message', async () => {
    const none = await runNode([CLI, 'classy', sharedPath('images/mug227.png'), '--labels', LABELS]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /MP_ERR_BAD_CONFIG: classy needs --model FILE .* or --preprocessor URL/);
    const help = await runNode([CLI, 'classy', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /modelpipe classy up --model/);
  });
});
