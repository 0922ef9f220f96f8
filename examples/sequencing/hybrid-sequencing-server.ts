// Hybrid sequencing: multiply, then forward to whatever URL the request's config names.
// Usage: node hybrid-sequencing-server.js [port=3000]
import { hybridSequenced, serveModel } from '../../src/index.js';
import { SPEC, mapNested, portArg } from './common.js';

const model = hybridSequenced((inputs) => mapNested(inputs.in as never, (x) => x * 2), { name: 'multiply-hybrid', ...SPEC });
const s = await serveModel(model, { port: portArg(3000) });
console.log(`hybrid-sequencing multiply listening on ${s.url}`);
