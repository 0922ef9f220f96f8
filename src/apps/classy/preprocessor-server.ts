import { GraphPipeClient } from '../../client/graphpipe-client.js';
import { ModelpipeError } from '../../errors/index.js';
import type { FunctionModel } from '../../models/function-model.js';
import { HopModel, hopError } from '../../sequencing/sequencing.js';
import type { Tensor } from '../../tensor/index.js';
import { type PreprocessOptions, preprocessImages, preprocessImagesSettled } from '../../vision/preprocess.js';
import type { Preset } from '../../vision/presets.js';
import { resolvePreset } from '../../vision/presets.js';
import { EMPTY_OUTPUT, type Timings, errorEntry, parseStageConfig, stageTensors } from './stage-wire.js';
import { asStrings, stageSpecs } from './stage-util.js';

/**
 * The Classy preprocessor stage: encoded images in, one batched model input out,
 * forwarded to a fixed model server (server sequencing) when `next` is set. Swapping
 * the model means restarting this stage with another preset and `next`, nothing else.
 * See protocol.ts for the config and the `output`/`errors`/`timings` outputs.
 */

export interface PreprocessorOptions extends Omit<PreprocessOptions, 'presets'> {
  readonly preset: string | Preset;
  readonly presets?: ReadonlyMap<string, Preset>;
  /** The model server; without it the stage answers the preprocessed tensor. */
  readonly next?: string;
  /** The model output to keep (default: the model's first default output). */
  readonly nextOutput?: string;
  readonly nextTimeoutMs?: number;
  readonly name?: string;
}

function emptyError(i: number): ModelpipeError {
  return new ModelpipeError('MP_ERR_IMAGE_DECODE', `image ${i}: no image bytes`);
}

export function preprocessorModel(opts: PreprocessorOptions): FunctionModel {
  const { preset, presets, next, nextOutput, nextTimeoutMs = 60_000, name = 'classy-preprocessor', ...pre } = opts;
  const p = resolvePreset(preset, presets); // fail at startup, not on the first request
  // The model server's client, closed with this stage's model.
  const model = next === undefined ? undefined : new GraphPipeClient(next, { timeoutMs: nextTimeoutMs });
  return new HopModel(
    async (inputs, config, ctx) => {
      const images = asStrings(inputs.images, 'images');
      const { keepGoing } = parseStageConfig(config);
      const t0 = performance.now();
      let batch: Tensor | undefined;
      let errors: string[];
      if (keepGoing) {
        const settled = await preprocessImagesSettled(images, p, pre);
        batch = settled.tensor;
        errors = settled.results.map((r, i) => (r.ok ? '' : errorEntry(images[i]?.length === 0 ? emptyError(i) : r.error)));
      } else {
        const empty = images.findIndex((b) => b.length === 0);
        if (empty >= 0) throw emptyError(empty);
        batch = await preprocessImages(images, p, pre); // throws "image <i>: <reason>" for the first bad one
        errors = images.map(() => '');
      }
      const timings: Timings = { preprocess: performance.now() - t0 };
      if (batch === undefined || batch.shape[0] === 0) return stageTensors({ output: EMPTY_OUTPUT(), errors, timings });
      if (next === undefined || model === undefined) return stageTensors({ output: batch, errors, timings });
      const t1 = performance.now();
      let out: Tensor[];
      try {
        out = await model.inferManyRaw([batch], {
          ...(nextOutput ? { outputNames: [nextOutput] } : {}),
          signal: ctx.signal,
          trace: ctx.trace,
        });
      } catch (err: unknown) {
        throw hopError(next, err, true); // the caller sees our status line, never the model server's raw answer
      }
      timings.model = performance.now() - t1;
      const output = out[0];
      if (output === undefined) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${next}: model answered no output`);
      return stageTensors({ output, errors, timings });
    },
    {
      name,
      description: `Classy preprocessor (preset ${p.name}${next ? `, model ${next}` : ''}): encoded images in; model input or output out`,
      inputs: [{ name: 'images', dtype: 'string', shape: [-1], description: 'encoded images: JPEG, PNG, WebP or GIF' }],
      outputs: stageSpecs(next ? 'float32' : p.dtype, next ? 'the model output' : `the preprocessed batch (${p.layout})`),
      batchable: false,
    },
    async () => model?.close(),
  );
}
