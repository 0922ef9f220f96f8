import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Locates the shared test data (models, images) that lives beside the repository.
 * MODELPIPE_SHARED overrides; otherwise ../shared from the repo root.
 * When MODELPIPE_REQUIRE_SHARED=1 (set by .ci/run) a missing file fails the test
 * instead of skipping it, so CI never passes by skipping.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SHARED_DIR = process.env.MODELPIPE_SHARED ?? join(repoRoot, '..', 'shared');

export function sharedPath(rel: string): string {
  return join(SHARED_DIR, rel);
}

/** Returns a skip reason for node:test when the file is absent, or throws under CI. */
export function needShared(...rels: string[]): string | false {
  const missing = rels.filter((r) => !existsSync(sharedPath(r)));
  if (missing.length === 0) return false;
  const msg = `shared test data absent: ${missing.map(sharedPath).join(', ')} (set MODELPIPE_SHARED to the folder holding models/ and images/)`;
  if (process.env.MODELPIPE_REQUIRE_SHARED === '1') throw new Error(msg);
  return msg;
}

export { repoRoot };
