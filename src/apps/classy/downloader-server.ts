import { GraphPipeClientPool } from '../../client/graphpipe-client.js';
import { ModelpipeError } from '../../errors/index.js';
import type { FunctionModel } from '../../models/function-model.js';
import { HopModel } from '../../sequencing/sequencing.js';
import { type HopPolicy, hopPolicy, shownHop } from '../../sequencing/hop-policy.js';
import { Tensor } from '../../tensor/index.js';
import { type DownloadOptions, downloadAll, downloadAllSettled } from './download.js';
import { EMPTY_BYTES, asStrings, stageSpecs } from './stage-util.js';
import { type StageResult, callStage, errorEntry, parseStageConfig, preprocessorConfig, stageTensors } from './stage-wire.js';

/**
 * The Classy downloader stage: URLs in, image bytes out, or (hybrid sequencing) the
 * next stage's answer when the request's config names one. See protocol.ts for the
 * config and the `output`/`errors`/`timings` outputs.
 */

export interface DownloaderOptions extends Omit<DownloadOptions, 'signal'> {
  /** Model name in metadata (default classy-downloader). */
  readonly name?: string;
  /** Timeout for the call to the next stage (default 60 000 ms). */
  readonly nextTimeoutMs?: number;
  /**
   * The next stages a request's config may name (URLs, CIDRs or host patterns, see
   * pipeline/hop-policy.ts); any other is refused with MP_ERR_FORBIDDEN_ADDRESS
   * before a connection is made. Default: none.
   */
  readonly allowHops?: HopPolicy | readonly string[];
}

export function downloaderModel(opts: DownloaderOptions = {}): FunctionModel {
  const { name = 'classy-downloader', nextTimeoutMs = 60_000, allowHops, ...download } = opts;
  const hops = hopPolicy(allowHops);
  // Next stages are named per request: their clients share pools closed with this model.
  const stages = new GraphPipeClientPool({ timeoutMs: nextTimeoutMs });
  return new HopModel(
    async (inputs, config, ctx) => {
      const urls = asStrings(inputs.urls, 'urls').map((u) => new TextDecoder().decode(u));
      const cfg = parseStageConfig(config);
      if (cfg.next !== undefined) hops.check(cfg.next); // before any download or connection
      const t0 = performance.now();
      const dl = { ...download, signal: ctx.signal };
      let bytes: Uint8Array[];
      let errors: string[];
      if (cfg.keepGoing) {
        const settled = await downloadAllSettled(urls, dl);
        bytes = settled.map((r) => (r.ok ? r.bytes : EMPTY_BYTES));
        errors = settled.map((r) => (r.ok ? '' : errorEntry(r.error)));
      } else {
        bytes = await downloadAll(urls, dl); // throws the first failure, naming its index
        errors = urls.map(() => '');
      }
      const downloadMs = performance.now() - t0;
      const images = Tensor.fromStrings(bytes, [bytes.length]);
      if (cfg.next === undefined) return stageTensors({ output: images, errors, timings: { download: downloadMs } });
      // Failed downloads travel on as empty entries so the next stage keeps our index space.
      const stage = stages.client(cfg.next);
      const next: StageResult = await callStage(stage, images, cfg.config ?? preprocessorConfig(cfg.keepGoing), {
        signal: ctx.signal,
        conceal: true,
        trace: ctx.trace,
      });
      if (next.errors.length !== errors.length)
        throw new ModelpipeError(
          'MP_ERR_BAD_RESPONSE',
          `${shownHop(cfg.next)}: ${next.errors.length} error entries for ${errors.length} images`,
        );
      return stageTensors({
        output: next.output,
        errors: errors.map((e, i) => (e !== '' ? e : (next.errors[i] as string))),
        timings: { download: downloadMs, ...next.timings },
      });
    },
    {
      name,
      description: 'Classy downloader: image URLs in; image bytes out, or the next stage named in config',
      inputs: [{ name: 'urls', dtype: 'string', shape: [-1], description: 'image URLs (http/https)' }],
      outputs: stageSpecs('string', 'downloaded image bytes, or the next stage output (e.g. float32 probabilities)'),
      // Never merge requests: errors and rows are per request.
      batchable: false,
    },
    () => stages.close(),
  );
}
