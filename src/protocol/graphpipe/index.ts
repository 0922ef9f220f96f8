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
export { decodeRequest, decodeInferResponse, decodeMetadataResponse, MAX_RANK } from './decode.js';
