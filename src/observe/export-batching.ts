// Its own module, free of imports: tracing.ts, which every server loads, reads it
// without loading the SDK's samplers that trace-config.ts imports.

/**
 * Export batching when OTEL_BSP_* leave it unset. An export costs the server ~1 ms of
 * CPU, little of it growing with its size (0.8 ms for 400 KB, 1.3 ms for 1.2 MB: the HTTP
 * exchange, a writev, the garbage), so batches are 16 times the SDK's 512 spans: at 512
 * the exports were over 40 % of tracing's cost per request, at 2048 still ~15 %
 * (bench/RESULTS.md). A batch of 8192 spans is ~1.1–1.6 MB of protobuf, well under
 * collectors' request limits (the OpenTelemetry Collector's is 20 MiB). The queue
 * holds four batches: at most ~6.5 MB of encoded spans wait.
 */
export const EXPORT_DEFAULTS = { batch: 8192, queue: 32768 } as const;
