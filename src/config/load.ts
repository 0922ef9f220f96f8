import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelpipeError } from '../errors/index.js';
import type { ModelConfig } from './model-config.js';
import { type ParseOptions, parseModelConfig, parseModelConfigText } from './parse.js';
import { parsePbtxt } from './pbtxt.js';

/** The names a model's config file may have beside it, in the order they are looked for. */
export const CONFIG_FILE_NAMES = ['config.json', 'config.pbtxt'] as const;

/** Checks a config file's text: Triton's config.pbtxt by its extension, else JSON. `where` names the file. */
export function parseConfigFile(text: string, where: string, opts: Omit<ParseOptions, 'where'> = {}): ModelConfig {
  if (!where.endsWith('.pbtxt')) return parseModelConfigText(text, { ...opts, where });
  return parseModelConfig(parsePbtxt(text, where, opts.code), { ...opts, where });
}

/** Reads and checks a config file (JSON or config.pbtxt, Triton names or old spellings); messages name the file. */
export function loadModelConfig(path: string, opts: Omit<ParseOptions, 'where'> = {}): ModelConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    throw new ModelpipeError(opts.code ?? 'MP_ERR_BAD_CONFIG', `${path}: cannot read: ${(err as Error).message}`);
  }
  return parseConfigFile(text, path, opts);
}

/**
 * The config file in a model directory (config.json, else config.pbtxt); both there is
 * a mistake, refused rather than one silently preferred.
 */
export function configIn(dir: string, code: ParseOptions['code'] = 'MP_ERR_BAD_CONFIG'): string | undefined {
  const found = CONFIG_FILE_NAMES.filter((n) => existsSync(join(dir, n)));
  if (found.length > 1) throw new ModelpipeError(code, `${dir} holds both ${found.join(' and ')}: keep one`);
  return found[0] === undefined ? undefined : join(dir, found[0]);
}

/**
 * The config beside a local model file (a model directory's, as Triton and the
 * repository lay them out); none for a URL (its download directory is no model's).
 */
export function configBeside(location: string, modelPath: string): string | undefined {
  return /^https?:\/\//i.test(location) ? undefined : configIn(dirname(modelPath));
}
