import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KSERVE_MODEL_DIR, servingRuntime } from '../../src/deploy/kserve.js';
import { ENTRYPOINT, deployment } from '../../src/deploy/manifests.js';
import { needShared, repoRoot, sharedPath } from '../helpers/shared.js';
import { OtlpReceiver } from '../helpers/otlp.js';
import { stop } from '../helpers/spawn.js';

/**
 * Starts modelpipe exactly as the generated Deployment and ServingRuntime run it (their
 * command, args and env), with only what a cluster provides swapped for loopback
 * stand-ins: the image's paths, the listen addresses, the Downward API's CPU limit,
 * the model location and KServe's {{.Name}}. So the manifests cannot drift from the CLI.
 */
const skip = needShared('models/mnist.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'mp-manifest-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory laid out as KServe's storage initializer leaves /mnt/models: one model file directly inside. */
function mntModels(): string {
  const d = join(tmp, 'mnt-models');
  mkdirSync(d, { recursive: true });
  copyFileSync(sharedPath('models/mnist.onnx'), join(d, 'mnist.onnx'));
  return d;
}

type Env = {
  name: string;
  value?: string;
  valueFrom?: { resourceFieldRef?: { resource: string }; fieldRef?: { fieldPath: string } };
};

/** What the Downward API would give a pod named web-0 in namespace prod. */
const FIELDS: Record<string, string> = { 'metadata.name': 'web-0', 'metadata.namespace': 'prod' };
type Container = { command: string[]; args: string[]; env: Env[] };

function localize(s: string, models: string): string {
  if (s === KSERVE_MODEL_DIR || s.startsWith('https://')) return models;
  if (/^0\.0\.0\.0:\d+$/.test(s)) return '127.0.0.1:0';
  if (s === '{{.Name}}') return 'digits';
  if (s === '/var/cache/modelpipe') return join(tmp, 'downloads');
  return s.startsWith('/app/') ? join(repoRoot, s.slice('/app/'.length)) : s;
}

async function startAs(
  c: Container,
  extraEnv: Record<string, string> = {},
): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
  const models = mntModels();
  // tini is PID 1 in the image: it only forwards signals, so it is left out here.
  assert.deepEqual(c.command, ENTRYPOINT);
  assert.deepEqual(c.command.slice(0, 2), ['/usr/bin/tini', '--']);
  const [node, ...rest] = c.command.slice(2).map((s) => localize(s, models));
  assert.equal(node, 'node');
  const env: Record<string, string> = {};
  for (const e of c.env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (e.valueFrom?.resourceFieldRef?.resource === 'limits.cpu') env[e.name] = '1';
    else if (field !== undefined && FIELDS[field] !== undefined) env[e.name] = FIELDS[field];
    // $(VAR) refers to an entry above, as Kubernetes expands it.
    else if (e.value !== undefined) env[e.name] = localize(e.value, models).replace(/\$\(([A-Z_]+)\)/g, (m, v: string) => env[v] ?? m);
    else assert.fail(`env ${e.name}: a source this test cannot stand in for`);
  }
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MODELPIPE_') || k === 'MODELPIPE_SHARED'));
  const args = [...rest, ...c.args.map((s) => localize(s, models))];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env, ...extraEnv } });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL within 30 s:\n${out}`)), 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /serving \S+ on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1] as string);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return { proc, url, output: () => out };
}

async function checkServes(url: string, name: string, paths: string[]): Promise<void> {
  for (const p of paths) assert.equal((await fetch(url + p)).status, 200, p);
  const meta = (await (await fetch(`${url}/v2/models/${name}`)).json()) as {
    name: string;
    inputs: { name: string; datatype: string; shape: number[] }[];
  };
  assert.equal(meta.name, name);
  const input = meta.inputs[0] as { name: string; datatype: string; shape: number[] };
  const shape = input.shape.map((d) => (d < 0 ? 1 : d));
  const res = await fetch(`${url}/v2/models/${name}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [{ name: input.name, datatype: input.datatype, shape, data: new Array(shape.reduce((a, b) => a * b, 1)).fill(0.5) }],
    }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { model_name: string; outputs: { data: number[] }[] };
  assert.equal(body.model_name, name);
  assert.ok((body.outputs[0]?.data.length ?? 0) > 0);
}

test("the Deployment's command, args and env start a server whose probes, v2 metadata and inference answer", { skip }, async () => {
  const pod = (deployment() as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec;
  // An operator turns tracing on by naming a collector: the spans then say which pod served them.
  const receiver = await new OtlpReceiver().start();
  const s = await startAs(pod.containers[0] as Container, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' });
  try {
    // MODELPIPE_MODEL names a directory: the model takes its file's stem.
    await checkServes(s.url, 'mnist', ['/health/live', '/health/ready', '/metrics']);
    await receiver.waitFor((spans) => spans.some((x) => x.name === 'modelpipe.request'));
    const span = receiver.spans.find((x) => x.name === 'modelpipe.request');
    assert.equal(span?.service, 'modelpipe');
    assert.equal(span?.resource['k8s.pod.name'], 'web-0');
    assert.equal(span?.resource['k8s.namespace.name'], 'prod');
  } finally {
    assert.equal(await stop(s.proc), 0, s.output());
    await receiver.close();
  }
});

test("the ServingRuntime's command and args (with {{.Name}} filled in) serve /mnt/models under the InferenceService's name", {
  skip,
}, async () => {
  const rt = servingRuntime() as { spec: { containers: (Container & { readinessProbe: { httpGet: { path: string } } })[] } };
  const c = rt.spec.containers[0] as Container & { readinessProbe: { httpGet: { path: string } } };
  const s = await startAs(c);
  try {
    await checkServes(s.url, 'digits', [c.readinessProbe.httpGet.path, '/v2/health/live']);
  } finally {
    assert.equal(await stop(s.proc), 0, s.output());
  }
});
