import { schedulerFromFlags } from '../../flags/scheduler-flags.js';
import { FunctionModel } from '../../models/function-model.js';
import { OnnxModel } from '../../models/onnx/onnx-model.js';
import type { TokenAuth } from '../../server/auth.js';
import type { Logger } from '../../observe/logger.js';
import type { ServerTls } from '../../server/tls.js';
import { silentLogger } from '../../observe/logger.js';
import { type RunningServer, serveModel } from '../../server/serve.js';
import { Tensor } from '../../tensor/index.js';
import { ClassyClient, predictions } from './client.js';
import type { DownloadOptions } from './download.js';
import { downloaderModel } from './downloader-server.js';
import { formatPrediction } from '../../vision/labels.js';
import { playgroundRoutes } from './playground.js';
import { preprocessorModel } from './preprocessor-server.js';
import type { Preset } from '../../vision/presets.js';
import { errorEntry, parseStageConfig } from './stage-wire.js';

/**
 * The whole Classy stack in one process: model server, preprocessor, downloader and
 * playground, each a real HTTP server built from serveModel, wired by URL exactly as
 * separate machines would be. Ports are listenBase+0…+3, or all ephemeral for 0.
 */

export interface StackOptions {
  readonly modelPath: string;
  readonly labels: readonly string[];
  readonly preset: string;
  readonly presets?: ReadonlyMap<string, Preset>;
  readonly host?: string;
  readonly listenBase?: number;
  readonly download?: Omit<DownloadOptions, 'signal'>;
  /** Next stages the downloader may forward to besides this stack's preprocessor. */
  readonly allowHops?: readonly string[];
  /** onnxruntime worker threads (default 1). */
  readonly instances?: number;
  readonly playground?: boolean;
  readonly logger?: Logger;
  /** Every stage's server: TLS and bearer tokens (stages call each other with the process's hop settings). */
  readonly security?: { tls?: ServerTls; auth?: TokenAuth };
}

export interface ClassyStack {
  readonly model: RunningServer;
  readonly preprocessor: RunningServer;
  readonly downloader: RunningServer;
  readonly playground: RunningServer | undefined;
  readonly endpoints: { readonly model: string; readonly preprocessor: string; readonly downloader: string };
  close(): Promise<void>;
}

/**
 * The playground's own GraphPipe model: URLs in, "504: coffee mug" per image out
 * (errors as "CODE: message"), for clients that want the labels without the page.
 */
function gatewayModel(classy: ClassyClient, labels: readonly string[]): FunctionModel {
  return new FunctionModel(
    async (inputs, config, ctx) => {
      const urls = (inputs.urls as Tensor).strings().map((url) => ({ url }));
      const { keepGoing } = parseStageConfig(config);
      const r = await classy.classify(urls, { keepGoing, signal: ctx.signal });
      return Tensor.fromStrings(
        r.images.map((o) => (o.ok ? formatPrediction(o.index, predictions(o, 1, labels)[0]!) : errorEntry(o.error))),
      );
    },
    {
      name: 'classy',
      description: 'Classy gateway: image URLs in, one "image i is class c: label" line per image out',
      inputs: [{ name: 'urls', dtype: 'string', shape: [-1] }],
      outputs: [{ name: 'classes', dtype: 'string', shape: [-1] }],
      batchable: false,
    },
  );
}

export async function startStack(opts: StackOptions): Promise<ClassyStack> {
  const log = opts.logger ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  const base = opts.listenBase ?? 0;
  const port = (i: number): number => (base === 0 ? 0 : base + i);
  const started: RunningServer[] = [];
  let classy: ClassyClient | undefined; // the playground's client of the stages
  const close = async (): Promise<void> => {
    // Front to back, so no stage is left calling one that is already gone.
    for (const s of [...started].reverse()) await s.close();
    await classy?.close();
  };
  try {
    const t0 = performance.now();
    const onnx = await OnnxModel.load({ path: opts.modelPath, instances: opts.instances ?? 1 });
    const model = await serveModel(onnx, {
      port: port(0),
      host,
      logger: log.child({ stage: 'model' }),
      ...opts.security,
      scheduler: schedulerFromFlags({}, onnx.batchable),
    });
    started.push(model);
    log.info(
      { url: model.url, model: onnx.metadata.name, loadMs: Math.round(performance.now() - t0) },
      `model server listening on ${model.url}`,
    );

    const preprocessor = await serveModel(
      preprocessorModel({ preset: opts.preset, ...(opts.presets ? { presets: opts.presets } : {}), next: model.url }),
      { port: port(1), host, logger: log.child({ stage: 'preprocessor' }), ...opts.security },
    );
    started.push(preprocessor);
    log.info({ url: preprocessor.url, preset: opts.preset, next: model.url }, `preprocessor listening on ${preprocessor.url}`);

    // A request's config may name only this stack's preprocessor (and what the operator added).
    const hops = [preprocessor.url, ...(opts.allowHops ?? [])];
    const downloader = await serveModel(downloaderModel({ ...opts.download, allowHops: hops }), {
      port: port(2),
      host,
      logger: log.child({ stage: 'downloader' }),
      ...opts.security,
    });
    started.push(downloader);
    const allowPrivate = opts.download?.allowPrivate === true;
    log.info({ url: downloader.url, allowPrivate, allowHops: hops }, `downloader listening on ${downloader.url}`);

    const endpoints = { model: model.url, preprocessor: preprocessor.url, downloader: downloader.url };
    let playground: RunningServer | undefined;
    if (opts.playground !== false) {
      classy = new ClassyClient(endpoints);
      playground = await serveModel(gatewayModel(classy, opts.labels), {
        port: port(3),
        host,
        logger: log.child({ stage: 'playground' }),
        ...opts.security,
        routes: playgroundRoutes({ client: classy, labels: opts.labels, preset: opts.preset }),
      });
      started.push(playground);
      log.info(
        { url: playground.url },
        `web playground on ${playground.url}/ (upload: curl -F data=@image.jpg ${playground.url}/classify)`,
      );
    }
    return { model, preprocessor, downloader, playground, endpoints, close };
  } catch (err: unknown) {
    await close();
    throw err;
  }
}
