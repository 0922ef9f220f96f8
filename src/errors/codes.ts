/**
 * The stable error catalogue. Every error modelpipe raises carries one of these codes.
 * The string code is what programs match on; the numeric code is what travels in a
 * GraphPipe `Error.code` (int64) and never changes once published; the HTTP status
 * is what a frontend answers with.
 *
 * Ranges: 1xx wire/codec, 2xx request validation, 3xx model/runtime, 4xx server
 * and transport, 5xx client side, 6xx pipelines, 7xx Open Inference Protocol and
 * the model repository.
 */
export const ERROR_CODES = {
  // wire / codec (caller sent bytes we cannot read)
  MP_ERR_WIRE_TRUNCATED: { num: 100, status: 400 },
  MP_ERR_WIRE_BAD_OFFSET: { num: 101, status: 400 },
  MP_ERR_WIRE_BAD_VTABLE: { num: 102, status: 400 },
  MP_ERR_WIRE_BAD_UNION: { num: 103, status: 400 },
  MP_ERR_WIRE_BAD_ENUM: { num: 104, status: 400 },
  MP_ERR_WIRE_TOO_DEEP: { num: 105, status: 400 },
  MP_ERR_WIRE_SHAPE: { num: 106, status: 400 },
  MP_ERR_WIRE_DATA_SIZE: { num: 107, status: 400 },
  MP_ERR_WIRE_TOO_LARGE: { num: 108, status: 413 },
  MP_ERR_WIRE_BAD_UTF8: { num: 109, status: 400 },
  MP_ERR_WIRE_BAD_JSON: { num: 110, status: 400 },
  MP_ERR_WIRE_SHARED_TABLE: { num: 111, status: 400 },
  MP_ERR_WIRE_TOO_MANY: { num: 112, status: 400 },
  // tensors
  MP_ERR_TENSOR_SHAPE: { num: 150, status: 400 },
  MP_ERR_TENSOR_RAGGED: { num: 151, status: 400 },
  MP_ERR_TENSOR_DTYPE: { num: 152, status: 400 },
  MP_ERR_TENSOR_SIZE: { num: 153, status: 400 },
  MP_ERR_TENSOR_CONCAT: { num: 154, status: 400 },
  // request validation against model metadata
  MP_ERR_UNKNOWN_INPUT: { num: 200, status: 400 },
  MP_ERR_UNKNOWN_OUTPUT: { num: 201, status: 400 },
  MP_ERR_MISSING_INPUT: { num: 202, status: 400 },
  MP_ERR_INPUT_DTYPE: { num: 203, status: 400 },
  MP_ERR_INPUT_RANK: { num: 204, status: 400 },
  MP_ERR_INPUT_DIM: { num: 205, status: 400 },
  MP_ERR_NO_OUTPUTS: { num: 206, status: 400 },
  MP_ERR_INPUT_COUNT: { num: 207, status: 400 },
  MP_ERR_BAD_REQUEST: { num: 208, status: 400 },
  MP_ERR_UNKNOWN_MODEL: { num: 209, status: 404 },
  MP_ERR_BODY_TOO_LARGE: { num: 210, status: 413 },
  MP_ERR_BAD_CONFIG: { num: 211, status: 400 },
  // model / runtime
  MP_ERR_MODEL_RUNTIME: { num: 300, status: 500 },
  MP_ERR_MODEL_LOAD: { num: 301, status: 500 },
  MP_ERR_MODEL_NOT_READY: { num: 302, status: 503 },
  MP_ERR_DEVICE_UNAVAILABLE: { num: 303, status: 500 },
  MP_ERR_WORKER_DIED: { num: 304, status: 500 },
  MP_ERR_MODEL_OUTPUT: { num: 305, status: 500 },
  MP_ERR_MODEL_STUCK: { num: 306, status: 503 },
  // server / scheduling / transport
  MP_ERR_TIMEOUT: { num: 400, status: 504 },
  MP_ERR_QUEUE_FULL: { num: 401, status: 503 },
  MP_ERR_CANCELLED: { num: 402, status: 499 },
  MP_ERR_SHUTTING_DOWN: { num: 403, status: 503 },
  MP_ERR_INTERNAL: { num: 404, status: 500 },
  MP_ERR_DOWNLOAD: { num: 405, status: 502 },
  MP_ERR_CHECKSUM: { num: 406, status: 500 },
  // HTTP server limits (h-http): refusals an operator sets, each with Retry-After
  MP_ERR_TOO_MANY_CONNECTIONS: { num: 430, status: 503 },
  MP_ERR_BODY_TIMEOUT: { num: 431, status: 408 },
  MP_ERR_BODY_MEMORY: { num: 432, status: 503 },
  MP_ERR_CLIENT_LIMIT: { num: 433, status: 429 },
  MP_ERR_CONNECTION_LIMIT: { num: 434, status: 429 },
  MP_ERR_DRAIN_TIMEOUT: { num: 435, status: 503 },
  MP_ERR_TLS_CONFIG: { num: 436, status: 500 },
  MP_ERR_UNAUTHENTICATED: { num: 437, status: 401 },
  MP_ERR_PERMISSION_DENIED: { num: 438, status: 403 },
  MP_ERR_ADDRESS_IN_USE: { num: 439, status: 500 },
  // OpenTelemetry settings (OTEL_* environment, --otlp-endpoint) that cannot be used
  MP_ERR_TRACING_CONFIG: { num: 449, status: 500 },
  // client side
  MP_ERR_REMOTE: { num: 500, status: 502 },
  MP_ERR_CONNECT: { num: 501, status: 502 },
  MP_ERR_HOP: { num: 502, status: 502 },
  MP_ERR_BAD_RESPONSE: { num: 503, status: 502 },
  MP_ERR_REMOTE_CLOSED: { num: 511, status: 502 },
  // a call on a client object after its close()
  MP_ERR_CLIENT_CLOSED: { num: 512, status: 503 },
  // endpoint sets (replicas): every endpoint tried failed, or none is ready
  MP_ERR_NO_ENDPOINTS: { num: 513, status: 503 },
  // a discovery URL (dns://, dns+srv://, redis://) that cannot be resolved or watched
  MP_ERR_DISCOVERY: { num: 514, status: 503 },
  // the server could not announce itself in a registry (--announce)
  MP_ERR_ANNOUNCE: { num: 515, status: 500 },
  // pipelines / apps
  MP_ERR_PIPELINE: { num: 600, status: 500 },
  MP_ERR_FETCH: { num: 601, status: 400 },
  MP_ERR_FORBIDDEN_ADDRESS: { num: 602, status: 400 },
  MP_ERR_IMAGE_DECODE: { num: 603, status: 400 },
  // RunInference pipelines (650+)
  MP_ERR_FAILURE_RATIO: { num: 650, status: 500 },
  MP_ERR_PIPELINE_DEF: { num: 651, status: 400 },
  MP_ERR_SOURCE: { num: 652, status: 400 },
  MP_ERR_SINK: { num: 653, status: 500 },
  MP_ERR_PREPROCESS: { num: 654, status: 400 },
  MP_ERR_POSTPROCESS: { num: 655, status: 500 },
  MP_ERR_BATCH_FAILED: { num: 656, status: 500 },
  MP_ERR_SCALEOUT: { num: 657, status: 500 },
  MP_ERR_POISON_MESSAGE: { num: 658, status: 500 },
  // Open Inference Protocol (KServe v2) and the model repository
  MP_ERR_OIP_DATATYPE: { num: 700, status: 400 },
  MP_ERR_OIP_DATA: { num: 701, status: 400 },
  MP_ERR_OIP_BINARY: { num: 702, status: 400 },
  MP_ERR_OIP_NOT_FOUND: { num: 703, status: 404 },
  MP_ERR_REPO_BAD_NAME: { num: 710, status: 400 },
  MP_ERR_REPO_UNKNOWN_MODEL: { num: 711, status: 404 },
  MP_ERR_REPO_CONFIG: { num: 712, status: 400 },
  MP_ERR_REPO_LOAD_FAILED: { num: 713, status: 500 },
} as const satisfies Record<string, { num: number; status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

const byNum = new Map<number, ErrorCode>((Object.keys(ERROR_CODES) as ErrorCode[]).map((k) => [ERROR_CODES[k].num, k]));

/** Whether a string is one of the stable codes (e.g. from an `x-modelpipe-error` header). */
export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERROR_CODES, s);
}

/** Maps a numeric wire code back to its string code, if it is one of ours. */
export function codeFromNumber(num: number): ErrorCode | undefined {
  return byNum.get(num);
}
