/** Classy: the reusable pieces of the image-classification pipeline (downloader → preprocessor → model → labels). */
export {
  AddressPolicy,
  type AddressPolicyOptions,
  forbiddenReason,
  literalAddress,
  parseAddress,
  parseCidr,
} from '../../pipeline/address.js';
export { type DownloadOptions, type DownloadResult, downloadAll, downloadAllSettled } from './download.js';
export { type Prediction, classify, formatPrediction, formatPredictions, loadLabels, parseLabels, topK } from './labels.js';
export {
  type ImageResult,
  type PreprocessOptions,
  type SettledBatch,
  decodeToRGB,
  preprocessImages,
  preprocessImagesSettled,
} from './preprocess.js';
export {
  BUILTIN_PRESETS,
  type BuiltinPresetName,
  type ChannelOrder,
  type Layout,
  type Preset,
  type PresetDType,
  type ResizeMode,
  type Triple,
  loadPresetConfig,
  parsePresetConfig,
  presetShape,
  resolvePreset,
  validatePreset,
} from './presets.js';
