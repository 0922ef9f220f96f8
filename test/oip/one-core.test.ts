import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { type Tensor, concat } from '../../src/tensor/index.js';
import { argmax, squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const skip = needShared('models/squeezenet1.1.onnx', 'images/mug227.png', 'images/dog.jpg');

let srv: RunningServer;
let grpc: OipGrpcServer;
let g = '';
before(async () => {
  if (skip) return;
  srv = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }));
  grpc = new OipGrpcServer({ engine: srv.engine });
  g = `grpc://127.0.0.1:${await grpc.listen(0)}`;
});
after(async () => {
  closeGrpcClients();
  await grpc?.close();
  await srv?.close();
});

test('one core: the same squeezenet inputs give identical outputs over GraphPipe, OIP REST (JSON and binary) and OIP gRPC', {
  skip,
}, async () => {
  const batch = concat([await squeezenetInput(sharedPath('images/mug227.png')), await squeezenetInput(sharedPath('images/dog.jpg'))]);
  const [gp] = (await multiRemoteRaw(srv.url, [batch])) as [Tensor];
  const name = 'squeezenet1.1'; // the file's stem
  const results = [
    await infer(srv.url, name, { data_0: batch }, { binary: true }),
    await infer(srv.url, name, { data_0: batch }, { binary: false }),
    await infer(g, name, { data_0: batch }, { binary: true }),
    await infer(g, name, { data_0: batch }, { binary: false }),
  ];
  const probs = gp.data as Float32Array;
  assert.deepEqual([argmax(probs.subarray(0, 1000)), argmax(probs.subarray(1000))], [504, 207]);
  for (const r of results) {
    assert.equal(r.modelName, name);
    const t = r.outputs.softmaxout_1 as Tensor;
    assert.deepEqual(t.shape, [2, 1000, 1, 1]);
    assert.deepEqual(t.data, gp.data);
  }
});
