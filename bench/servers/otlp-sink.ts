// A loopback OTLP/HTTP receiver for the tracing benchmark: takes every export, keeps nothing.
import { createServer } from 'node:http';

let spans = 0;
const srv = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    // Counting the spans costs what a collector's parse would; the count is printed on exit.
    spans += (
      Buffer.concat(chunks)
        .toString('utf8')
        .match(/"spanId"/g) ?? []
    ).length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
process.on('SIGTERM', () => {
  console.error(`otlp-sink: ${spans} spans`);
  process.exit(0);
});
srv.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${(srv.address() as { port: number }).port}`));
