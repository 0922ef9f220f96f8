import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StaticDiscovery } from '../../../src/client/endpoints/static-discovery.js';
import { registerDiscovery } from '../../../src/client/endpoints/schemes.js';
import { closeDefaultClients } from '../../../src/client/oip-client.js';
import { needHttpUrl } from '../../../src/cli/checks.js';
import { ModelpipeError } from '../../../src/errors/index.js';
import { FunctionModel } from '../../../src/models/function-model.js';
import { validatePipelineDef } from '../../../src/runinference/pipeline-def.js';
import { HopPolicy } from '../../../src/sequencing/hop-policy.js';
import { chain } from '../../../src/sequencing/sequencing.js';
import { type RunningServer, serveModel } from '../../../src/server/serve.js';
import type { Tensor } from '../../../src/tensor/index.js';
import { doubled, input, io } from '../doubling-model.js';
import { deadUrl } from './fault-proxy.js';

/** The places that read a target string themselves accept lists and discovery URLs, and check every endpoint. */

// A discovery scheme of the test's own (the real ones, dns:// and friends, register the same way).
registerDiscovery('listed://', (url) => new StaticDiscovery(url.slice('listed://'.length)));

const badConfig = (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG';

describe('targets', () => {
  test('the hop allow-list checks each endpoint of a list, and refuses a discovery URL', () => {
    const p = new HopPolicy(['http://127.0.0.1:9001']);
    assert.equal(p.refusal('http://127.0.0.1:9001'), undefined);
    assert.match(p.refusal('http://127.0.0.1:9001,http://127.0.0.1:9002') ?? '', /127\.0\.0\.1:9002: not among the allowed/);
    assert.equal(new HopPolicy(['127.0.0.0/8']).refusal('http://127.0.0.1:9001,http://127.0.0.2:9002'), undefined);
    assert.match(new HopPolicy(['127.0.0.0/8']).refusal('listed://http://127.0.0.1:9001') ?? '', /discovery URL/);
    assert.throws(
      () => p.check('http://127.0.0.1:9001,http://10.0.0.1:1'),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_FORBIDDEN_ADDRESS',
    );
  });

  test('the CLI checks the scheme of every URL of a list', () => {
    needHttpUrl('http://127.0.0.1:1,https://127.0.0.1:2');
    needHttpUrl('listed://anything');
    assert.throws(() => needHttpUrl('http://127.0.0.1:1,127.0.0.1:2'), badConfig);
  });

  test('a pipeline handler takes a list or a discovery URL; each URL of a list must be http(s) or grpc', () => {
    const def = (url: string, type = 'graphpipe') => ({
      source: { type: 'stdin' },
      handler: { type, url, model: 'm' },
      sink: { type: 'stdout' },
    });
    validatePipelineDef(def('http://127.0.0.1:1,http://127.0.0.1:2'));
    validatePipelineDef(def('listed://http://127.0.0.1:1'));
    validatePipelineDef(def('grpc://127.0.0.1:1,grpc://127.0.0.1:2', 'oip'));
    assert.throws(
      () => validatePipelineDef(def('http://127.0.0.1:1,ftp://127.0.0.1:2')),
      (e: unknown) => e instanceof ModelpipeError,
    );
    assert.throws(
      () => validatePipelineDef(def('http://127.0.0.1:1,grpc://127.0.0.1:2')),
      (e: unknown) => e instanceof ModelpipeError,
    );
  });

  describe('client sequencing over a list and a discovery URL, one endpoint dead', () => {
    let srv: RunningServer;
    let dead: string;
    before(async () => {
      srv = await serveModel(new FunctionModel((i) => ({ y: doubled(i.x as Tensor) }), { name: 'double', ...io }));
      dead = await deadUrl('http');
    });
    after(async () => {
      await closeDefaultClients();
      await srv.close();
    });

    test('every call of the chain succeeds', async () => {
      for (let i = 0; i < 4; i++) {
        const [a, b] = await chain([`${dead},${srv.url}`, `listed://${srv.url},${dead}`], input());
        assert.deepEqual([...((a as Tensor).data as Float32Array)], [3, -4]);
        assert.deepEqual([...((b as Tensor).data as Float32Array)], [6, -8]);
      }
    });
  });
});
