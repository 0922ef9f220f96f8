import { DEFAULT_BATCHING as B, DEFAULT_SCHEDULER as S } from '../scheduling/options.js';
import type { Flag } from './table.js';

/**
 * The scheduler's flags, declared once for serve, batcher and classy up (which
 * take subsets). schedulerFromFlags (scheduler-flags.ts) turns them into options;
 * their defaults are applied there, after a model's config file, so here they
 * are only shown.
 */

const sizes = (v: string[]): string | undefined =>
  v.every((s) => /^\d+$/.test(s) && Number(s) > 0) ? undefined : `must be positive integers separated by commas, got ${v.join(',')}`;

export const SCHEDULER_FLAGS = {
  batch: { type: 'boolean', help: 'dynamic batching on', defaultNote: 'on when the model has a free batch dimension' },
  'no-batch': { type: 'boolean', help: 'dynamic batching off' },
  'max-batch-size': { type: 'int', min: 1, help: 'rows per merged batch', defaultNote: String(B.maxBatchSize) },
  'max-queue-delay-us': { type: 'int', value: 'US', help: 'how long a request waits for company', defaultNote: String(B.maxQueueDelayUs) },
  'preferred-batch-sizes': { type: 'list', check: sizes, help: 'batch sizes dispatched at once, without waiting out the delay' },
  'max-queue': { type: 'int', help: 'queued requests before 503', defaultNote: String(S.maxQueueSize) },
  timeout: { type: 'int', value: 'MS', help: 'per-request timeout (0: none)', defaultNote: String(S.timeoutMs) },
  'no-fanout': { type: 'boolean', help: 'never split one large batch across idle instances' },
} as const satisfies Record<string, Flag>;

/** How a model's instances run (onnxruntime sessions in worker threads). */
export const RUNTIME_FLAGS = {
  instances: {
    type: 'int',
    min: 1,
    help: 'worker threads, one onnxruntime session each; N single-threaded sessions can beat one N-threaded one under concurrent load',
    defaultNote: '1',
  },
  'intra-op-threads': {
    type: 'int',
    min: 1,
    help: 'onnxruntime intra-op threads per session',
    defaultNote: 'the CPUs divided among the instances',
  },
  'inter-op-threads': { type: 'int', min: 1, help: 'onnxruntime inter-op threads per session' },
  'worker-nice': {
    type: 'int',
    help: 'CPU niceness of inference threads, so the event loop answers health checks and I/O first; 0 keeps normal priority, for hosts where other busy processes would otherwise starve inference',
    defaultNote: '19',
  },
} as const satisfies Record<string, Flag>;
