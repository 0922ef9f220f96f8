import type { Flag } from './table.js';

/** The image preprocessing preset flags of Classy's commands and classify-dir. */
export const PRESET_FLAGS = {
  preset: {
    type: 'string',
    value: 'NAME',
    default: 'squeezenet',
    help: 'preprocessing preset: squeezenet | vgg | imagenet | a name from --presets',
  },
  presets: { type: 'string', value: 'FILE', help: 'user presets (JSON)' },
} as const satisfies Record<string, Flag>;

/** --labels of the image classifiers (classy, classy up, classify-dir): found beside the model when not given. */
export const LABELS_FLAG = {
  labels: { type: 'string', value: 'FILE', help: 'class labels, one per line', defaultNote: 'a labels file next to the model' },
} as const satisfies Record<string, Flag>;

/** --model of an image classifier, with what the command does with it. */
export function modelFileFlag(help: string) {
  return { model: { type: 'string', value: 'FILE', help } } as const satisfies Record<string, Flag>;
}
