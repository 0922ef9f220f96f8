/** RunInference: batch and streaming inference pipelines (see docs in handler.ts and flow.ts). */
export { Flow } from './flow.js';
export * from './handler.js';
export { functionHandler, tensorSignature, tensorBytes, type FunctionHandlerOptions } from './function-handler.js';
export { keyedModels, isKeyedModelHandler, type KeyedModelHandler, type KeyModelMapping } from './keyed-handler.js';
export { batchStream, type BatchOptions } from './batching.js';
export type { RunInferenceOptions } from './run-inference.js';
export { runInferenceRegistry, metricsFor, formatSummary } from './metrics.js';
export { ArraySink, callbackSink, type Sink, type RunReport, type StepStats, type WriteOptions } from './sink.js';
