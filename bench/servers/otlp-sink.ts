// A loopback OTLP/HTTP receiver for the tracing benchmark: takes every export, keeps nothing.
// It only drains and counts: a real collector parses on its own machine, and parsing here
// would take CPU from the server under test on the cores they share.
import { createServer } from 'node:http';

let exports = 0;
let bytes = 0;
const srv = createServer((req, res) => {
  req.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' });
    res.end(req.headers['content-type'] === 'application/x-protobuf' ? '' : '{}');
  });
});
process.on('SIGTERM', () => {
  console.error(`otlp-sink: ${exports} exports, ${bytes} bytes`);
  process.exit(0);
});
// On 127.0.0.2 by default: a CLI server logs its OTLP URL before its own, and the
// benchmark takes the first 127.0.0.1 URL a server prints as that server's.
const host = process.argv[2] ?? '127.0.0.2';
srv.listen(0, host, () => console.log(`listening on http://${host}:${(srv.address() as { port: number }).port}`));
