// Server sequencing: a multiply model whose apply calls a fixed next model (add).
// Usage: node server-sequencing-server.js [port=3000] [addUrl=http://127.0.0.1:4000]
import { serveModel, serverSequenced } from '../../src/index.js';
import { SPEC, mapNested, portArg } from './common.js';

const addUrl = process.argv[3] ?? 'http://127.0.0.1:4000';
const model = serverSequenced((inputs) => mapNested(inputs.in as never, (x) => x * 2), addUrl, { name: 'multiply-then-add', ...SPEC });
const s = await serveModel(model, { port: portArg(3000) });
console.log(`server-sequencing multiply listening on ${s.url}, next hop ${addUrl}`);
