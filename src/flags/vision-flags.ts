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
