import type { CommandSpec } from '../flags/table.js';

/** A subcommand: what runs it, its --help, and the flag tables both come from (several for classy's subcommands). */
export interface Command {
  run: (argv: string[]) => Promise<void>;
  help: string;
  specs: readonly CommandSpec[];
}

/**
 * Subcommands; each lives in its own module and is loaded only when used (a
 * server's launcher, see relaunch.ts, then loads none of them).
 */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: () => import('./serve-command.js').then((m) => ({ run: m.serveCommand, help: m.SERVE_HELP, specs: [m.SERVE] })),
  infer: () => import('./client-commands.js').then((m) => ({ run: m.inferCommand, help: m.INFER_HELP, specs: [m.INFER] })),
  metadata: () => import('./client-commands.js').then((m) => ({ run: m.metadataCommand, help: m.METADATA_HELP, specs: [m.METADATA] })),
  batcher: () => import('./batcher-command.js').then((m) => ({ run: m.batcherCommand, help: m.BATCHER_HELP, specs: [m.BATCHER] })),
  classy: () =>
    Promise.all([import('../apps/classy/cli.js'), import('../apps/classy/cli-servers.js')]).then(([m, s]) => ({
      run: m.classyCommand,
      help: m.CLASSY_HELP,
      specs: [m.CLASSIFY, s.UP, s.DOWNLOADER, s.PREPROCESSOR],
    })),
  run: () => import('./run-command.js').then((m) => ({ run: m.runCommand, help: m.RUN_HELP, specs: [m.RUN] })),
  perf: () => import('./perf-command.js').then((m) => ({ run: m.perfCommand, help: m.PERF_HELP, specs: [m.PERF] })),
  tune: () => import('./tune-command.js').then((m) => ({ run: m.tuneCommand, help: m.TUNE_HELP, specs: [m.TUNE] })),
  'classify-dir': () =>
    import('../apps/classify-dir/command.js').then((m) => ({
      run: m.classifyDirCommand,
      help: m.CLASSIFY_DIR_HELP,
      specs: [m.CLASSIFY_DIR],
    })),
  endpoints: () =>
    import('./endpoints-command.js').then((m) => ({ run: m.endpointsCommand, help: m.ENDPOINTS_HELP, specs: [m.ENDPOINTS] })),
};
