#!/usr/bin/env node
import cluster from 'node:cluster';
import { cliError } from './checks.js';
import { COMMANDS } from './commands.js';
import { wantsProcesses } from './processes.js';
import { heapFlag, relaunch, watchParent } from './relaunch.js';

async function usage(): Promise<string> {
  const lines: string[] = [];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const help = (await load()).help;
    lines.push(`  ${name.padEnd(14)}${help.split('\n')[0]?.replace(/^modelpipe \S+ ?/, '') ?? ''}`);
  }
  return `modelpipe — serve ONNX and TypeScript models over GraphPipe, and chain them.

Commands:
${lines.join('\n')}

Run "modelpipe <command> --help" for a command's options.`;
}

async function main(argv: string[]): Promise<void> {
  watchParent();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`unknown command ${name}\n\n${await usage()}`);
    process.exitCode = 2;
    return;
  }
  // Servers run with a larger initial old generation (see relaunch.ts): once, here.
  // `serve --processes N`: the cluster primary passes the flag to its workers instead (serve-processes.ts).
  const flag = isServer(name, rest) && !(name === 'serve' && wantsProcesses(rest)) ? heapFlag() : undefined;
  if (flag !== undefined) {
    process.exitCode = await relaunch(flag);
    return;
  }
  await (await load()).run(rest);
}

/** Commands that start a long-running server (not their --help). */
function isServer(name: string, rest: readonly string[]): boolean {
  if (rest.includes('--help') || rest.includes('-h')) return false;
  return name === 'serve' || name === 'batcher' || (name === 'classy' && rest[0] === 'up');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // A mistake on the command line is one line with a code; only a bug shows its stack.
  const known = cliError(err);
  if (known) console.error(`modelpipe: ${known.code}: ${known.message}`);
  else console.error(`modelpipe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
  // A `serve --processes` worker: its IPC channel would keep it alive; the primary sees the exit.
  if (cluster.isWorker) process.exit(1);
});
