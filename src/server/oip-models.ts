import type { Engine } from '../core/engine.js';
import { ModelpipeError, quote } from '../errors/index.js';
import type { ModelMetadata } from '../models/model.js';
import type { ModelDirectory } from '../core/model-directory.js';
import { type OipModelMetadata, type OipTensorMetadata, oipFromDtype } from '../protocol/oip/index.js';

/**
 * What both Open Inference Protocol frontends (REST and gRPC) need beyond the
 * engine: which engine entry a (model, version) pair means, whether it is ready,
 * and the protocol's metadata objects. A model repository adds what the engine
 * cannot know: versions, and models that failed to load.
 */

export const SERVER_NAME = 'modelpipe';
export const SERVER_VERSION = '0.1.0';
export const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'statistics', 'model_configuration', 'classification'];

/**
 * The engine name to run (model, version) with. Repository models are entries
 * aliased as `name` and `name@version`; a single served model answers to its own
 * version too. Not served: 503 with the loader's reason when the directory knows
 * the model (failed or loading), 404 otherwise.
 */
export function resolveModel(engine: Engine, name: string, version: string | undefined, dir?: ModelDirectory): string {
  if (version === undefined || version === '') {
    if (engine.has(name)) return name;
  } else {
    const key = `${name}@${version}`;
    if (engine.has(key)) return key;
    if (engine.has(name) && engine.metadata(name).version === version) return name;
  }
  const st = dir?.status(name, version || undefined);
  if (st && st.state !== 'READY') {
    throw new ModelpipeError(
      'MP_ERR_MODEL_NOT_READY',
      `model ${name}${version ? ` version ${version}` : ''} is not ready: ${st.reason || st.state}`,
    );
  }
  if (version && (engine.has(name) || st !== undefined || (dir?.versions(name).length ?? 0) > 0)) {
    throw new ModelpipeError('MP_ERR_UNKNOWN_MODEL', `model ${quote(name)} has no version ${quote(version)}`);
  }
  throw new ModelpipeError('MP_ERR_UNKNOWN_MODEL', `unknown model ${quote(name)}`);
}

export function versionsOf(engine: Engine, key: string, name: string, dir?: ModelDirectory): string[] {
  const v = dir?.versions(name) ?? [];
  return v.length > 0 ? v : [engine.metadata(key).version];
}

/** The protocol's model metadata; free-form config fields go in `parameters`. */
export function oipModelMetadata(md: ModelMetadata, versions: string[]): OipModelMetadata {
  const io = (s: ModelMetadata['inputs'][number]): OipTensorMetadata => ({ name: s.name, datatype: oipFromDtype(s.dtype), shape: s.shape });
  const { platform, ...rest } = md.extra ?? {};
  const parameters = { ...(md.description ? { description: md.description } : {}), ...rest };
  return {
    name: md.name,
    versions,
    platform: typeof platform === 'string' ? platform : SERVER_NAME,
    inputs: md.inputs.map(io),
    outputs: md.outputs.map(io),
    ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
  };
}
