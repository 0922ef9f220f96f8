#!/usr/bin/env node
import { CLASSY_HELP, classyCommand } from '../apps/classy/cli.js';
import { isModelpipeError } from '../errors/index.js';
import { BATCHER_HELP, batcherCommand } from './batcher-command.js';
import { CLASSIFY_DIR_HELP, classifyDirCommand } from './classify-dir-command.js';
import { INFER_HELP, METADATA_HELP, inferCommand, metadataCommand } from './client-commands.js';
import { heapFlag, relaunch, watchParent } from './relaunch.js';
import { RUN_HELP, runCommand } from './run-command.js';
import { SERVE_HELP, serveCommand } from './serve-command.js';

type Command = { run: (argv: string[]) => Promise<void>; help: string };

/** Subcommands; each lives in its own module and is loaded only when used. */
const COMMANDS: Record<string, Command> = {
  serve: { run: serveCommand, help: SERVE_HELP },
  infer: { run: inferCommand, help: INFER_HELP },
  metadata: { run: metadataCommand, help: METADATA_HELP },
  batcher: { run: batcherCommand, help: BATCHER_HELP },
  classy: { run: classyCommand, help: CLASSY_HELP },
  run: { run: runCommand, help: RUN_HELP },
  'classify-dir': { run: classifyDirCommand, help: CLASSIFY_DIR_HELP },
};

function usage(): string {
  return `modelpipe — serve ONNX and TypeScript models over GraphPipe, and chain them.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(14)}${c.help.split('\n')[0]?.replace(/^modelpipe \S+ ?/, '') ?? ''}`)
  .join('\n')}

Run "modelpipe <command> --help" for a command's options.`;
}

async function main(argv: string[]): Promise<void> {
  watchParent();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`unknown command ${name}\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  // Servers run with a larger initial old generation (see relaunch.ts): once, here.
  const flag = isServer(name, rest) ? heapFlag() : undefined;
  if (flag !== undefined) {
    process.exitCode = await relaunch(flag);
    return;
  }
  await cmd.run(rest);
}

/** Commands that start a long-running server (not their --help). */
function isServer(name: string, rest: readonly string[]): boolean {
  if (rest.includes('--help') || rest.includes('-h')) return false;
  return name === 'serve' || name === 'batcher' || (name === 'classy' && rest[0] === 'up');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isModelpipeError(err)) console.error(`modelpipe: ${err.code}: ${err.message}`);
  else console.error(`modelpipe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
