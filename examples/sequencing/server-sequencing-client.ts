// Server sequencing client: one request to the first model; the server calls the next.
// Usage: node server-sequencing-client.js [multiplyUrl]
import { remote } from '../../src/index.js';
import { INPUT, goFormat } from './common.js';

console.log(goFormat(await remote(process.argv[2] ?? 'http://127.0.0.1:3000', INPUT)));
