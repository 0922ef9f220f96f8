/** `modelpipe tune`: searches a model's serving settings for the most throughput within a p99 budget. */
export {
  type Measurement,
  type SearchOptions,
  type SearchResult,
  type TrialRecord,
  byRows,
  openLoopScore,
  rank,
  search,
} from './search.js';
export { type TuneSetting, settingLabel, toModelConfig } from './setting.js';
export { type TrialOptions, runTrial } from './trial.js';
export { type TuneReport, formatRanking, formatTuneJson, tuneReport, verdict } from './report.js';
export { formatTuneHtml } from './html.js';
export { type TuneOptions, runTune } from './run.js';
