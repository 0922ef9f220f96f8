// Polls /health/live every 5 ms for N seconds from its own process; prints latency percentiles as JSON.
import { request } from 'node:http';

const [url, secondsArg] = process.argv.slice(2);
const end = performance.now() + Number(secondsArg ?? 5) * 1000;
const lat: number[] = [];
const agentUrl = new URL('/health/live', url);
while (performance.now() < end) {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const r = request(agentUrl, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    r.on('error', reject);
    r.end();
  });
  lat.push(performance.now() - t0);
  await new Promise((r) => setTimeout(r, 5));
}
lat.sort((a, b) => a - b);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
console.log(JSON.stringify({ n: lat.length, p50: pct(50), p99: pct(99), max: lat.at(-1) }));
