/**
 * The bound for perf's sender in bench/perf-wrk.ts: the least a Node process can do
 * per request — 8 keep-alive sockets, the same request bytes written back to back,
 * answers counted by their Content-Length and nothing else checked. Run as its own
 * process: `node bare-socket-loop.js URL BODY_FILE CONCURRENCY SECONDS`; prints
 * `{"rps": …, "cpuUs": …}` (its CPU time per request).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const [url = '', bodyFile = '', concText = '8', secsText = '6'] = process.argv.slice(2);
const u = new URL(url);
const body = readFileSync(bodyFile);
const head = `POST ${u.pathname} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: application/octet-stream\r\ncontent-length: ${body.length}\r\n\r\n`;
const request = Buffer.concat([Buffer.from(head, 'latin1'), body]);
const endAt = performance.now() + Number(secsText) * 1000;
let done = 0;
const t0 = performance.now();
const cpu0 = process.cpuUsage();

function slot(): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf.toString('latin1', 0, end))?.[1]);
      if (buf.length < end + 4 + len) return;
      buf = Buffer.alloc(0);
      done++;
      if (performance.now() < endAt) sock.write(request);
      else sock.end(resolve);
    });
    sock.write(request);
  });
}

await Promise.all(Array.from({ length: Number(concText) }, slot));
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ rps: (done * 1000) / (performance.now() - t0), cpuUs: (cpu.user + cpu.system) / Math.max(1, done) }));
