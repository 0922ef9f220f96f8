import { type ConfigWarn, type ModelConfig, type VersionPolicy, parseConfigFile } from '../config/index.js';

/**
 * A model's optional config in the repository (`DIR/<model>/config.json`, or Triton's
 * `config.pbtxt`): the one
 * model config (config/, Triton's names; old spellings still load, with a warning each).
 * Unknown fields fail the load with the file and field named, so a typo is not ignored;
 * free-form application fields go under `modelpipe.app` and are carried into metadata.
 */
export function readRepositoryConfig(text: string, where: string, warn?: ConfigWarn): ModelConfig {
  return parseConfigFile(text, where, { code: 'MP_ERR_REPO_CONFIG', ...(warn ? { warn } : {}) });
}

/** Versions to serve out of those on disk (newest first); default: the newest one. */
export function selectVersions(onDisk: readonly string[], p: VersionPolicy = { latest: { num_versions: 1 } }): string[] {
  if ('all' in p) return [...onDisk];
  if ('specific' in p) return onDisk.filter((v) => p.specific.versions.includes(v));
  return onDisk.slice(0, p.latest.num_versions);
}
