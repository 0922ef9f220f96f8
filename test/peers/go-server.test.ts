import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { metadata, multiRemoteRaw, remote, remoteRaw } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';
import { CLI, runNode } from '../helpers/spawn.js';
import { canon, edgeCases, large } from './cases.js';
import { startIdentityServers } from './modelpipe-servers.js';
import { type GoServer, startGoServers, needPeers } from './peers.js';

function isCode(code: string, msg?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ModelpipeError, String(e));
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  };
}

// modelpipe's client library and CLI against graphpipe-go's ServeRaw (exact metadata) and Serve servers.
describe('modelpipe clients → graphpipe-go servers', { timeout: 240_000, skip: needPeers() }, () => {
  let echo: GoServer;
  let double: GoServer;
  let two: GoServer;
  before(async () => {
    [echo, double, two] = (await startGoServers(['echo', 'double', 'two'])) as [GoServer, GoServer, GoServer];
  });
  after(async () => {
    await Promise.all([echo?.close(), double?.close(), two?.close()]);
  });

  test('ServeRaw: every dtype (float16 included) with its edge values comes back bit for bit', async () => {
    for (const { name, t } of [...edgeCases(), { name: 'large', t: large(4096) }]) {
      const [out] = await multiRemoteRaw(echo.url, [t], { inputNames: ['in0'], outputNames: ['out0'] });
      assert.deepEqual(canon(out as Tensor), canon(t), name);
    }
  });

  test('ServeRaw: several inputs and outputs by name, and the config string', async () => {
    const ins = edgeCases().slice(6, 10);
    const out = await multiRemoteRaw(
      echo.url,
      ins.map((c) => c.t),
      { inputNames: ['in0', 'in1', 'in2', 'in3'], outputNames: ['out3', 'config', 'out0', 'out2', 'out1'], config: 'c ☃ \u0001' },
    );
    assert.deepEqual(
      out.map((t) => canon(t)),
      [ins[3], { t: Tensor.fromStrings(['c ☃ \u0001'], [1]) }, ins[0], ins[2], ins[1]].map((c) => canon((c as { t: Tensor }).t)),
    );
  });

  test('Serve: native Go function, metadata as the peer reports it', async () => {
    assert.deepEqual(
      await remote(double.url, [
        [0, 1],
        [2, 3],
      ]),
      [
        [0, 2],
        [4, 6],
      ],
    );
    const md = await metadata(double.url);
    // graphpipe-go's gp.Serve: int64 and a rank-only shape, whatever the function takes.
    assert.deepEqual(
      md.inputs.map((s) => [s.name, s.type]),
      [['input0', 'int64']],
    );
    const raw = await metadata(echo.url);
    assert.deepEqual(raw.inputs.map((s) => [s.name, s.type, s.shape]).slice(0, 1), [['in0', 'float32', [-1, -1]]]);
  });

  test("graphpipe-go's text errors reach modelpipe's client with the server's message", async () => {
    await assert.rejects(
      multiRemoteRaw(echo.url, [fromNested([[1]], 'float32')], { inputNames: ['in0'], outputNames: ['out9'] }),
      isCode('MP_ERR_REMOTE', /HTTP 400: no input for output "out9"/),
    );
  });

  test('a server that drops the connection after reading the request is not "cannot reach"', async () => {
    // graphpipe-go panics on a zero-element tensor and closes the connection without a reply.
    const empty = new Tensor('float32', [0, 2], new Float32Array(0));
    await assert.rejects(remoteRaw(double.url, empty), isCode('MP_ERR_REMOTE_CLOSED', /closed the connection without answering/));
    // It recovers per connection: the next request is served.
    assert.deepEqual(await remote(double.url, [[1, 1]]), [[2, 2]]);
  });

  test('the number of outputs is checked: a server ignoring output names cannot hand back the wrong tensor', async () => {
    const x = fromNested([[1, 2]], 'float32');
    // gp.Serve returns every output whatever the request names; GraphPipe tensors carry no names.
    await assert.rejects(
      remoteRaw(two.url, x, { outputName: 'output1' }),
      isCode('MP_ERR_BAD_RESPONSE', /asked for 1 output \(output1\), the server returned 2/),
    );
    const both = await multiRemoteRaw(two.url, [x]);
    assert.deepEqual(
      both.map((t) => Array.from(t.data as Float32Array)),
      [
        [1, 2],
        [-1, -2],
      ],
    );
  });

  describe('the CLI', () => {
    const cli = (...args: string[]) => runNode([CLI, ...args]);
    const infer = (input: string, dtype: string) =>
      cli('infer', echo.url, '--input', input, '--dtype', dtype, '--input-name', 'in0', '--output-name', 'out0');

    test('infer: integers are exact (int64 and uint64 extremes, 2^53+1); floats and strings (every dtype: test/cli/json-input)', async () => {
      const cases: [string, string, unknown][] = [
        [
          '[[9223372036854775807, -9223372036854775808, 9007199254740993]]',
          'int64',
          [['9223372036854775807', '-9223372036854775808', '9007199254740993']],
        ],
        ['[[18446744073709551615, 0]]', 'uint64', [['18446744073709551615', 0]]],
        ['[[-2147483648, 2.0, 1e3]]', 'int32', [[-2147483648, 2, 1000]]],
        ['[[1.5, -0.25]]', 'float16', [[1.5, -0.25]]],
        ['[["a", "b\\u0000c"]]', 'float32', [['a', 'b\u0000c']]],
      ];
      for (const [input, dtype, want] of cases) {
        const r = await infer(input, dtype);
        assert.equal(r.code, 0, `${dtype} ${input}: ${r.stderr}`);
        assert.deepEqual(JSON.parse(r.stdout), want, `${dtype} ${input}`);
      }
    });

    test("infer: values out of the dtype's range or not integers are refused, not wrapped", async () => {
      const cases: [string, string, RegExp][] = [
        ['[[9223372036854775808]]', 'int64', /9223372036854775808, out of int64's range/],
        ['[[300]]', 'int8', /300, out of int8's range \[-128, 127\]/],
        ['[[-1]]', 'uint64', /-1, out of uint64's range/],
      ];
      for (const [input, dtype, msg] of cases) {
        const r = await infer(input, dtype);
        assert.equal(r.code, 1, `${dtype} ${input}: ${r.stdout}`);
        assert.match(r.stderr, /MP_ERR_BAD_REQUEST/);
        assert.match(r.stderr, msg);
      }
    });

    test('infer: a dropped connection and a wrong output count have their own codes', async () => {
      const dropped = await cli('infer', double.url, '--input', '[[]]');
      assert.match(dropped.stderr, /MP_ERR_REMOTE_CLOSED/);
      const wrong = await cli('infer', two.url, '--input', '[[1]]', '--output-name', 'output1');
      assert.match(wrong.stderr, /MP_ERR_BAD_RESPONSE.*asked for 1 output/);
    });

    test('metadata: a server whose metadata may be approximate is flagged beside it', async () => {
      const gp = await cli('metadata', double.url);
      assert.equal(gp.code, 0, gp.stderr);
      assert.equal(JSON.parse(gp.stdout).inputs[0].type, 'int64');
      assert.match(gp.stderr, /not a modelpipe server .*metadata may be approximate/);
      const ours = await startIdentityServers();
      try {
        const mp = await cli('metadata', `${ours.url}/models/id-int8`);
        assert.equal(mp.code, 0, mp.stderr);
        assert.equal(JSON.parse(mp.stdout).inputs[0].type, 'int8');
        assert.doesNotMatch(mp.stderr, /approximate/);
      } finally {
        await ours.close();
      }
    });
  });
});
