import { int, listenAddress, parseWithEnv, str } from '../../flags/args.js';
import {
  SERVER_SECURITY_FLAGS,
  SERVER_SECURITY_HELP,
  reloadOnSighup,
  serverSecurityFromFlags,
  warnIfExposed,
} from '../../flags/security-flags.js';
import { stopOnSignals } from '../../server/signals.js';
import { ModelpipeError } from '../../errors/index.js';
import { createLogger } from '../../observe/logger.js';
import { serveModel } from '../../server/serve.js';
import {
  DOWNLOAD_FLAGS,
  DOWNLOAD_HELP,
  HOP_FLAGS,
  HOP_HELP,
  allowHops,
  downloadOptions,
  labelsFrom,
  presetOptions,
} from './cli-options.js';
import { downloaderModel } from './downloader-server.js';
import { preprocessorModel } from './preprocessor-server.js';
import { startStack } from './stack.js';

/** `modelpipe classy up | downloader | preprocessor`: the long-running Classy servers. */

export const UP_HELP = `modelpipe classy up --model M.onnx [--labels L] [options]   the whole stack on one machine
  --model FILE          the ONNX model (served by the model server)
  --labels FILE         class labels, one per line (default: a labels file next to the model)
  --preset NAME         squeezenet | vgg | imagenet | a name from --presets (default squeezenet)
  --presets FILE        user presets (JSON)
  --host HOST           address to bind (default 127.0.0.1)
  --listen-base PORT    model on PORT, preprocessor PORT+1, downloader PORT+2, playground PORT+3
                        (default 9000; 0 = any free ports)
  --instances N         onnxruntime worker threads (default 1)
${DOWNLOAD_HELP}
${HOP_HELP}
                            (the stack's own preprocessor is always allowed)
  --log-level LEVEL     pino level (default info)
${SERVER_SECURITY_HELP}
                        (with TLS or tokens, give the stages --hop-ca/--hop-token to call each other)`;

export const DOWNLOADER_HELP = `modelpipe classy downloader [options]   the downloader stage alone
  --listen host:port    (default 127.0.0.1:9002)
${DOWNLOAD_HELP}
${HOP_HELP}
                            (default: none, so a request may not name a next stage)
  --log-level LEVEL`;

export const PREPROCESSOR_HELP = `modelpipe classy preprocessor --next MODEL_URL [options]   the preprocessor stage alone
  --listen host:port    (default 127.0.0.1:9001)
  --preset NAME         (default squeezenet)
  --presets FILE        user presets (JSON)
  --next URL            the model server (without it, the stage answers the preprocessed tensor)
  --next-output NAME    the model output to keep (default the model's first)
  --log-level LEVEL`;

const LOG = { 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function upCommand(argv: string[]): Promise<void> {
  const { values: v } = parseWithEnv(argv, {
    model: { type: 'string' },
    labels: { type: 'string' },
    preset: { type: 'string' },
    presets: { type: 'string' },
    host: { type: 'string' },
    'listen-base': { type: 'string' },
    instances: { type: 'string' },
    ...DOWNLOAD_FLAGS,
    ...SERVER_SECURITY_FLAGS,
    ...HOP_FLAGS,
    ...LOG,
  });
  if (v.help) return console.log(UP_HELP);
  const modelPath = str(v.model);
  if (modelPath === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `classy up needs --model\n\n${UP_HELP}`);
  const log = createLogger(str(v['log-level']));
  const labels = await labelsFrom(v);
  const security = serverSecurityFromFlags(v);
  warnIfExposed(str(v.host) ?? '127.0.0.1', security, log, 'classy');
  const stack = await startStack({
    modelPath,
    labels,
    ...(await presetOptions(v)),
    host: str(v.host) ?? '127.0.0.1',
    listenBase: int(v['listen-base'], 'listen-base') ?? 9000,
    instances: int(v.instances, 'instances') ?? 1,
    download: downloadOptions(v),
    allowHops: allowHops(v),
    logger: log,
    security,
  });
  stopOnSignals(() => stack.close(), log);
  reloadOnSighup(security, log);
  log.info(
    stack.endpoints,
    `classy is up: try  modelpipe classy --downloader ${stack.endpoints.downloader} --preprocessor ${stack.endpoints.preprocessor} --labels … IMAGE`,
  );
}

export async function downloaderCommand(argv: string[]): Promise<void> {
  const { values: v } = parseWithEnv(argv, { listen: { type: 'string' }, ...DOWNLOAD_FLAGS, ...HOP_FLAGS, ...LOG });
  if (v.help) return console.log(DOWNLOADER_HELP);
  const log = createLogger(str(v['log-level']));
  const { host, port } = listenAddress(str(v.listen) ?? '127.0.0.1:9002');
  const opts = downloadOptions(v);
  const hops = allowHops(v);
  const s = await serveModel(downloaderModel({ ...opts, allowHops: hops }), { host, port, logger: log });
  stopOnSignals(() => s.close(), log);
  log.info({ url: s.url, allowPrivate: opts.allowPrivate === true, allowHops: hops }, `downloader listening on ${s.url}`);
}

export async function preprocessorCommand(argv: string[]): Promise<void> {
  const { values: v } = parseWithEnv(argv, {
    listen: { type: 'string' },
    preset: { type: 'string' },
    presets: { type: 'string' },
    next: { type: 'string' },
    'next-output': { type: 'string' },
    ...LOG,
  });
  if (v.help) return console.log(PREPROCESSOR_HELP);
  const log = createLogger(str(v['log-level']));
  const { host, port } = listenAddress(str(v.listen) ?? '127.0.0.1:9001');
  const next = str(v.next);
  const nextOutput = str(v['next-output']);
  const presets = await presetOptions(v);
  const model = preprocessorModel({ ...presets, ...(next ? { next } : {}), ...(nextOutput ? { nextOutput } : {}) });
  const s = await serveModel(model, { host, port, logger: log });
  stopOnSignals(() => s.close(), log);
  log.info({ url: s.url, preset: presets.preset, next }, `preprocessor listening on ${s.url}`);
}
