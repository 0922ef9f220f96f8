import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SHARED_DIR, needShared, repoRoot } from '../helpers/shared.js';
import { CLI, DIST, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

/** The README's examples, run as written (ports and paths aside), so they stay true. */

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

test("the README's inline-JSON infer example answers what it says, against the model it names", async () => {
  const m = /^node (dist\/examples\/\S+\.js) (\d+) &\nmodelpipe infer http:\/\/127\.0\.0\.1:(\d+) --input '([^']+)'\s+# (.+)$/m.exec(
    readme,
  );
  assert.ok(m, 'README shows a model server and an infer --input JSON example with its answer');
  const [, script, port, inferPort, input, expected] = m as unknown as string[];
  assert.equal(inferPort, port, 'the example calls the server it started');
  const s = await startPrintingUrl([join(DIST, (script as string).replace(/^dist\//, '')), '0']);
  try {
    const r = await runNode([CLI, 'infer', s.url, '--input', input as string]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(expected as string));
  } finally {
    await stop(s.proc);
  }
});

test('every shared file the README and docs/classy.md name exists', { skip: needShared('models') }, () => {
  const docs = readme + readFileSync(join(repoRoot, 'docs', 'classy.md'), 'utf8');
  const named = [...docs.matchAll(/\.\.\/shared\/([\w./-]+\.\w+)/g)].map((x) => x[1] as string);
  // docs/classy.md writes models/ and images/ relative to the shared folder.
  const bare = [...docs.matchAll(/(?<![\w/.])((?:models|images)\/[\w.-]+\.(?:onnx|txt|png|jpg))/g)].map((x) => x[1] as string);
  assert.ok(named.length > 0);
  for (const f of new Set([...named, ...bare])) assert.ok(existsSync(join(SHARED_DIR, f)), `${f} is not in the shared folder`);
  // Images the classy commands (and the upload example) are given must be shared images (mug.png was not).
  const commands = docs.replace(/\\\n\s*/g, ' ').split('\n');
  const shown = commands.filter((l) => /^(modelpipe classy |curl -F )/.test(l.trim()));
  assert.ok(shown.length >= 3);
  for (const line of shown) {
    for (const img of line.matchAll(/(?<![\w/.:-])([\w-]+\.(?:png|jpg))/g)) {
      assert.ok(existsSync(join(SHARED_DIR, 'images', img[1] as string)), `${img[1]} is not a shared image: ${line}`);
    }
  }
});
