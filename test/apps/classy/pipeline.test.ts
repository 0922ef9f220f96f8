import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClassifyResult, type ClassyInput, classifyImages, predictions } from '../../../src/apps/classy/client.js';
import { downloaderModel } from '../../../src/apps/classy/downloader-server.js';
import { formatPrediction, loadLabels } from '../../../src/vision/labels.js';
import { preprocessorModel } from '../../../src/apps/classy/preprocessor-server.js';
import { type ClassyStack, startStack } from '../../../src/apps/classy/stack.js';
import { multiRemoteRaw } from '../../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../../src/errors/index.js';
import { type RunningServer, serveModel } from '../../../src/server/serve.js';
import { Tensor } from '../../../src/tensor/index.js';
import { needShared, sharedPath } from '../../helpers/shared.js';
import { type ImageServer, imageBytes, startImageServer } from './image-server.js';

/**
 * Classy through real servers: loopback image server → downloader → preprocessor →
 * SqueezeNet model server (onnxruntime), all over GraphPipe on real sockets.
 */
const IMAGES = ['mug227.png', 'hummingbird.jpg', 'dog.jpg', 'fish.png'];
const skip = needShared('models/squeezenet1.1.onnx', 'models/imagenet-labels.txt', ...IMAGES.map((n) => `images/${n}`));
// Generous: the body-limit cases must hit the limit before it on a loaded machine.
const TIMEOUT_MS = 1500;

describe('classy pipeline over HTTP', { skip }, () => {
  let images: ImageServer;
  let stack: ClassyStack;
  let strict: RunningServer; // a downloader with the default address policy
  let bare: RunningServer; // a preprocessor with no next hop
  let labels: string[];
  const url = (path: string): { url: string } => ({ url: `${images.base}${path}` });

  before(async () => {
    images = await startImageServer();
    labels = await loadLabels(sharedPath('models/imagenet-labels.txt'));
    stack = await startStack({
      modelPath: sharedPath('models/squeezenet1.1.onnx'),
      labels,
      preset: 'squeezenet',
      download: { allowPrivate: true, timeoutMs: TIMEOUT_MS, maxBytes: 1024 * 1024 },
    });
    strict = await serveModel(downloaderModel({ allowHops: [stack.endpoints.preprocessor] }));
    bare = await serveModel(preprocessorModel({ preset: 'squeezenet' }));
  });
  after(async () => {
    await stack?.close();
    await strict?.close();
    await bare?.close();
    await images?.close();
  });

  const top1 = (r: ClassifyResult): (string | undefined)[] =>
    r.images.map((o) => (o.ok ? formatPrediction(o.index, predictions(o, 1, labels)[0]!) : undefined));

  test('each shared image gets its class through downloader → preprocessor → model', async () => {
    const r = await classifyImages(
      IMAGES.map((n) => url(`/images/${n}`)),
      stack.endpoints,
    );
    assert.deepEqual(top1(r), [
      'image 0 is class 504: coffee mug',
      'image 1 is class 94: hummingbird',
      'image 2 is class 207: golden retriever',
      'image 3 is class 0: tench, Tinca tinca',
    ]);
    for (const stage of ['download', 'preprocess', 'model']) assert.ok((r.timings[stage] ?? -1) > 0, `timing for ${stage}`);
  });

  const failures: [string, string, string, RegExp][] = [
    ['corrupt image', '/corrupt.png', 'MP_ERR_IMAGE_DECODE', /^image 1: /],
    ['404 URL', '/missing.png', 'MP_ERR_FETCH', /^url 1 \(http:\/\/127\.0\.0\.1:\d+\/missing\.png\): HTTP 404$/],
    ['slow URL', '/slow', 'MP_ERR_TIMEOUT', new RegExp(`^url 1 \\(.*/slow\\): timed out after ${TIMEOUT_MS} ms$`)],
    ['oversized body', '/big-chunked', 'MP_ERR_FETCH', /^url 1 \(.*\/big-chunked\): body exceeds limit of 1048576 bytes$/],
    ['announced oversized body', '/big-announced', 'MP_ERR_FETCH', /^url 1 .*: body of 50000000 bytes announced, limit 1048576$/],
  ];
  for (const [what, path, code, message] of failures) {
    test(`fail fast: a ${what} fails the request with ${code}, naming index 1`, async () => {
      const t0 = performance.now();
      await assert.rejects(classifyImages([url('/images/dog.jpg'), url(path)], stack.endpoints), (err: unknown) => {
        assert.ok(err instanceof ModelpipeError);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      });
      assert.ok(performance.now() - t0 < TIMEOUT_MS + 2000, 'the failure came promptly');
    });
  }

  test('a private address is refused without --allow-private, naming the index', async () => {
    const ends = { downloader: strict.url, preprocessor: stack.endpoints.preprocessor };
    const hitsBefore = images.hits.length;
    await assert.rejects(classifyImages([url('/images/mug227.png')], ends), (err: unknown) => {
      assert.ok(err instanceof ModelpipeError);
      assert.equal(err.code, 'MP_ERR_FORBIDDEN_ADDRESS');
      assert.match(
        err.message,
        /^url 0 \(http:\/\/127\.0\.0\.1:\d+\/images\/mug227\.png\): 127\.0\.0\.1: refused, loopback address \(to allow it, start the downloader with --allow-address 127\.0\.0\.1 or --allow-private;/,
      );
      return true;
    });
    const r = await classifyImages([url('/images/mug227.png'), { url: 'http://169.254.169.254/latest/meta-data/' }], ends, {
      keepGoing: true,
    });
    assert.ok(r.images.every((o) => !o.ok && o.error.code === 'MP_ERR_FORBIDDEN_ADDRESS'));
    assert.equal(images.hits.length, hitsBefore, 'the image server was never contacted');
  });

  test('keep-going: every failure is reported by index and the other images still classify', async () => {
    const paths = ['/images/mug227.png', '/missing.png', '/corrupt.png', '/slow', '/big-chunked', '/images/dog.jpg'];
    const r = await classifyImages(paths.map(url), stack.endpoints, { keepGoing: true });
    assert.deepEqual(top1(r), [
      'image 0 is class 504: coffee mug',
      undefined,
      undefined,
      undefined,
      undefined,
      'image 5 is class 207: golden retriever',
    ]);
    const errs = r.images.map((o) => (o.ok ? '' : `${o.error.code}: ${o.error.message}`));
    assert.match(errs[1]!, /^MP_ERR_FETCH: url 1 \(.*\/missing\.png\): HTTP 404$/);
    assert.match(errs[2]!, /^MP_ERR_IMAGE_DECODE: image 2: /);
    assert.match(errs[3]!, /^MP_ERR_TIMEOUT: url 3 .*timed out/);
    assert.match(errs[4]!, /^MP_ERR_FETCH: url 4 .*exceeds limit/);
  });

  test('keep-going with every image failing answers all errors and no rows', async () => {
    const r = await classifyImages([url('/missing.png'), url('/corrupt.png')], stack.endpoints, { keepGoing: true });
    assert.deepEqual(
      r.images.map((o) => (o.ok ? 'ok' : o.error.code)),
      ['MP_ERR_FETCH', 'MP_ERR_IMAGE_DECODE'],
    );
    assert.equal(r.timings.model, undefined, 'the model was not called');
  });

  test('files enter at the preprocessor, URLs at the downloader; indices are the caller’s', async () => {
    const inputs: ClassyInput[] = [
      { bytes: new Uint8Array([1, 2, 3]), name: 'junk' },
      url('/missing.png'),
      { bytes: imageBytes('fish.png'), name: 'fish.png' },
      url('/images/hummingbird.jpg'),
    ];
    const r = await classifyImages(inputs, stack.endpoints, { keepGoing: true });
    assert.deepEqual(top1(r), [undefined, undefined, 'image 2 is class 0: tench, Tinca tinca', 'image 3 is class 94: hummingbird']);
    assert.match((r.images[0] as { error: Error }).error.message, /^image 0: unsupported/);
    assert.match((r.images[1] as { error: Error }).error.message, /^url 1 \(/);
    await assert.rejects(classifyImages(inputs, stack.endpoints), /image 0: unsupported|url 1 \(/);
  });

  test('a preprocessor without a next hop answers the preprocessed batch', async () => {
    const [out, errors] = await multiRemoteRaw(bare.url, [Tensor.fromStrings([imageBytes('dog.jpg'), imageBytes('mug227.png')])], {
      outputNames: ['output', 'errors'],
    });
    assert.deepEqual(out?.shape, [2, 3, 224, 224]);
    assert.equal(out?.dtype, 'float32');
    assert.deepEqual(errors?.strings(), ['', '']);
  });

  test('POST /classify (multipart, field data) answers top-5 [label, probability] JSON', async () => {
    const form = new FormData();
    form.append('data', new Blob([imageBytes('mug227.png')], { type: 'image/png' }), 'mug227.png');
    const res = await fetch(`${stack.playground!.url}/classify`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const body = (await res.json()) as [string, number][];
    assert.equal(body.length, 5);
    assert.equal(body[0]![0], 'coffee mug');
    assert.ok(body[0]![1] > 0.5 && body.every(([, p], i) => i === 0 || p <= body[i - 1]![1]));
  });

  test('bad uploads answer 400 with a JSON error', async () => {
    const post = async (body: string | FormData, headers: Record<string, string> = {}) => {
      const res = await fetch(`${stack.playground!.url}/classify`, { method: 'POST', body, headers });
      return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
    };
    const noFile = new FormData();
    noFile.append('other', 'x');
    const junk = new FormData();
    junk.append('data', new Blob([new Uint8Array([1, 2, 3, 4])]), 'junk.bin');
    const cases: [string, Promise<{ status: number; body: { error: { code: string; message: string } } }>, string][] = [
      ['no data field', post(noFile), 'MP_ERR_BAD_REQUEST'],
      ['not an image', post(junk), 'MP_ERR_IMAGE_DECODE'],
      ['not multipart', post('hello', { 'content-type': 'text/plain' }), 'MP_ERR_BAD_REQUEST'],
      ['broken multipart', post('--x\r\nbroken', { 'content-type': 'multipart/form-data; boundary=x' }), 'MP_ERR_BAD_REQUEST'],
    ];
    for (const [what, p, code] of cases) {
      const r = await p;
      assert.equal(r.status, 400, what);
      assert.equal(r.body.error.code, code, what);
      assert.ok(r.body.error.message.length > 0);
    }
  });

  test('POST /api/classify with a url field times every stage server-side', async () => {
    const form = new FormData();
    form.append('url', `${images.base}/images/hummingbird.jpg`);
    const res = await fetch(`${stack.playground!.url}/api/classify`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { predictions: { label: string }[]; timings: Record<string, number> };
    assert.equal(body.predictions[0]?.label, 'hummingbird');
    for (const k of ['download', 'preprocess', 'model', 'total']) assert.ok((body.timings[k] ?? -1) > 0, k);
  });
});
