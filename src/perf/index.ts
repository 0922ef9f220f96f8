/** `modelpipe perf`: load generation and measurement against any GraphPipe or OIP server. */
export { runPerf, type PerfOptions, MAX_CONCURRENCY } from './run.js';
export { parseRange, parseShape } from './ranges.js';
export { formatCsv, formatJson, formatTable, stepLabel, type PerfReport } from './report.js';
export type { StepResult } from './measure.js';
export { PROTOCOLS, type Protocol } from './target.js';
export { formatHtml } from './html.js';
export { REAL_DATA_LIMITS, type RealDataLimits } from './real-data.js';
export { HTTP_CLIENTS, type HttpClientKind } from './http-load.js';
