import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { RemoteModel } from '../models/remote-model.js';
import { HttpServer } from '../server/http-server.js';
import { createLogger } from '../observe/logger.js';
import { bytes, int, listenAddress, parseWithEnv, str } from '../flags/args.js';
import { LIMIT_FLAGS, LIMIT_HELP, limitsFromFlags } from '../flags/limit-flags.js';
import {
  SERVER_SECURITY_FLAGS,
  SERVER_SECURITY_HELP,
  reloadOnSighup,
  serverSecurityFromFlags,
  warnIfExposed,
} from '../flags/security-flags.js';
import { schedulerFromFlags } from '../flags/scheduler-flags.js';
import { stopOnSignals } from '../server/signals.js';
import { optional } from './serve-flags.js';

export const BATCHER_HELP = `modelpipe batcher --target URL [options]
  A batching proxy in front of any GraphPipe server (modelpipe's or graphpipe-go's):
  collects concurrent requests, forwards merged batches, splits the responses.
  --target URL              the GraphPipe server to forward to (required)
  --listen host:port        address to listen on (default 127.0.0.1:9001)
  --upstream-connections N  concurrent batches in flight to the target (default 4)
  --max-batch-size N        rows per merged batch (default 16)
  --max-queue-delay-us N    how long a request waits for company (default 2000)
  --preferred-batch-sizes a,b
  --max-queue N             queued requests before 503 (default 1024)
  --timeout MS              per-request timeout (default 30000)
  --force-batch             merge even if the target's metadata pins dimension 0
  --exact-metadata          validate requests against the target's metadata (default: only
                            for a modelpipe target; others, e.g. graphpipe-go's gp.Serve,
                            report approximate metadata, so requests pass through)
  --body-limit SIZE         largest request body (default 65MiB: a 64 MiB tensor and its envelope)
  --log-level LEVEL
${LIMIT_HELP}
${SERVER_SECURITY_HELP}
                            (the target is the batcher's outgoing hop)`;

export async function batcherCommand(argv: string[]): Promise<void> {
  const { values: v } = parseWithEnv(argv, {
    target: { type: 'string' },
    listen: { type: 'string' },
    'upstream-connections': { type: 'string' },
    'max-batch-size': { type: 'string' },
    'max-queue-delay-us': { type: 'string' },
    'preferred-batch-sizes': { type: 'string' },
    'max-queue': { type: 'string' },
    timeout: { type: 'string' },
    'force-batch': { type: 'boolean' },
    'exact-metadata': { type: 'boolean' },
    'body-limit': { type: 'string' },
    'log-level': { type: 'string' },
    ...LIMIT_FLAGS,
    ...SERVER_SECURITY_FLAGS,
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    console.log(BATCHER_HELP);
    return;
  }
  const target = str(v.target);
  if (!target) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `batcher needs --target URL\n\n${BATCHER_HELP}`);
  const log = createLogger(str(v['log-level']));
  const security = serverSecurityFromFlags(v); // first: --hop-* is what the target sees
  const model = await RemoteModel.connect({
    url: target,
    instances: int(v['upstream-connections'], 'upstream-connections') ?? 4,
    ...optional('batchable', v['force-batch'] === true ? true : undefined),
    ...optional('exactMetadata', v['exact-metadata'] === true ? true : undefined),
    ...optional('timeoutMs', int(v.timeout, 'timeout')),
  });
  const engine = new Engine();
  // The proxy exists to batch: on unless the target cannot take merged batches.
  engine.add(model.metadata.name, model, schedulerFromFlags({ ...v, batch: true }, true));
  const { host, port } = listenAddress(str(v.listen) ?? '127.0.0.1:9001');
  const server = new HttpServer({
    engine,
    logger: log,
    ...optional('bodyLimit', bytes(v['body-limit'], 'body-limit')),
    ...optional('timeoutMs', int(v.timeout, 'timeout')),
    ...limitsFromFlags(v),
    ...security,
  });
  stopOnSignals(() => server.close(), log);
  warnIfExposed(host, security, log, 'batcher');
  await server.listen(port, host);
  reloadOnSighup(security, log);
  log.info(
    { url: server.url, target, model: model.metadata.name, batchable: model.batchable, exactMetadata: model.exactMetadata },
    `batching proxy on ${server.url} for ${target}`,
  );
  if (!model.exactMetadata)
    log.info({ target }, 'the target is not a modelpipe server: its metadata may be approximate, so requests pass through unvalidated');
  if (!model.batchable)
    log.warn({ target }, 'the target pins dimension 0: requests are forwarded one by one (use --force-batch to merge anyway)');
}
