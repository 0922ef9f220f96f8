import { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { RemoteModel } from '../models/remote-model.js';
import { HttpServer } from '../server/http-server.js';
import { createLogger } from '../observe/logger.js';
import { int, listenAddress } from '../flags/args.js';
import { BODY_LIMIT_FLAG, listenFlag, logFlags } from '../flags/common-flags.js';
import { TRACING_GROUP, startTracingFromFlags } from '../flags/tracing-flags.js';
import { helpText } from '../flags/help.js';
import { LIMIT_GROUP, limitsFromFlags } from '../flags/limit-flags.js';
import { SCHEDULER_FLAGS } from '../flags/scheduler-group.js';
import { SERVER_SECURITY_FLAGS, reloadOnSighup, serverSecurityFromFlags, warnIfExposed } from '../flags/security-flags.js';
import { defineCommand, flagGroup, parseFlags, pickFlags } from '../flags/table.js';
import { schedulerFromFlags } from '../flags/scheduler-flags.js';
import { stopOnSignals } from '../server/signals.js';
import { optional } from './serve-flags.js';
import { BALANCER_CONNECTIONS, startBalancer } from './balancer.js';
import { ANNOUNCE_GROUP, checkAnnounceFlags } from '../flags/announce-flags.js';
import type { RegistryAnnouncer } from '../client/endpoints/registry-announcer.js';
import { announceServer } from './announce.js';

export const BATCHER = defineCommand({
  name: 'batcher',
  usage: '--target URL [options]',
  about: `  A batching proxy in front of any GraphPipe server (modelpipe's or graphpipe-go's):
  collects concurrent requests, forwards merged batches, splits the responses.
  The target may be one URL, a list "a,b,c" or a discovery URL: batches are balanced
  over them. With --no-batch it is a plain L7 balancer for GraphPipe and OIP REST
  alike: each request goes to one endpoint as it came (failing over as endpoint sets do).`,
  groups: [
    flagGroup({
      target: {
        type: 'string',
        value: 'URL',
        help: 'the GraphPipe server to forward to: URL, comma-separated URLs, or a discovery URL (required)',
      },
      ...listenFlag('127.0.0.1:9001'),
      'upstream-connections': {
        type: 'int',
        min: 1,
        help: `concurrent batches in flight to the target (default 4); with --no-batch, connections per endpoint (default ${BALANCER_CONNECTIONS})`,
      },
      'no-batch': { type: 'boolean', help: 'no batching: forward each request as it is, balanced over the targets (an L7 balancer)' },
    }),
    flagGroup(
      {
        ...pickFlags(SCHEDULER_FLAGS, 'max-batch-size', 'max-queue-delay-us', 'preferred-batch-sizes', 'max-queue', 'timeout'),
        'force-batch': { type: 'boolean', help: "merge even if the target's metadata pins dimension 0" },
        'exact-metadata': {
          type: 'boolean',
          help: "validate requests against the target's metadata (default: only for a modelpipe target; others, e.g. graphpipe-go's gp.Serve, report approximate metadata, so requests pass through)",
        },
        ...BODY_LIMIT_FLAG,
      },
      'Batching:',
    ),
    ANNOUNCE_GROUP,
    LIMIT_GROUP,
    flagGroup(SERVER_SECURITY_FLAGS, 'TLS and authentication:', "(the target is the batcher's outgoing hop)"),
    flagGroup(logFlags()),
    TRACING_GROUP,
  ],
});

export const BATCHER_HELP = helpText(BATCHER);

export async function batcherCommand(argv: string[]): Promise<void> {
  const { values: v } = parseFlags(argv, BATCHER);
  if (v.help) {
    console.log(BATCHER_HELP);
    return;
  }
  const target = v.target;
  if (!target) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `batcher needs --target URL\n\n${BATCHER_HELP}`);
  checkAnnounceFlags(v);
  const log = createLogger(v['log-level']);
  await startTracingFromFlags(v, log);
  const security = serverSecurityFromFlags(v); // first: --hop-* is what the target sees
  const connections = int(v['upstream-connections'], 'upstream-connections');
  if (v['no-batch'] === true) {
    const limits = limitsFromFlags(v);
    await startBalancer({
      target,
      listen: v.listen,
      connections,
      bodyLimit: v['body-limit'],
      timeoutMs: v.timeout,
      limits,
      security,
      log,
      announce: v,
    });
    return;
  }
  const model = await RemoteModel.connect({
    url: target,
    instances: connections ?? 4,
    ...optional('batchable', v['force-batch'] === true ? true : undefined),
    ...optional('exactMetadata', v['exact-metadata'] === true ? true : undefined),
    ...optional('timeoutMs', int(v.timeout, 'timeout')),
  });
  const engine = new Engine();
  // The proxy exists to batch: on unless the target cannot take merged batches.
  engine.add(model.metadata.name, model, schedulerFromFlags({ ...v, batch: true }, true));
  const { host, port } = listenAddress(v.listen);
  const server = new HttpServer({
    engine,
    logger: log,
    ...optional('bodyLimit', v['body-limit']),
    ...optional('timeoutMs', v.timeout),
    ...limitsFromFlags(v),
    ...security,
  });
  let announcement: RegistryAnnouncer | undefined;
  stopOnSignals(async () => {
    await announcement?.leave(); // out of the registry before draining
    await server.close();
  }, log);
  warnIfExposed(host, security, log, 'batcher');
  await server.listen(port, host);
  reloadOnSighup(security, log);
  log.info(
    { url: server.url, target, model: model.metadata.name, batchable: model.batchable, exactMetadata: model.exactMetadata },
    `batching proxy on ${server.url} for ${target}`,
  );
  announcement = await announceServer(v, server.url, log, () => server.close());
  if (!model.exactMetadata)
    log.info({ target }, 'the target is not a modelpipe server: its metadata may be approximate, so requests pass through unvalidated');
  if (!model.batchable)
    log.warn({ target }, 'the target pins dimension 0: requests are forwarded one by one (use --force-batch to merge anyway)');
}
