// The "add" toy model: every value plus one. Usage: node add.js [port=4000]
import { serve } from '../../src/index.js';
import { SPEC, mapNested, portArg } from './common.js';

const s = await serve((inputs) => mapNested(inputs.in as never, (x) => x + 1), { name: 'add', ...SPEC, port: portArg(4000) });
console.log(`add listening on ${s.url}`);
