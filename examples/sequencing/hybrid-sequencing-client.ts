// Hybrid sequencing client: the next hop's URL travels in the request's config.
// Usage: node hybrid-sequencing-client.js [multiplyUrl] [addUrl]
import { remote } from '../../src/index.js';
import { INPUT, goFormat } from './common.js';

const multiply = process.argv[2] ?? 'http://127.0.0.1:3000';
const add = process.argv[3] ?? 'http://127.0.0.1:4000';
console.log(goFormat(await remote(multiply, INPUT, { config: add })));
