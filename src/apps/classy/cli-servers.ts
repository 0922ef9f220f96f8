import { listenAddress } from '../../flags/args.js';
import { listenFlag, logFlags } from '../../flags/common-flags.js';
import { helpText } from '../../flags/help.js';
import { RUNTIME_FLAGS } from '../../flags/scheduler-group.js';
import { SERVER_SECURITY_FLAGS, reloadOnSighup, serverSecurityFromFlags, warnIfExposed } from '../../flags/security-flags.js';
import { defineCommand, flagGroup, parseFlags, pickFlags } from '../../flags/table.js';
import { LABELS_FLAG, PRESET_FLAGS, modelFileFlag } from '../../flags/vision-flags.js';
import { stopOnSignals } from '../../server/signals.js';
import { ModelpipeError } from '../../errors/index.js';
import { createLogger } from '../../observe/logger.js';
import { serveModel } from '../../server/serve.js';
import { DOWNLOAD_GROUP, allowHops, downloadOptions, hopGroup, labelsFrom, presetOptions } from './cli-options.js';
import { downloaderModel } from './downloader-server.js';
import { preprocessorModel } from './preprocessor-server.js';
import { startStack } from './stack.js';

/** `modelpipe classy up | downloader | preprocessor`: the long-running Classy servers. */

export const UP = defineCommand({
  name: 'classy up',
  usage: '--model M.onnx [--labels L] [options]   the whole stack on one machine',
  groups: [
    flagGroup({
      ...modelFileFlag('the ONNX model (served by the model server)'),
      ...LABELS_FLAG,
      ...PRESET_FLAGS,
      host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address to bind' },
      'listen-base': {
        type: 'int',
        value: 'PORT',
        default: '9000',
        help: 'model on PORT, preprocessor PORT+1, downloader PORT+2, playground PORT+3 (0 = any free ports)',
      },
      ...pickFlags(RUNTIME_FLAGS, 'instances'),
    }),
    DOWNLOAD_GROUP,
    hopGroup("(the stack's own preprocessor is always allowed)"),
    flagGroup(
      SERVER_SECURITY_FLAGS,
      'TLS and authentication:',
      '(with TLS or tokens, give the stages --hop-ca/--hop-token to call each other)',
    ),
    flagGroup(logFlags()),
  ],
});

export const DOWNLOADER = defineCommand({
  name: 'classy downloader',
  usage: '[options]   the downloader stage alone',
  groups: [
    flagGroup(listenFlag('127.0.0.1:9002')),
    DOWNLOAD_GROUP,
    hopGroup('(default: none, so a request may not name a next stage)'),
    flagGroup(logFlags()),
  ],
});

export const PREPROCESSOR = defineCommand({
  name: 'classy preprocessor',
  usage: '--next MODEL_URL [options]   the preprocessor stage alone',
  groups: [
    flagGroup({
      ...listenFlag('127.0.0.1:9001'),
      ...PRESET_FLAGS,
      next: {
        type: 'string',
        value: 'URL',
        help: 'the model server: URL, comma-separated URLs, or a discovery URL (without it, the stage answers the preprocessed tensor)',
      },
      'next-output': { type: 'string', value: 'NAME', help: 'the model output to keep', defaultNote: "the model's first" },
    }),
    flagGroup(logFlags()),
  ],
});

export const UP_HELP = helpText(UP);
export const DOWNLOADER_HELP = helpText(DOWNLOADER);
export const PREPROCESSOR_HELP = helpText(PREPROCESSOR);

export async function upCommand(argv: string[]): Promise<void> {
  const { values: v } = parseFlags(argv, UP);
  if (v.help) return console.log(UP_HELP);
  const modelPath = v.model;
  if (modelPath === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `classy up needs --model\n\n${UP_HELP}`);
  const log = createLogger(v['log-level']);
  const labels = await labelsFrom(v);
  const security = serverSecurityFromFlags(v);
  warnIfExposed(v.host, security, log, 'classy');
  const stack = await startStack({
    modelPath,
    labels,
    ...(await presetOptions(v)),
    host: v.host,
    listenBase: v['listen-base'],
    instances: v.instances ?? 1,
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
  const { values: v } = parseFlags(argv, DOWNLOADER);
  if (v.help) return console.log(DOWNLOADER_HELP);
  const log = createLogger(v['log-level']);
  const { host, port } = listenAddress(v.listen);
  const opts = downloadOptions(v);
  const hops = allowHops(v);
  const s = await serveModel(downloaderModel({ ...opts, allowHops: hops }), { host, port, logger: log });
  stopOnSignals(() => s.close(), log);
  log.info({ url: s.url, allowPrivate: opts.allowPrivate === true, allowHops: hops }, `downloader listening on ${s.url}`);
}

export async function preprocessorCommand(argv: string[]): Promise<void> {
  const { values: v } = parseFlags(argv, PREPROCESSOR);
  if (v.help) return console.log(PREPROCESSOR_HELP);
  const log = createLogger(v['log-level']);
  const { host, port } = listenAddress(v.listen);
  const next = v.next;
  const nextOutput = v['next-output'];
  const presets = await presetOptions(v);
  const model = preprocessorModel({ ...presets, ...(next ? { next } : {}), ...(nextOutput ? { nextOutput } : {}) });
  const s = await serveModel(model, { host, port, logger: log });
  stopOnSignals(() => s.close(), log);
  log.info({ url: s.url, preset: presets.preset, next }, `preprocessor listening on ${s.url}`);
}
