/**
 * RunInference's batching is the stream strategy of the one batching contract
 * (src/scheduling/batcher.ts); these names stay here for existing imports.
 */
export { batchStream, validateBatchOptions, StreamBatcher, type BatchOptions } from '../scheduling/stream-batcher.js';
