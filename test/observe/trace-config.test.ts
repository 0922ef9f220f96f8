import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { traceConfigFrom } from '../../src/observe/trace-config.js';

const refused = (f: () => unknown, what: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TRACING_CONFIG' && what.test(e.message));

describe('tracing settings from OTEL_* and --otlp-endpoint', () => {
  test('off unless an endpoint is named or OTEL_TRACES_EXPORTER=otlp', () => {
    assert.equal(traceConfigFrom({}), undefined);
    assert.equal(traceConfigFrom({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }), undefined);
    assert.equal(traceConfigFrom({ OTEL_TRACES_EXPORTER: 'otlp' })?.url, 'http://localhost:4318/v1/traces');
    assert.equal(traceConfigFrom({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), undefined);
    assert.equal(traceConfigFrom({ OTEL_SDK_DISABLED: 'true' }, 'http://c:4318'), undefined);
  });

  test('endpoints: the base gets /v1/traces, the traces one is used as given, the flag wins', () => {
    assert.equal(traceConfigFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })?.url, 'http://c:4318/v1/traces');
    assert.equal(traceConfigFrom({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom' })?.url, 'http://c:4318/custom');
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom' };
    assert.equal(traceConfigFrom(env, 'http://flag:4318')?.url, 'http://flag:4318/v1/traces');
    assert.equal(traceConfigFrom({}, 'https://flag/otlp/v1/traces')?.url, 'https://flag/otlp/v1/traces');
    refused(() => traceConfigFrom({}, 'collector:4318'), /not a URL|http/);
    refused(() => traceConfigFrom({}, 'ftp://collector/'), /http/);
  });

  test('OTEL_RESOURCE_ATTRIBUTES: percent-decoded pairs; one malformed pair discards them all; OTEL_SERVICE_NAME wins over its service.name', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
    const r = traceConfigFrom({ ...on, OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=web-0,k8s.namespace.name=prod,note=a%2Cb%3Dc' });
    assert.deepEqual(r?.resource, { 'k8s.pod.name': 'web-0', 'k8s.namespace.name': 'prod', note: 'a,b=c' });
    assert.deepEqual(traceConfigFrom({ ...on, OTEL_RESOURCE_ATTRIBUTES: 'a=1,broken,c=3' })?.resource, {});
    assert.deepEqual(traceConfigFrom({ ...on, OTEL_RESOURCE_ATTRIBUTES: 'a=%E0%A4%A' })?.resource, {});
    assert.equal(traceConfigFrom({ ...on, OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' })?.serviceName, 'from-attrs');
    assert.equal(
      traceConfigFrom({ ...on, OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs', OTEL_SERVICE_NAME: 'named' })?.serviceName,
      'named',
    );
  });

  test('service name and samplers', () => {
    const c = traceConfigFrom({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'model-a' });
    assert.equal(c?.serviceName, 'model-a');
    assert.equal(c?.samplerName, 'parentbased_always_on');
    const on = (s: string, arg?: string) =>
      traceConfigFrom({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_TRACES_SAMPLER: s,
        ...(arg === undefined ? {} : { OTEL_TRACES_SAMPLER_ARG: arg }),
      })?.samplerName;
    assert.equal(on('always_on'), 'always_on');
    assert.equal(on('traceidratio', '0.25'), 'traceidratio(0.25)');
    assert.equal(on('parentbased_traceidratio'), 'parentbased_traceidratio(1)');
    assert.equal(on('parentbased_always_off'), 'parentbased_always_off');
    refused(() => on('sometimes'), /sometimes/);
    refused(() => on('traceidratio', '2'), /ratio/);
    refused(() => traceConfigFrom({ OTEL_TRACES_EXPORTER: 'zipkin' }), /zipkin/);
  });

  test('batching: OTEL_BSP_* with their defaults; an export batch larger than the queue is cut to it; bad values refused', () => {
    const of = (env: Record<string, string>) => traceConfigFrom({ OTEL_TRACES_EXPORTER: 'otlp', ...env });
    const d = of({});
    assert.deepEqual([d?.scheduleDelayMs, d?.maxExportBatch, d?.maxQueue], [500, 8192, 32768]);
    const c = of({ OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2048', OTEL_BSP_MAX_QUEUE_SIZE: '16384' });
    assert.deepEqual([c?.scheduleDelayMs, c?.maxExportBatch, c?.maxQueue], [100, 2048, 16384]);
    assert.equal(of({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096', OTEL_BSP_MAX_QUEUE_SIZE: '1000' })?.maxExportBatch, 1000);
    refused(() => of({ OTEL_BSP_MAX_QUEUE_SIZE: '0' }), /OTEL_BSP_MAX_QUEUE_SIZE/);
    refused(() => of({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1.5' }), /OTEL_BSP_MAX_EXPORT_BATCH_SIZE/);
    refused(() => of({ OTEL_BSP_SCHEDULE_DELAY: 'soon' }), /OTEL_BSP_SCHEDULE_DELAY/);
  });
});
