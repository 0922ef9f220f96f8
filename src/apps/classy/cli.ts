import { readFile } from 'node:fs/promises';
import { logFlags } from '../../flags/common-flags.js';
import { helpText } from '../../flags/help.js';
import { defineCommand, flagGroup, parseFlags } from '../../flags/table.js';
import { LABELS_FLAG, PRESET_FLAGS, modelFileFlag } from '../../flags/vision-flags.js';
import { ModelpipeError } from '../../errors/index.js';
import { createLogger } from '../../observe/logger.js';
import { SPAN, commandTrace, endRequest, failSpan, stopTracing } from '../../observe/tracing.js';
import { TRACING_GROUP, startTracingFromFlags } from '../../flags/tracing-flags.js';
import { DOWNLOAD_GROUP, downloadOptions, labelsFrom, presetOptions } from './cli-options.js';
import { DOWNLOADER, PREPROCESSOR, UP, downloaderCommand, preprocessorCommand, upCommand } from './cli-servers.js';
import { type ClassifyOptions, type ClassifyResult, type ClassyInput, type ImageOutcome, classifyImages, predictions } from './client.js';
import { formatPrediction } from '../../vision/labels.js';
import { startStack } from './stack.js';

/** `modelpipe classy …`: classify files and URLs, or run the Classy servers. */

export const CLASSIFY = defineCommand({
  name: 'classy',
  usage: '<files or URLs…> [options]   classify images (one line each: "image 0 is class 504: coffee mug")',
  groups: [
    flagGroup(
      {
        downloader: {
          type: 'string',
          value: 'URL',
          help: 'the downloader stage: URL, comma-separated URLs, or a discovery URL (needed for URLs)',
        },
        preprocessor: { type: 'string', value: 'URL', help: 'the preprocessor stage: URL, comma-separated URLs, or a discovery URL' },
      },
      'Against running servers:',
    ),
    flagGroup({ ...modelFileFlag('the ONNX model'), ...PRESET_FLAGS }, 'Or all three stages in this process:'),
    flagGroup(
      {
        ...LABELS_FLAG,
        'top-k': { type: 'int', min: 1, default: '1', help: 'show the N best classes per image' },
        'keep-going': {
          type: 'boolean',
          help: 'report every image, failed ones with their error (default: stop at the first error)',
        },
        timeout: { type: 'int', value: 'MS', default: '60000', help: 'whole request timeout' },
        ...logFlags('warn'),
      },
      'Output:',
    ),
    DOWNLOAD_GROUP,
    TRACING_GROUP,
  ],
  footer: `  Files are read here and enter at the preprocessor; URLs go through the downloader.
  Exit status: 0 when every image was classified, 1 otherwise.`,
});

/** Every classy command's help: classifying, then the servers. */
export const CLASSY_HELP = [CLASSIFY, UP, DOWNLOADER, PREPROCESSOR].map(helpText).join('\n\n');

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  up: upCommand,
  downloader: downloaderCommand,
  preprocessor: preprocessorCommand,
};

export async function classyCommand(argv: string[]): Promise<void> {
  const sub = argv[0] === undefined ? undefined : SUBCOMMANDS[argv[0]];
  if (sub) return sub(argv.slice(1));
  return classifyCommand(argv);
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** Reads local files; an unreadable one is that image's error (fatal unless keep-going). */
async function readInputs(
  args: readonly string[],
  keepGoing: boolean,
): Promise<{ inputs: ClassyInput[]; unread: Map<number, ModelpipeError> }> {
  const unread = new Map<number, ModelpipeError>();
  const inputs = await Promise.all(
    args.map(async (a, i): Promise<ClassyInput> => {
      if (isUrl(a)) return { url: a };
      try {
        return { bytes: new Uint8Array(await readFile(a)), name: a };
      } catch (e) {
        const err = new ModelpipeError('MP_ERR_FETCH', `image ${i} (${a}): cannot read file: ${(e as Error).message}`);
        if (!keepGoing) throw err;
        unread.set(i, err);
        return { bytes: new Uint8Array(0), name: a }; // travels as an empty image, reported below
      }
    }),
  );
  return { inputs, unread };
}

function print(outcomes: readonly ImageOutcome[], labels: readonly string[], k: number): boolean {
  let allOk = true;
  for (const o of outcomes) {
    if (!o.ok) {
      allOk = false;
      console.log(`image ${o.index} failed: ${o.error.code}: ${o.error.message}`);
      continue;
    }
    const preds = predictions(o, k, labels);
    console.log(formatPrediction(o.index, preds[0]!));
    for (const [r, p] of preds.entries()) {
      if (r > 0) console.log(`    ${r + 1}. class ${p.index}: ${p.label} (${(p.probability * 100).toFixed(2)}%)`);
    }
  }
  return allOk;
}

async function classifyCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, CLASSIFY);
  if (v.help || positionals.length === 0) {
    console.log(CLASSY_HELP);
    if (!v.help) process.exitCode = 2;
    return;
  }
  const k = v['top-k'];
  const keepGoing = v['keep-going'] === true;
  if (v.preprocessor === undefined && v.model === undefined)
    throw new ModelpipeError(
      'MP_ERR_BAD_CONFIG',
      'classy needs --model FILE (the ONNX model, run in this process) or --preprocessor URL [--downloader URL] of running servers',
    );
  const labels = await labelsFrom(v);
  const { inputs, unread } = await readInputs(positionals, keepGoing);
  const opts = { keepGoing, timeoutMs: v.timeout };
  const preprocessor = v.preprocessor;
  const classify = async (o: ClassifyOptions): Promise<ClassifyResult> => {
    if (preprocessor !== undefined) {
      const downloader = v.downloader;
      return classifyImages(inputs, { preprocessor, ...(downloader ? { downloader } : {}) }, o);
    }
    // In-process mode: the same three servers, on ephemeral loopback ports, for this one command.
    const stack = await startStack({
      modelPath: v.model as string, // checked above: --model or --preprocessor
      labels,
      ...(await presetOptions(v)),
      download: downloadOptions(v),
      playground: false,
      logger: createLogger(v['log-level']),
    });
    try {
      return await classifyImages(inputs, stack.endpoints, o);
    } finally {
      await stack.close();
    }
  };
  await startTracingFromFlags(v, createLogger(v['log-level']));
  // One trace per command: the stage calls (and, with --model, the in-process servers) under its root span.
  const root = commandTrace(SPAN.classify, { 'modelpipe.images': inputs.length });
  try {
    const result = await classify({ ...opts, trace: root?.ctx });
    const outcomes = result.images.map((o, i): ImageOutcome => {
      const err = unread.get(i);
      return err ? { index: i, ok: false, error: err } : o;
    });
    if (!print(outcomes, labels, k)) process.exitCode = 1;
  } catch (err: unknown) {
    failSpan(root?.span, err);
    throw err;
  } finally {
    endRequest(root);
    await stopTracing(); // the command's spans are exported before it exits
  }
}
