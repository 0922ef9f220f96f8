import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { until } from '../helpers/prom.js';
import { repoRoot } from '../helpers/shared.js';
import { CLI, freePort, outputOf, stop } from '../helpers/spawn.js';

/**
 * docs/models.md runs as written: its fenced blocks marked `runnable` are extracted
 * and run in order in a scratch folder. `file=NAME` blocks are written to NAME,
 * `serve` blocks start in the background, `id=NAME` blocks run to completion and
 * their output is checked below. The PyTorch export needs Debian's /usr/bin/python3
 * with torch and onnx (python3-torch, python3-onnx): CI installs them, so there a
 * missing torch fails instead of skipping.
 */

const PYTHON = '/usr/bin/python3';

interface Block {
  lang: string;
  attrs: Record<string, string | true>;
  body: string;
}

function runnableBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  for (const m of markdown.matchAll(/^```(\w+) runnable([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const attrs: Record<string, string | true> = {};
    for (const a of (m[2] as string).trim().split(/\s+/).filter(Boolean)) {
      const [k, v] = a.split('=');
      attrs[k as string] = v ?? true;
    }
    blocks.push({ lang: m[1] as string, attrs, body: m[3] as string });
  }
  return blocks;
}

function torchMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  const msg = `${PYTHON} lacks torch, onnx or numpy (Debian: apt-get install python3-torch python3-onnx): ${r.stderr.trim().split('\n').pop()}`;
  if (process.env.MODELPIPE_REQUIRE_SHARED === '1') throw new Error(msg);
  return msg;
}

const blocks = runnableBlocks(readFileSync(join(repoRoot, 'docs', 'models.md'), 'utf8'));

describe('docs/models.md runs as written', { skip: torchMissing(), timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-models-doc-'));
  const outputs = new Map<string, string>();
  const servers: ChildProcess[] = [];
  const ports = new Map<string, number>();

  /** The doc's ports, replaced by free ones. */
  const localize = (text: string) => text.replace(/127\.0\.0\.1:(900\d)/g, (_, p: string) => `127.0.0.1:${ports.get(p)}`);

  before(async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // `python3` and `modelpipe` as the doc's reader has them.
    writeFileSync(join(bin, 'python3'), `#!/bin/sh\nexec ${PYTHON} "$@"\n`);
    writeFileSync(join(bin, 'modelpipe'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'python3'), 0o755);
    chmodSync(join(bin, 'modelpipe'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    for (const p of ['9000', '9001']) ports.set(p, await freePort());
    for (const b of blocks) {
      const body = localize(b.body);
      if (typeof b.attrs.file === 'string') {
        writeFileSync(join(dir, b.attrs.file), body);
      } else if (b.attrs.serve) {
        servers.push(spawn('bash', ['-c', `exec ${body.trim()}`], { cwd: dir, env, stdio: 'ignore' }));
        const port = /127\.0\.0\.1:(\d+)/.exec(body)?.[1];
        await until(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200, 60_000);
      } else {
        const r = await outputOf(spawn('bash', ['-euo', 'pipefail', '-c', body], { cwd: dir, env }));
        assert.equal(r.code, 0, `block ${b.attrs.id} failed:\n${body}\n${r.stdout}\n${r.stderr}`);
        outputs.set(String(b.attrs.id), r.stdout);
      }
    }
  });

  after(async () => {
    for (const s of servers) await stop(s);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the doc has the runnable blocks this test checks', () => {
    assert.deepEqual(
      blocks.filter((b) => b.attrs.id).map((b) => b.attrs.id),
      ['export', 'check', 'metadata', 'infer', 'pinned'],
    );
    assert.equal(blocks.filter((b) => b.attrs.serve).length, 2);
  });

  test('the export passes onnx.checker at opset 13', () => {
    assert.match(outputs.get('check') as string, /^ok, opset 13$/m);
  });

  test('metadata shows the dynamic batch axis', () => {
    const md = JSON.parse(outputs.get('metadata') as string);
    assert.equal(md.inputs[0].name, 'image');
    assert.deepEqual(md.inputs[0].shape, [-1, 3, 64, 64]);
    assert.equal(md.outputs[0].name, 'probs');
    assert.deepEqual(md.outputs[0].shape, [-1, 14]);
  });

  test("modelpipe's answer matches the numbers PyTorch printed", () => {
    const lines = (outputs.get('export') as string).trim().split('\n');
    const torch = JSON.parse(lines[lines.length - 1] as string) as number[][];
    const served = JSON.parse(outputs.get('infer') as string) as number[][];
    assert.equal(torch.length, 2);
    assert.equal(served.length, 2);
    torch.forEach((row, i) => {
      assert.equal(row.length, 14);
      row.forEach((p, j) => {
        assert.ok(Math.abs(p - (served[i]?.[j] as number)) < 1e-5, `[${i}][${j}] torch ${p} served ${served[i]?.[j]}`);
      });
    });
  });

  test('--value-inputs pins the shape: metadata reports it and a batch of two is refused as the doc says', async () => {
    const md = JSON.parse(outputs.get('pinned') as string);
    assert.equal(md.name, 'chexnet-one');
    assert.deepEqual(md.inputs[0].shape, [1, 3, 64, 64]);
    const r = await outputOf(
      spawn(process.execPath, [CLI, 'infer', localize('http://127.0.0.1:9001'), '--input', 'input.npy'], { cwd: dir }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /MP_ERR_INPUT_DIM/);
  });
});
