/**
 * RunInference: batch and streaming inference pipelines for modelpipe.
 * Start with Flow (flow.ts) and ModelHandler (handler.ts).
 */
export * from './api.js';
export { runPipelineFile, runPipelineDef, readPipelineDef } from './pipeline-run.js';
