// The ceiling for small requests: a bare node:http server that echoes the body.
import { createServer } from 'node:http';

const srv = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
});
srv.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${(srv.address() as { port: number }).port}`));
