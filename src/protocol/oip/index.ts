/** Open Inference Protocol (KServe v2) codec: JSON and the binary tensor data extension. */
export * from './messages.js';
export { OIP_DATATYPES, type OipDatatype, dtypeFromOip, oipFromDtype } from './datatypes.js';
export { parseInferRequest, encodeInferRequest, wantsBinary, requireInputs, BINARY_ALIGN } from './request.js';
export { encodeInferResponse, parseInferResponse } from './response.js';
export { tensorFromJSON, tensorDataJSON } from './json-data.js';
export { tensorFromBinary, tensorToBinary } from './binary.js';
export { inferenceService, methodCodec, type MethodCodec, grpcStatusOfHttp, httpStatusOfGrpc } from './grpc-service.js';
export {
  tensorFromGrpc,
  tensorToGrpc,
  contentsOf,
  typedContentsPossible,
  parametersFromGrpc,
  parametersToGrpc,
  type GrpcTensor,
  type GrpcContents,
  type GrpcParameter,
} from './grpc-codec.js';
export { grpcPrefix, bytesField, fieldDataOffset } from './grpc-wire.js';
export { scanInferRequest, type InferRequestScan, MAX_PARAMETERS, MAX_REQUESTED_OUTPUTS } from './grpc-scan.js';
