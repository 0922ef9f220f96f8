import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelpipeError } from '../errors/index.js';
import type { ModelConfig } from './model-config.js';
import { type ParseOptions, parseModelConfigText } from './parse.js';

/** Reads and checks a config file (JSON, Triton names or old spellings); messages name the file. */
export function loadModelConfig(path: string, opts: ParseOptions = {}): ModelConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    throw new ModelpipeError(opts.code ?? 'MP_ERR_BAD_CONFIG', `${path}: cannot read: ${(err as Error).message}`);
  }
  return parseModelConfigText(text, { where: path, ...opts });
}

/**
 * The config.json beside a local model file (a model directory's, as Triton and the
 * repository lay them out); none for a URL (its download directory is no model's).
 */
export function configBeside(location: string, modelPath: string): string | undefined {
  if (/^https?:\/\//i.test(location)) return undefined;
  const path = join(dirname(modelPath), 'config.json');
  return existsSync(path) ? path : undefined;
}
