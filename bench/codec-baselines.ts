import protobuf from 'protobufjs';
import type { Tensor } from '../src/tensor/index.js';

/**
 * The baselines of the codec benchmark: how TF-Serving's REST and gRPC APIs carry
 * the same tensors. Protobuf messages are defined inline (the subset of
 * tensorflow/core/framework/tensor.proto and tensorflow_serving/apis/predict.proto
 * that these messages use, with their field numbers) and run on protobufjs.
 */
const PROTO = `
syntax = "proto3";
package tensorflow;
message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}
message TensorProto {
  int32 dtype = 1;                       // DataType enum; DT_FLOAT = 1
  TensorShapeProto tensor_shape = 2;
  int32 version_number = 3;
  bytes tensor_content = 4;
  repeated float float_val = 5 [packed = true];
}
message PredictRequest { map<string, TensorProto> inputs = 2; }
message PredictResponse { map<string, TensorProto> outputs = 1; }
`;

const root = protobuf.parse(PROTO).root;
export const PredictRequest = root.lookupType('tensorflow.PredictRequest');
export const PredictResponse = root.lookupType('tensorflow.PredictResponse');
const DT_FLOAT = 1;

export type ProtoStyle = 'float_val' | 'tensor_content';

/** A TensorProto as a plain object for protobufjs (camelCase field names). */
export function tensorProto(t: Tensor, style: ProtoStyle): Record<string, unknown> {
  const shape = { dim: t.shape.map((size) => ({ size })) };
  const data = t.data as Float32Array;
  return style === 'float_val'
    ? { dtype: DT_FLOAT, tensorShape: shape, floatVal: data }
    : { dtype: DT_FLOAT, tensorShape: shape, tensorContent: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

interface DecodedTensorProto {
  floatVal?: number[];
  tensorContent?: Uint8Array;
}

/** Pulls the payload out of a decoded message, so a decode benchmark cannot skip the work. */
export function payloadLength(msg: protobuf.Message, field: 'inputs' | 'outputs'): number {
  const map = (msg as unknown as Record<string, Record<string, DecodedTensorProto>>)[field] ?? {};
  const t = Object.values(map)[0];
  return t?.floatVal?.length ?? (t?.tensorContent?.byteLength ?? 0) / 4;
}
