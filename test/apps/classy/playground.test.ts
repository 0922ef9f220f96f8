import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Locator, type Page, chromium } from 'playwright-core';
import { loadLabels } from '../../../src/vision/labels.js';
import { type ClassyStack, startStack } from '../../../src/apps/classy/stack.js';
import { needShared, repoRoot, sharedPath } from '../../helpers/shared.js';
import { type ImageServer, startImageServer } from './image-server.js';

/**
 * The web playground in a real browser: Debian's Chromium driven by playwright-core,
 * against the real stack. Screenshots go to test-output/ (gitignored) for a human look.
 */
const skip = needShared('models/squeezenet1.1.onnx', 'models/imagenet-labels.txt', 'images/mug227.png', 'images/dog.jpg');
const OUT = join(repoRoot, 'test-output');

describe('classy web playground in Chromium', { skip }, () => {
  let stack: ClassyStack;
  let images: ImageServer;
  let browser: Browser;
  let page: Page;
  const text = async (l: Locator): Promise<string> => ((await l.textContent()) ?? '').trim();

  before(async () => {
    images = await startImageServer();
    stack = await startStack({
      modelPath: sharedPath('models/squeezenet1.1.onnx'),
      labels: await loadLabels(sharedPath('models/imagenet-labels.txt')),
      preset: 'squeezenet',
      download: { allowPrivate: true },
    });
    const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    if (!existsSync(executablePath))
      throw new Error(`${executablePath} not found: install chromium (sudo scripts/install-system-deps.sh) or set CHROMIUM_PATH`);
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
    mkdirSync(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
    await images?.close();
  });

  test('uploading mug227.png through the file input shows "coffee mug" first, with timings and metadata', async () => {
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(`${stack.playground!.url}/`);
    await page.locator('#meta dd').first().waitFor();
    assert.match(await text(page.locator('#meta')), /squeezenet1\.1[\s\S]*data_0 float32 \[-1, 3, 224, 224\]/);
    await page.setInputFiles('#file', sharedPath('images/mug227.png'));
    await page.locator('#results li .label').first().waitFor();
    const labels = await page.locator('#results li .label').allTextContents();
    assert.equal(labels[0], 'coffee mug');
    assert.equal(labels.length, 5);
    assert.match(await text(page.locator('#results li .p').first()), /^\d+\.\d%$/);
    assert.match(await text(page.locator('#t-preprocess')), /ms$/);
    assert.match(await text(page.locator('#t-model')), /ms$/);
    assert.equal(await text(page.locator('#t-download')), '—', 'an upload is not downloaded');
    await page.waitForTimeout(450); // let the bars finish their transition before the screenshot
    await page.screenshot({ path: join(OUT, 'classy-playground.png'), fullPage: true });
    assert.deepEqual(failed, [], 'no request of the page failed (nothing external)');
  });

  test('pasting an image URL classifies it through the downloader, narrow screen', async () => {
    await page.setViewportSize({ width: 420, height: 900 });
    await page.fill('#url', `${images.base}/images/dog.jpg`);
    await page.click('#url-form button');
    await page.locator('#results li .label', { hasText: 'golden retriever' }).first().waitFor();
    assert.equal((await page.locator('#results li .label').allTextContents())[0], 'golden retriever');
    assert.match(await text(page.locator('#t-download')), /ms$/);
    await page.screenshot({ path: join(OUT, 'classy-playground-narrow.png'), fullPage: true });
  });

  test('an undecodable upload shows the error', async () => {
    await page.setInputFiles('#file', { name: 'junk.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await page.locator('#status.error').waitFor();
    assert.match(await text(page.locator('#status')), /MP_ERR_IMAGE_DECODE: image 0: /);
  });
});
