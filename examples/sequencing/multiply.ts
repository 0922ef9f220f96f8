// The "multiply" toy model: every value times two. Usage: node multiply.js [port=3000]
import { serve } from '../../src/index.js';
import { SPEC, mapNested, portArg } from './common.js';

const s = await serve((inputs) => mapNested(inputs.in as never, (x) => x * 2), { name: 'multiply', ...SPEC, port: portArg(3000) });
console.log(`multiply listening on ${s.url}`);
