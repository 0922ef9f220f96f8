import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { inferenceService, servingRuntime } from '../../src/deploy/kserve.js';
import {
  DEFAULTS,
  deployment,
  gracePeriodSeconds,
  headlessService,
  horizontalPodAutoscaler,
  podDisruptionBudget,
  service,
} from '../../src/deploy/manifests.js';
import { renderManifests } from '../../src/deploy/write-manifests.js';
import { toYaml } from '../../src/deploy/yaml.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { type Schema, validateSchema } from '../helpers/crd-schema.js';
import { repoRoot } from '../helpers/shared.js';

test('the committed YAML under deploy/ is exactly what src/deploy generates (run `npm run manifests` after a change)', () => {
  const files = renderManifests();
  assert.ok(Object.keys(files).length >= 7);
  for (const [path, text] of Object.entries(files)) {
    const committed = readFileSync(join(repoRoot, path), 'utf8');
    assert.equal(committed, text, `${path} drifted from src/deploy: run npm run manifests`);
  }
});

// biome-ignore lint/suspicious/noExplicitAny: kubernetes-models' constructors take their own typed shapes; these are plain objects.
type Model = new (o: any) => { validate(): void };
const K8S: [string, object, Model][] = [
  ['Deployment', deployment(), Deployment],
  ['Service', service(), Service],
  ['headless Service', headlessService(), Service],
  ['HorizontalPodAutoscaler', horizontalPodAutoscaler(), HorizontalPodAutoscaler],
  ['PodDisruptionBudget', podDisruptionBudget(), PodDisruptionBudget],
];

test('every Kubernetes object passes the Kubernetes schema (kubernetes-models, offline)', () => {
  for (const [what, obj, M] of K8S) assert.doesNotThrow(() => new M(obj).validate(), what);
});

test('a broken object fails that validation: the check can fail', () => {
  const d = structuredClone(deployment());
  const port = d.spec?.template.spec?.containers[0]?.ports?.[0] as unknown as Record<string, unknown>;
  port.containerPort = 'eighty';
  assert.throws(() => new Deployment(d).validate());
  const noName = structuredClone(deployment());
  const container = noName.spec?.template.spec?.containers[0] as unknown as Record<string, unknown>;
  delete container.name;
  assert.throws(() => new Deployment(noName).validate());
  assert.throws(() => new Service({ ...service(), spec: { ports: 'http' } } as never).validate());
});

test('the Deployment probes, drains and ties --processes to the CPU limit; the Services expose discovery and metrics', () => {
  const pod = deployment().spec?.template.spec;
  const c = pod?.containers[0];
  assert.equal(c?.readinessProbe?.httpGet?.path, '/health/ready');
  assert.equal(c?.livenessProbe?.httpGet?.path, '/health/live');
  const startup = c?.startupProbe;
  assert.ok((startup?.failureThreshold ?? 0) * (startup?.periodSeconds ?? 0) >= DEFAULTS.startupSeconds);
  // Kubernetes kills at the grace period: it must cover the preStop sleep and the whole drain.
  assert.ok((pod?.terminationGracePeriodSeconds ?? 0) > DEFAULTS.preStopSeconds + DEFAULTS.drainTimeoutMs / 1000);
  assert.equal(pod?.terminationGracePeriodSeconds, gracePeriodSeconds(DEFAULTS));
  const env = c?.env ?? [];
  assert.equal(env.find((e) => e.name === 'MODELPIPE_CPU_LIMIT')?.valueFrom?.resourceFieldRef?.resource, 'limits.cpu');
  assert.equal(env.find((e) => e.name === 'MODELPIPE_DRAIN_TIMEOUT')?.value, String(DEFAULTS.drainTimeoutMs));
  const headless = headlessService().spec;
  assert.equal(headless?.clusterIP, 'None');
  assert.deepEqual(headless?.ports?.map((p) => p.name).sort(), ['grpc', 'http']);
  assert.equal(service().spec?.ports?.find((p) => p.name === 'metrics')?.targetPort, 'http');
});

function crd(file: string): { group: string; version: string; kind: string; schema: Schema } {
  return JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'kserve', file), 'utf8'));
}

const KSERVE: [string, () => object][] = [
  ['servingruntime.crd-schema.json', servingRuntime],
  ['inferenceservice.crd-schema.json', inferenceService],
];

test("the ServingRuntime and InferenceService pass KServe's own CRD schemas (copied from kserve/kserve)", () => {
  for (const [file, make] of KSERVE) {
    const c = crd(file);
    const obj = make() as { apiVersion: string; kind: string };
    assert.equal(obj.apiVersion, `${c.group}/${c.version}`);
    assert.equal(obj.kind, c.kind);
    assert.deepEqual(validateSchema(obj, c.schema), [], file);
  }
  const rt = servingRuntime() as {
    spec: { supportedModelFormats: { name: string }[]; protocolVersions: string[]; containers: { args: string[] }[] };
  };
  assert.deepEqual(
    rt.spec.supportedModelFormats.map((f) => f.name),
    ['onnx'],
  );
  assert.deepEqual(rt.spec.protocolVersions, ['v2', 'grpc-v2']);
  assert.ok(rt.spec.containers[0]?.args.includes('{{.Name}}'));
});

test('broken KServe objects fail the CRD schema: an unknown field, a wrong type, a missing required field', () => {
  const rt = crd('servingruntime.crd-schema.json');
  const good = servingRuntime() as { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
  const typo = structuredClone(good);
  (typo.spec.containers[0] as Record<string, unknown>).argz = ['serve'];
  assert.match(validateSchema(typo, rt.schema).join('\n'), /containers\[0\]\.argz: unknown field/);
  const wrongType = structuredClone(good);
  wrongType.spec.protocolVersions = 'v2';
  assert.match(validateSchema(wrongType, rt.schema).join('\n'), /protocolVersions: expected array/);
  const noName = structuredClone(good);
  delete (noName.spec.containers[0] as Record<string, unknown>).name;
  assert.match(validateSchema(noName, rt.schema).join('\n'), /missing required name/);
  const isvc = crd('inferenceservice.crd-schema.json');
  const bad = inferenceService() as { spec: { predictor: { model: Record<string, unknown> } } };
  bad.spec.predictor.model.modelFormat = 'onnx';
  assert.match(validateSchema(bad, isvc.schema).join('\n'), /modelFormat: expected object/);
});

test('toYaml refuses a value YAML cannot hold with MP_ERR_BAD_CONFIG', () => {
  assert.throws(
    () => toYaml({ replicas: 10n }),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG' && /cannot write bigint as YAML/.test(e.message),
  );
});
