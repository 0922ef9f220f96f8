/**
 * What a pipeline module is given when its default export is a function: the
 * RunInference building blocks, without the pipeline runner itself (which imports
 * this file, so the runner and the API stay a line, not a loop).
 */
export { Flow } from './flow.js';
export * from './handler.js';
export { functionHandler, tensorSignature, tensorBytes, type FunctionHandlerOptions } from './function-handler.js';
export { onnxHandler, type OnnxHandlerOptions, type OnnxModelHandler } from './onnx-handler.js';
export { servedModelHandler, type ServedModelHandler, type ServedModelHandlerOptions } from './served-model-handler.js';
export { localEngine } from './local-engine.js';
export { graphPipeHandler, openInferenceHandler, type RemoteHandlerOptions, type RemoteHooks } from './remote-handler.js';
export {
  graphPipeUrlHandler,
  openInferenceUrlHandler,
  type UrlHandlerOptions,
  type OipUrlHandlerOptions,
} from './remote-url-handlers.js';
export { keyedModels, isKeyedModelHandler, type KeyedModelHandler, type KeyModelMapping } from './keyed-handler.js';
export { batchStream, type BatchOptions } from './batching.js';
export type { RunInferenceOptions } from './run-inference.js';
export { runInferenceRegistry, metricsFor, formatSummary } from './metrics.js';
export { ArraySink, callbackSink, type Sink, type RunReport, type StepStats, type WriteOptions } from './sink.js';
export { files, globFiles, globToRegExp, jsonl, csv, lines, stdinLines, type FileItem, type CsvSourceOptions } from './sources.js';
export { CsvParser, parseCsv, csvLine } from './csv.js';
export { httpSource, type HttpRecord, type HttpSource } from './http-source.js';
export { jsonlSink, csvSink, stdoutSink, resultToRow, toJSON } from './file-sinks.js';
export { sqliteSink, postgresSink, type SqlSinkOptions } from './sql-sinks.js';
export {
  redisStreamSource,
  groupInfo,
  statsKey,
  type RedisStreamMessage,
  type RedisStreamSource,
  type RedisStreamSourceOptions,
} from './redis-streams.js';
export { redisStreamSink } from './redis-sink.js';
export { progress, progressLine, type Progress, type ProgressOptions } from './progress.js';
export { validatePipelineDef, recordToExample, type PipelineDef, type SourceDef, type SinkDef, type HandlerDef } from './pipeline-def.js';
export { presetPreprocess, top1 } from '../vision/preset-step.js';
export { startWorkers, startWorker, WORKER_SCRIPT, type WorkerGroup, type WorkerExit } from './scaleout.js';
export { supervise, type SuperviseOptions, type SuperviseReport } from './supervisor.js';
export { streamCounts, runCounts, type StreamCounts, type RunCounts } from './stream-counts.js';
