// Hybrid sequencing: multiply, then forward to the URL the request's config names —
// one of the allowed next hops given here (any other is refused: a server must not
// let its callers make it connect wherever they like).
// Usage: node hybrid-sequencing-server.js [port=3000] [allowed next hop…=http://127.0.0.1:4000]
import { hybridSequenced, serveModel } from '../../src/index.js';
import { SPEC, mapNested, portArg } from './common.js';

const allowHops = process.argv.length > 3 ? process.argv.slice(3) : ['http://127.0.0.1:4000'];
const model = hybridSequenced((inputs) => mapNested(inputs.in as never, (x) => x * 2), { name: 'multiply-hybrid', ...SPEC, allowHops });
const s = await serveModel(model, { port: portArg(3000) });
console.log(`hybrid-sequencing multiply listening on ${s.url}`);
