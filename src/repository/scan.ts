import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelpipeError } from '../errors/index.js';
import { type ModelConfig, parseModelConfig } from './config.js';

/**
 * Reading the repository layout: DIR/<model>/<version>/model.onnx plus an optional
 * DIR/<model>/config.json. Versions are positive integers, newest first.
 */

/** Letters, digits, `_`, `-`, `.`; not starting with `.`: no separators, no `..`, nothing hidden. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkModelName(name: string): void {
  if (!NAME.test(name)) {
    throw new ModelpipeError(
      'MP_ERR_REPO_BAD_NAME',
      `invalid model name ${JSON.stringify(name.slice(0, 80))}: use letters, digits, "_", "-" and "."`,
    );
  }
}

/** Model directories in the repository (names that pass the check; others are skipped). */
export function listModels(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => (d.isDirectory() || d.isSymbolicLink()) && NAME.test(d.name) && statSync(join(dir, d.name)).isDirectory())
    .map((d) => d.name)
    .sort();
}

export interface ModelOnDisk {
  name: string;
  config: ModelConfig;
  /** Versions that have a model.onnx, newest first. */
  versions: string[];
  /** Changes when any model file or the config changes (polling compares it). */
  fingerprint: string;
}

export function modelFile(dir: string, name: string, version: string): string {
  return join(dir, name, version, 'model.onnx');
}

/** Reads one model's directory; a bad config throws MP_ERR_REPO_CONFIG naming the file. */
export function readModel(dir: string, name: string): ModelOnDisk {
  checkModelName(name);
  const root = join(dir, name);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ModelpipeError('MP_ERR_REPO_UNKNOWN_MODEL', `no model ${JSON.stringify(name)} in the repository`);
  }
  const cfgPath = join(root, 'config.json');
  const config = existsSync(cfgPath) ? parseModelConfig(readFileSync(cfgPath, 'utf8'), `${name}/config.json`) : {};
  const versions = versionsOnDisk(dir, name);
  return { name, config, versions, fingerprint: fingerprintOf(dir, name) ?? '' };
}

function versionsOnDisk(dir: string, name: string): string[] {
  return readdirSync(join(dir, name))
    .filter((v) => /^[1-9]\d{0,15}$/.test(v) && existsSync(modelFile(dir, name, v)))
    .sort((a, b) => Number(b) - Number(a));
}

/** Sizes and times of the config and model files; undefined when the model directory is gone. */
export function fingerprintOf(dir: string, name: string): string | undefined {
  try {
    const parts: string[] = [];
    const cfgPath = join(dir, name, 'config.json');
    if (existsSync(cfgPath)) {
      const st = statSync(cfgPath);
      parts.push(`config:${st.mtimeMs}:${st.size}`);
    }
    for (const v of versionsOnDisk(dir, name)) {
      const st = statSync(modelFile(dir, name, v));
      parts.push(`${v}:${st.mtimeMs}:${st.size}`);
    }
    return parts.join('|');
  } catch {
    return undefined;
  }
}
