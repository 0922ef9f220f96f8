export { ERROR_CODES, codeFromNumber, isErrorCode, type ErrorCode } from './codes.js';
export { ModelpipeError, toModelpipeError, isModelpipeError } from './error.js';
export { quote, clip, clipMessage, MAX_ERROR_MESSAGE } from './quote.js';
