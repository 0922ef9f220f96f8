import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type Page, chromium } from 'playwright-core';

/**
 * Opens a local HTML file in headless Chromium (Debian's, or CHROMIUM_PATH) with every
 * network request refused, runs `check` on the page, then asserts the page fetched
 * nothing and threw or logged no error. For the self-contained reports (perf, tune).
 */
export async function checkOfflinePage(path: string, check: (page: Page) => Promise<void>): Promise<void> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: install chromium (sudo scripts/install-system-deps.sh) or set CHROMIUM_PATH`);
  }
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    const fetched: string[] = [];
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith('file:')) return route.continue();
      fetched.push(u);
      return route.abort();
    });
    const thrown: string[] = [];
    page.on('pageerror', (e) => thrown.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') thrown.push(m.text());
    });
    await page.goto(pathToFileURL(path).href);
    await check(page);
    assert.deepEqual(fetched, [], 'the page needs no network');
    assert.deepEqual(thrown, [], 'the page throws nothing');
  } finally {
    await browser.close();
  }
}
