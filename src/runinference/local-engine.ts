import { Engine } from '../core/engine.js';
import { ModelSlots } from '../core/model-slot.js';
import { Metrics } from '../observe/metrics.js';
import { type Logger, pino } from 'pino';

/**
 * The engine RunInference's local models run on when the caller gives none: one per
 * process, created on first use, so handlers of one file share one worker pool and one
 * metrics registry (which the Beam-named metrics join, see metrics.ts). A server that
 * embeds a pipeline passes its own Engine instead and gets everything in one /metrics.
 */
let local: Engine | undefined;
export function localEngine(): Engine {
  // No process metrics (CPU, heap): the embedding program owns those.
  local ??= new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
  return local;
}

/** One ModelSlots per engine, so entry generations never repeat within it. */
const slotsOf = new WeakMap<Engine, ModelSlots>();
export function slotsFor(engine: Engine, log: Logger): ModelSlots {
  let s = slotsOf.get(engine);
  if (!s) {
    s = new ModelSlots(engine, log);
    slotsOf.set(engine, s);
  }
  return s;
}

/**
 * The logger used when a caller injects none: warnings to stderr, written synchronously
 * because batch commands exit right after their last line. Made per use, never at load.
 */
export function stderrLogger(name: string): Logger {
  return pino({ name, level: process.env.MODELPIPE_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: true }));
}
