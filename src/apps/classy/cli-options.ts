import { bytes, int, list, str } from '../../flags/args.js';
import { type Flag, flagGroup } from '../../flags/table.js';
import { ModelpipeError } from '../../errors/index.js';
import type { DownloadOptions } from './download.js';
import { findLabels, loadLabels } from '../../vision/labels.js';
import { type Preset, loadPresetConfig, resolvePreset } from '../../vision/presets.js';

/** Flags shared by the Classy subcommands, and how they become library options. */

export const DOWNLOAD_FLAGS = {
  'allow-private': { type: 'boolean', help: 'let the downloader fetch loopback/private/link-local addresses (refused by default)' },
  'allow-address': { type: 'list', help: 'permit just these addresses or CIDRs' },
  'download-timeout': { type: 'int', value: 'MS', help: 'per URL, redirects and body included', defaultNote: '10000' },
  'max-size': { type: 'bytes', help: 'largest image body', defaultNote: '20MiB' },
  'max-redirects': { type: 'int', help: 'redirects followed per URL', defaultNote: '5' },
  'download-concurrency': { type: 'int', min: 1, help: 'downloads in flight per request', defaultNote: '8' },
} as const satisfies Record<string, Flag>;

export const DOWNLOAD_GROUP = flagGroup(DOWNLOAD_FLAGS, 'Downloads:');

/** The downloader server's next-stage allow-list (the stack adds its own preprocessor); `note` says what happens without it. */
export function hopGroup(note: string) {
  return flagGroup(
    {
      'allow-hop': {
        type: 'list',
        help: "next stages a request's config may name: URLs (that origin), addresses/CIDRs (any port) or host[:port] patterns with * (refused otherwise: SSRF)",
      },
    } as const satisfies Record<string, Flag>,
    undefined,
    note,
  );
}

export function allowHops(v: { 'allow-hop'?: string[] }): string[] {
  return v['allow-hop'] ?? [];
}

type Values = Record<string, unknown>;

export function downloadOptions(v: Values): Omit<DownloadOptions, 'signal'> {
  const o: { -readonly [K in keyof DownloadOptions]?: DownloadOptions[K] } = {};
  if (v['allow-private'] === true) o.allowPrivate = true;
  const allow = list(v['allow-address']);
  if (allow) o.allowAddresses = allow;
  const t = int(v['download-timeout'], 'download-timeout');
  if (t !== undefined) o.timeoutMs = t;
  const size = bytes(v['max-size'], 'max-size');
  if (size !== undefined) o.maxBytes = size;
  const r = int(v['max-redirects'], 'max-redirects');
  if (r !== undefined) o.maxRedirects = r;
  const c = int(v['download-concurrency'], 'download-concurrency');
  if (c !== undefined) o.concurrency = c;
  return o;
}

/** The preset name plus user presets from --presets FILE, checked before anything starts. */
export async function presetOptions(v: Values): Promise<{ preset: string; presets?: Map<string, Preset> }> {
  const preset = str(v.preset) ?? 'squeezenet';
  const file = str(v.presets);
  const presets = file === undefined ? undefined : await loadPresetConfig(file);
  resolvePreset(preset, presets);
  return { preset, ...(presets ? { presets } : {}) };
}

export async function labelsFrom(v: Values): Promise<string[]> {
  const path = str(v.labels) ?? findLabels(str(v.model));
  if (path === undefined)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', '--labels FILE is required (no labels file found next to the model)');
  return loadLabels(path);
}
