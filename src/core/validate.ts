import { ModelpipeError } from '../errors/index.js';
import { type Tensor, formatShape } from '../tensor/index.js';
import type { ModelMetadata, TensorSpec } from '../models/model.js';
import type { InferCall, PreparedCall } from '../scheduling/call.js';

function dtypeAccepts(spec: TensorSpec, t: Tensor): boolean {
  // GraphPipe has no bool type: bool inputs arrive as uint8.
  return spec.dtype === t.dtype || (spec.dtype === 'bool' && t.dtype === 'uint8');
}

/**
 * Checks a call against the model's metadata before anything is queued, so every
 * caller mistake gets its own stable code and a message naming the tensor. When the
 * metadata is not exact (a proxy for a server that reports approximate metadata), only
 * names are resolved and the model answers for the rest: a proxy must not be stricter
 * than its target.
 */
export function prepareCall(md: ModelMetadata, call: InferCall, exact = true): PreparedCall {
  if (!exact) return passThrough(md, call);
  const names = call.inputNames.length > 0 ? call.inputNames : md.defaultInputs.slice(0, call.inputs.length);
  if (call.inputNames.length === 0 && call.inputs.length > md.defaultInputs.length) {
    throw new ModelpipeError(
      'MP_ERR_INPUT_COUNT',
      `model ${md.name} takes ${md.defaultInputs.length} inputs, request has ${call.inputs.length}`,
    );
  }
  if (names.length !== call.inputs.length) {
    throw new ModelpipeError('MP_ERR_INPUT_COUNT', `request names ${names.length} inputs but carries ${call.inputs.length} tensors`);
  }
  const inputs = new Map<string, Tensor>();
  names.forEach((name, i) => {
    const spec = md.inputs.find((s) => s.name === name);
    if (!spec) {
      throw new ModelpipeError(
        'MP_ERR_UNKNOWN_INPUT',
        `model ${md.name} has no input named ${JSON.stringify(name)} (inputs: ${md.inputs.map((s) => s.name).join(', ')})`,
      );
    }
    if (inputs.has(name)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `input ${name} given twice`);
    const t = call.inputs[i] as Tensor;
    if (!dtypeAccepts(spec, t)) throw new ModelpipeError('MP_ERR_INPUT_DTYPE', `input ${name} expects ${spec.dtype}, got ${t.dtype}`);
    if (spec.shape.length !== t.shape.length) {
      throw new ModelpipeError(
        'MP_ERR_INPUT_RANK',
        `input ${name} expects rank ${spec.shape.length} ${formatShape(spec.shape)}, got rank ${t.shape.length} ${formatShape(t.shape)}`,
      );
    }
    spec.shape.forEach((d, k) => {
      if (d >= 0 && t.shape[k] !== d) {
        throw new ModelpipeError(
          'MP_ERR_INPUT_DIM',
          `input ${name} dimension ${k} must be ${d}, got ${t.shape[k]} (expected ${formatShape(spec.shape)}, got ${formatShape(t.shape)})`,
        );
      }
    });
    inputs.set(name, t);
  });
  const missing = md.inputs.filter((s) => !inputs.has(s.name));
  if (missing.length > 0)
    throw new ModelpipeError('MP_ERR_MISSING_INPUT', `missing input ${missing.map((s) => s.name).join(', ')} for model ${md.name}`);
  const outputNames = call.outputNames.length > 0 ? [...call.outputNames] : [...md.defaultOutputs];
  if (outputNames.length === 0)
    throw new ModelpipeError('MP_ERR_NO_OUTPUTS', `model ${md.name} has no default outputs: name the outputs you want`);
  for (const o of outputNames) {
    if (!md.outputs.some((s) => s.name === o)) {
      throw new ModelpipeError(
        'MP_ERR_UNKNOWN_OUTPUT',
        `model ${md.name} has no output named ${JSON.stringify(o)} (outputs: ${md.outputs.map((s) => s.name).join(', ')})`,
      );
    }
  }
  return { inputs, outputNames, config: call.config };
}

/** Names resolved (given, else the defaults in order), nothing else checked. */
function passThrough(md: ModelMetadata, call: InferCall): PreparedCall {
  const names = call.inputNames.length > 0 ? call.inputNames : md.defaultInputs.slice(0, call.inputs.length);
  if (names.length !== call.inputs.length) {
    throw new ModelpipeError(
      'MP_ERR_INPUT_COUNT',
      call.inputNames.length > 0
        ? `request names ${names.length} inputs but carries ${call.inputs.length} tensors`
        : `model ${md.name} takes ${md.defaultInputs.length} inputs, request has ${call.inputs.length}`,
    );
  }
  const inputs = new Map<string, Tensor>();
  names.forEach((name, i) => {
    if (inputs.has(name)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `input ${name} given twice`);
    inputs.set(name, call.inputs[i] as Tensor);
  });
  const outputNames = call.outputNames.length > 0 ? [...call.outputNames] : [...md.defaultOutputs];
  if (outputNames.length === 0)
    throw new ModelpipeError('MP_ERR_NO_OUTPUTS', `model ${md.name} has no default outputs: name the outputs you want`);
  return { inputs, outputNames, config: call.config };
}
