/** Classy: the reusable pieces of the image-classification pipeline (downloader → preprocessor → model → labels). */
export {
  AddressPolicy,
  type AddressPolicyOptions,
  forbiddenReason,
  literalAddress,
  parseAddress,
  parseCidr,
} from '../../sequencing/address.js';
export { type DownloadOptions, type DownloadResult, downloadAll, downloadAllSettled } from './download.js';
export { type Prediction, classify, formatPrediction, formatPredictions, loadLabels, parseLabels, topK } from '../../vision/labels.js';
export {
  type ImageResult,
  type PreprocessOptions,
  type SettledBatch,
  decodeToRGB,
  preprocessImages,
  preprocessImagesSettled,
} from '../../vision/preprocess.js';
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
} from '../../vision/presets.js';
