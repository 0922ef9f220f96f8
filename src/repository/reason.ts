import { realpathSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * A load failure's message made fit for clients (index, readiness, load answers):
 * paths inside the repository become relative to it, and any other absolute path
 * (a symlink's target, a loader's temporary file) is cut to its base name, so a
 * reason never reveals where the host keeps things.
 */
export function clientReason(msg: string, dir: string): string {
  let out = msg;
  for (const root of roots(dir)) out = out.split(`${root}/`).join('');
  return out.replace(/(^|[\s'"(=:[])\/(?:[^\s'"/)\]]+\/)*([^\s'"/)\]]+)/g, (_, pre: string, last: string) => `${pre}${basename(last)}`);
}

/** The repository directory as given and as resolved (symlinked temp dirs, relative paths). */
function roots(dir: string): string[] {
  const given = dir.replace(/\/+$/, '');
  let real = given;
  try {
    real = realpathSync(given);
  } catch {
    // the directory itself is gone: only the name given is known
  }
  return real === given ? [given] : [given, real];
}
