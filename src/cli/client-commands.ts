import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { GraphPipeClient } from '../client/graphpipe-client.js';
import { OipClient } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import { serverHasExactMetadata } from '../models/model.js';
import { type DType, type Tensor, isDType, parseNpy, toJSONValue, toNpy } from '../tensor/index.js';
import { int, str } from '../flags/args.js';
import { helpText } from '../flags/help.js';
import { CLIENT_SECURITY_GROUP, clientSecurityFromFlags } from '../flags/security-flags.js';
import { type Flag, defineCommand, flagGroup, parseFlags } from '../flags/table.js';
import { needFile, needHttpUrl, needParentDir } from './checks.js';
import { tensorFromJSONText } from './json-input.js';

/** The server a client command talks to, and how; the request timeout's default differs per command. */
function serverFlags(timeoutMs: number) {
  return flagGroup({
    protocol: {
      type: 'string',
      value: 'P',
      choices: ['graphpipe', 'v2', 'v2-grpc'],
      default: 'graphpipe',
      help: 'graphpipe, v2 (OIP REST, binary tensors) or v2-grpc (URL host:port or grpc://host:port)',
    },
    model: { type: 'string', value: 'NAME', help: 'model to run (v2 and v2-grpc: required)' },
    'model-version': { type: 'string', value: 'V', help: 'model version (v2 and v2-grpc)' },
    timeout: { type: 'int', value: 'MS', default: String(timeoutMs), help: 'request timeout' },
  } as const satisfies Record<string, Flag>);
}

export const INFER = defineCommand({
  name: 'infer',
  usage: 'URL --input <JSON array | file.npy> [options]   (URL: one, comma-separated, or a discovery URL)',
  groups: [
    flagGroup({
      input: {
        type: 'string',
        value: 'X',
        multiple: true,
        help: 'an input: inline JSON ([[0,1],[2,3]]), a .json file or a .npy file',
      },
      'input-name': { type: 'string', value: 'N', multiple: true, help: "name of each input, in order (default: the server's)" },
      'output-name': { type: 'string', value: 'N', multiple: true, help: "outputs to return (default: the server's)" },
      dtype: {
        type: 'string',
        value: 'T',
        default: 'float32',
        check: (t: string) => (isDType(t) ? undefined : 'is not a dtype'),
        help: 'dtype for JSON inputs',
      },
      config: { type: 'string', value: 'S', help: "the request's config string" },
      out: { type: 'string', value: 'FILE.npy', help: 'write the (first) output as .npy instead of printing JSON' },
    }),
    serverFlags(60_000),
    CLIENT_SECURITY_GROUP,
  ],
});

export const INFER_HELP = helpText(INFER);

export const METADATA = defineCommand({
  name: 'metadata',
  usage:
    'URL [--protocol graphpipe|v2|v2-grpc --model NAME]   print model metadata as JSON (URL: one, comma-separated, or a discovery URL)',
  groups: [serverFlags(30_000), CLIENT_SECURITY_GROUP],
});

export const METADATA_HELP = helpText(METADATA);

type Protocol = 'graphpipe' | 'v2' | 'v2-grpc';

function protocolOf(v: Record<string, unknown>): Protocol {
  // The flag table has checked the value.
  return (str(v.protocol) ?? 'graphpipe') as Protocol;
}

/** Runs the command's calls on `client`, then closes it (so the process can exit). */
async function withClient<C extends { close(): Promise<void> }, T>(client: C, use: (c: C) => Promise<T>): Promise<T> {
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** v2-grpc takes host:port or grpc://host:port (TLS: https:// or grpcs://). */
function oipClient(url: string, p: Protocol, v: Record<string, unknown>, timeoutMs: number): OipClient {
  return new OipClient(url, { transport: p === 'v2-grpc' ? 'grpc' : 'rest-binary', timeoutMs, security: clientSecurityFromFlags(v) });
}

function modelFlag(v: Record<string, unknown>): string {
  const m = str(v.model);
  if (!m) throw new ModelpipeError('MP_ERR_BAD_CONFIG', '--model NAME is required with --protocol v2 and v2-grpc');
  return m;
}

/** Inference over the Open Inference Protocol; input names default to the model's, in order. */
async function oipInfer(client: OipClient, v: Record<string, unknown>, inputs: Tensor[]): Promise<Tensor[]> {
  const model = modelFlag(v);
  const version = str(v['model-version']);
  const opts = version ? { version } : {};
  let names = v['input-name'] as string[] | undefined;
  if (!names) names = (await client.modelMetadata(model, opts)).inputs.map((i) => i.name);
  if (names.length < inputs.length)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `model ${model} takes ${names.length} inputs, got ${inputs.length}`);
  const r = await client.infer(
    model,
    inputs.map((tensor, i) => ({ name: (names as string[])[i] as string, tensor })),
    { ...opts, ...((v['output-name'] as string[] | undefined) ? { outputs: v['output-name'] as string[] } : {}) },
  );
  return Object.values(r.outputs);
}

function loadInput(spec: string, dtype: DType): Tensor {
  if (/\.(npy|json)$/i.test(spec)) needFile(spec, '--input');
  if (spec.endsWith('.npy')) return parseNpy(readFileSync(spec));
  const text = spec.endsWith('.json') && existsSync(spec) ? readFileSync(spec, 'utf8') : spec;
  try {
    return tensorFromJSONText(text, dtype);
  } catch (err: unknown) {
    if (err instanceof ModelpipeError && err.code !== 'MP_ERR_BAD_REQUEST') throw err;
    throw new ModelpipeError(
      'MP_ERR_BAD_REQUEST',
      `--input ${spec.slice(0, 40)}: ${(err as Error).message} (inline JSON, a .json or a .npy file)`,
    );
  }
}

export async function inferCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, INFER);
  const url = positionals[0];
  if (v.help || !url) {
    console.log(INFER_HELP);
    if (!url && !v.help) process.exitCode = 2;
    return;
  }
  const protocol = protocolOf(v);
  if (protocol !== 'v2-grpc') needHttpUrl(url);
  const out = str(v.out);
  if (out) needParentDir(out, '--out'); // before the request, not after the work
  const dtype = v.dtype as DType; // checked by the flag table
  const inputs = ((v.input as string[] | undefined) ?? []).map((s) => loadInput(s, dtype));
  if (inputs.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `infer needs at least one --input\n\n${INFER_HELP}`);
  const timeoutMs = int(v.timeout, 'timeout') ?? 60_000;
  const outputs =
    protocol === 'graphpipe'
      ? await withClient(new GraphPipeClient(url, { timeoutMs, security: clientSecurityFromFlags(v) }), (c) =>
          c.inferManyRaw(inputs, {
            ...((v['input-name'] as string[] | undefined) ? { inputNames: v['input-name'] as string[] } : {}),
            ...((v['output-name'] as string[] | undefined) ? { outputNames: v['output-name'] as string[] } : {}),
            ...(str(v.config) !== undefined ? { config: str(v.config) as string } : {}),
          }),
        )
      : await withClient(oipClient(url, protocol, v, timeoutMs), (c) => oipInfer(c, v, inputs));
  if (out) {
    writeFileSync(out, toNpy(outputs[0] as Tensor));
    console.error(`wrote ${out}: ${outputs[0]?.dtype} [${outputs[0]?.shape.join(', ')}]`);
    return;
  }
  const json = outputs.map(toJSONValue);
  console.log(JSON.stringify(json.length === 1 ? json[0] : json));
}

export async function metadataCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, METADATA);
  const url = positionals[0];
  if (v.help || !url) {
    console.log(METADATA_HELP);
    if (!url && !v.help) process.exitCode = 2;
    return;
  }
  const protocol = protocolOf(v);
  if (protocol !== 'v2-grpc') needHttpUrl(url);
  const timeoutMs = int(v.timeout, 'timeout') ?? 30_000;
  const version = str(v['model-version']);
  const md =
    protocol === 'graphpipe'
      ? await withClient(new GraphPipeClient(url, { timeoutMs, security: clientSecurityFromFlags(v) }), (c) => c.metadata())
      : await withClient(oipClient(url, protocol, v, timeoutMs), (c) => c.modelMetadata(modelFlag(v), version ? { version } : {}));
  console.log(JSON.stringify(md, null, 2));
  if (protocol === 'graphpipe' && !serverHasExactMetadata((md as { server: string }).server)) {
    // graphpipe-go's gp.Serve reports int64 and rank-only shapes whatever its function takes.
    console.error(
      `note: ${url} is not a modelpipe server (server: ${JSON.stringify((md as { server: string }).server)}): its metadata may be approximate; the server itself decides what it accepts`,
    );
  }
}
