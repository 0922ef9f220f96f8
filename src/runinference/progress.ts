/**
 * Progress reporting as a Flow tap. On a TTY: one redrawn line with a bar, rate and ETA
 * when the total is known (count, rate otherwise). Elsewhere (CI logs, files): a plain
 * line every `intervalMs`, so logs are not flooded with carriage returns.
 */
export interface ProgressOptions {
  total?: number;
  label?: string;
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  intervalMs?: number;
  /** Force TTY or plain mode (default: the stream's isTTY, unless sharesTerminal applies). */
  tty?: boolean;
  /**
   * The run writes its output to stdout too. When stdout is a terminal as well, a redrawn
   * bar (carriage returns) would tear the output lines apart on the same screen, so plain
   * periodic lines are printed instead.
   */
  sharesTerminal?: boolean;
}

export interface Progress {
  tick(n?: number): void;
  done(): void;
  readonly count: number;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function progressLine(count: number, elapsedMs: number, total: number | undefined, label: string, width = 30): string {
  const rate = elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
  const r = `${rate.toFixed(1)}/s`;
  if (total === undefined || total <= 0) return `${label} ${count} items ${r}`;
  const frac = Math.min(1, count / total);
  const fill = Math.round(frac * width);
  const eta = count >= total ? 0 : rate > 0 ? (total - count) / rate : Number.POSITIVE_INFINITY;
  return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0)}% ${count}/${total} ${r} ETA ${formatDuration(eta)}`;
}

export function progress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? (Boolean((stream as NodeJS.WriteStream).isTTY) && !(options.sharesTerminal && process.stdout.isTTY));
  const interval = options.intervalMs ?? (tty ? 100 : 5000);
  const label = options.label ?? 'progress';
  const t0 = Date.now();
  let count = 0;
  let last = 0;
  let finished = false;
  const draw = (final: boolean): void => {
    const line = progressLine(count, Date.now() - t0, options.total, label);
    if (tty) stream.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else stream.write(`${line}${final ? ' done' : ''}\n`);
  };
  return {
    tick(n = 1) {
      count += n;
      const now = Date.now();
      if (now - last >= interval) {
        last = now;
        draw(false);
      }
    },
    done() {
      if (finished) return;
      finished = true;
      draw(true);
    },
    get count() {
      return count;
    },
  };
}
