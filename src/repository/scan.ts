import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ModelpipeError } from '../errors/index.js';
import { CONFIG_FILE_NAMES, type ConfigWarn, type ModelConfig, configIn } from '../config/index.js';
import { readRepositoryConfig } from './config.js';

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

/**
 * Model directories in the repository (names that pass the check; others are
 * skipped). A symlink that leads nowhere is listed too, so that model is reported
 * unavailable rather than silently missing; one that leads to a file is skipped.
 */
export function listModels(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => NAME.test(d.name) && (d.isDirectory() || (d.isSymbolicLink() && linkedKind(join(dir, d.name)) !== 'file')))
    .map((d) => d.name)
    .sort();
}

/** What a path leads to: a directory, a file (or anything else), nothing (dangling link, loop, gone, unreadable). */
function linkedKind(path: string): 'dir' | 'file' | 'none' {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st === undefined ? 'none' : st.isDirectory() ? 'dir' : 'file';
  } catch {
    return 'none'; // ELOOP, EACCES, ENOTDIR: nothing usable
  }
}

/** A symbolic link that leads nowhere (its target is missing, or a loop): stat fails where lstat does not. */
function dangling(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true && linkedKind(path) === 'none';
  } catch {
    return false; // not even the link itself is there (e.g. a version that is a file)
  }
}

export interface ModelOnDisk {
  name: string;
  config: ModelConfig;
  /** Versions that have a model.onnx, newest first. */
  versions: string[];
  /** Versions whose model.onnx is a symbolic link to nothing (for the reason a model cannot load). */
  danglingVersions: string[];
  /** Changes when any model file or the config changes (polling compares it). */
  fingerprint: string;
}

export function modelFile(dir: string, name: string, version: string): string {
  return join(dir, name, version, 'model.onnx');
}

/** Reads one model's directory; a bad config throws MP_ERR_REPO_CONFIG naming the file. */
export function readModel(dir: string, name: string, warn?: ConfigWarn): ModelOnDisk {
  checkModelName(name);
  const root = join(dir, name);
  if (dangling(root)) {
    throw new ModelpipeError(
      'MP_ERR_REPO_LOAD_FAILED',
      `model directory ${name} is a symbolic link that leads nowhere (missing target or a loop)`,
    );
  }
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ModelpipeError('MP_ERR_REPO_UNKNOWN_MODEL', `no model ${JSON.stringify(name)} in the repository`);
  }
  const cfgPath = configIn(root, 'MP_ERR_REPO_CONFIG');
  const config = cfgPath ? readRepositoryConfig(readFileSync(cfgPath, 'utf8'), `${name}/${basename(cfgPath)}`, warn) : {};
  const versions = versionsOnDisk(dir, name);
  const danglingVersions = versionDirs(dir, name).filter((v) => dangling(modelFile(dir, name, v)));
  return { name, config, versions, danglingVersions, fingerprint: fingerprintOf(dir, name) ?? '' };
}

function versionDirs(dir: string, name: string): string[] {
  return readdirSync(join(dir, name))
    .filter((v) => /^[1-9]\d{0,15}$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
}

function versionsOnDisk(dir: string, name: string): string[] {
  return versionDirs(dir, name).filter((v) => existsSync(modelFile(dir, name, v)));
}

/**
 * Sizes and times of the config and model files; undefined when the model directory
 * is gone. A directory that is a symlink to nothing has a fingerprint of its own, so
 * polling records it once instead of retrying every round.
 */
export function fingerprintOf(dir: string, name: string): string | undefined {
  try {
    if (dangling(join(dir, name))) return 'dangling';
    const parts: string[] = [];
    for (const file of CONFIG_FILE_NAMES) {
      const cfgPath = join(dir, name, file);
      if (!existsSync(cfgPath)) continue;
      const st = statSync(cfgPath);
      parts.push(`${file}:${st.mtimeMs}:${st.size}`);
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
