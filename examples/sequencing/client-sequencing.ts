// Client sequencing: the client calls multiply, then add.
// Usage: node client-sequencing.js [multiplyUrl] [addUrl]
import { chain } from '../../src/index.js';
import { INPUT, goFormat } from './common.js';
import { toNested } from '../../src/tensor/index.js';

const multiply = process.argv[2] ?? 'http://127.0.0.1:3000';
const add = process.argv[3] ?? 'http://127.0.0.1:4000';
console.log(goFormat(INPUT));
for (const t of await chain([multiply, add], INPUT)) console.log(goFormat(toNested(t)));
