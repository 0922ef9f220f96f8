/** GraphPipe wire codec: flatbuffers, byte-compatible with Oracle's graphpipe.fbs. */
export * from './messages.js';
export {
  encodeRequest,
  encodeRequestChunks,
  encodeInferResponse,
  encodeInferResponseChunks,
  encodeMetadataResponse,
  encodeRequestInto,
  encodeInferResponseInto,
} from './encode.js';
export {
  decodeRequest,
  decodeInferResponse,
  decodeMetadataResponse,
  type DecodeLimits,
  DEFAULT_MAX_TENSORS,
  MAX_RANK,
  MAX_STRING_ELEMENTS,
} from './decode.js';
