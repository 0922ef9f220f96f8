/**
 * modelpipe's public API. Layers, bottom up: tensor → protocol codecs → models
 * (backends) → scheduling → core engine → server frontends → client → pipelines.
 */
export * from './tensor/index.js';
export * from './errors/index.js';
export * as graphpipe from './protocol/graphpipe/index.js';
export type { Model, ModelMetadata, TensorSpec, RunRequest } from './models/model.js';
export { FunctionModel, type ApplyFn, type FunctionModelOptions, type ApplyContext } from './models/function-model.js';
export { OnnxModel, type OnnxModelOptions } from './models/onnx/onnx-model.js';
export { RemoteModel, type RemoteModelOptions } from './models/remote-model.js';
export { resolveModelSource } from './models/source.js';
export { Engine, type InferOutcome } from './core/engine.js';
export type { InferCall } from './scheduling/call.js';
export { Metrics } from './observe/metrics.js';
export { startTracing, stopTracing, tracingOn } from './observe/tracing.js';
export { traceEvent, runInTrace } from './observe/run-context.js';
export { traceConfigFrom, type TraceConfig } from './observe/trace-config.js';
export type { SchedulerOptions, BatchingOptions } from './scheduling/options.js';
export {
  parseModelConfig,
  loadModelConfig,
  mergeConfig,
  toSchedulerOptions,
  toStreamBatchOptions,
  type ConfigWarn,
} from './config/index.js';
export { HttpServer, type HttpServerOptions } from './server/http-server.js';
export { serve, serveModel, type RunningServer, type ServeOptions } from './server/serve.js';
export {
  GraphPipeClient,
  GraphPipeClientPool,
  type GraphPipeClientOptions,
  type GraphPipeCallOptions,
  type GraphPipeSingleOptions,
  graphPipeRemote,
  graphPipeRemoteRaw,
  graphPipeMultiRemote,
  graphPipeMultiRemoteRaw,
  graphPipeMetadata,
  /** @deprecated use graphPipeRemote */
  remote,
  /** @deprecated use graphPipeRemoteRaw */
  remoteRaw,
  /** @deprecated use graphPipeMultiRemote */
  multiRemote,
  /** @deprecated use graphPipeMultiRemoteRaw */
  multiRemoteRaw,
  /** @deprecated use graphPipeMetadata */
  metadata,
  type CallOptions,
  type MultiOptions,
} from './client/graphpipe-client.js';
export { RemoteError } from './client/errors.js';
export { chain, serverSequenced, hybridSequenced, parseNextHop, callHop, HopModel, type Hop } from './sequencing/sequencing.js';
export { HopPolicy } from './sequencing/hop-policy.js';
export type { HybridOptions } from './sequencing/sequencing.js';
export * as oip from './protocol/oip/index.js';
export {
  OipClient,
  type OipClientOptions,
  type OipTransport,
  type OipInferOptions,
  type OipServerMetadata,
  type OipStatistics,
  oipInfer,
  oipModelMetadata,
  oipModelReady,
  oipServerLive,
  oipServerReady,
  oipServerMetadata,
  closeDefaultClients,
  /** @deprecated use oipInfer */
  infer,
  /** @deprecated use oipModelMetadata */
  modelMetadata,
  /** @deprecated use oipModelReady */
  modelReady,
  /** @deprecated use oipServerLive */
  serverLive,
  /** @deprecated use oipServerReady */
  serverReady,
  /** @deprecated use closeDefaultClients */
  closeGrpcClients,
  type OipCallOptions,
  type OipResult,
  type OipInputs,
} from './client/oip-client.js';
export { OipFrontend } from './server/oip-frontend.js';
export { OipGrpcServer, type OipGrpcServerOptions } from './server/oip-grpc-server.js';
export { RepositoryFrontend } from './server/repository-frontend.js';
export type { ModelDirectory } from './core/model-directory.js';
export type { OipModelMetadata } from './protocol/oip/index.js';
export { ServerTls, type TlsFiles } from './server/tls.js';
export { TokenAuth, type TokenSources, type Scope, parseTokens, tokenIdentity } from './server/auth.js';
export {
  type ClientSecurity,
  clientSecurityFromFiles,
  setDefaultClientSecurity,
} from './client/security.js';
export { ModelRepository, type ModelLoader, type RepositoryOptions, type ModelConfig } from './repository/index.js';
