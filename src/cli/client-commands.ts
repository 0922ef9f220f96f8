import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { GraphPipeClient } from '../client/graphpipe-client.js';
import { OipClient } from '../client/oip-client.js';
import { ModelpipeError } from '../errors/index.js';
import { serverHasExactMetadata } from '../models/model.js';
import { type DType, type Tensor, isDType, parseNpy, toJSONValue, toNpy } from '../tensor/index.js';
import { int, parseWithEnv, str } from '../flags/args.js';
import { CLIENT_SECURITY_FLAGS, CLIENT_SECURITY_HELP, clientSecurityFromFlags } from '../flags/security-flags.js';
import { needFile, needHttpUrl, needParentDir } from './checks.js';
import { tensorFromJSONText } from './json-input.js';

export const INFER_HELP = `modelpipe infer URL --input <JSON array | file.npy> [options]
  --input X          an input: inline JSON ([[0,1],[2,3]]), a .json file or a .npy file (repeatable)
  --input-name N     name of each input, in order (repeatable; default: the server's)
  --output-name N    outputs to return (repeatable; default: the server's)
  --dtype T          dtype for JSON inputs (default float32)
  --config S         the request's config string
  --out FILE.npy     write the (first) output as .npy instead of printing JSON
  --timeout MS       request timeout (default 60000)
  --protocol P       graphpipe (default), v2 (OIP REST, binary tensors) or v2-grpc (URL host:port or grpc://host:port)
  --model NAME       model to run (v2 and v2-grpc: required)
  --model-version V  model version (v2 and v2-grpc)
${CLIENT_SECURITY_HELP}`;

export const METADATA_HELP = `modelpipe metadata URL [--protocol graphpipe|v2|v2-grpc --model NAME]   print model metadata as JSON
${CLIENT_SECURITY_HELP}`;

const PROTOCOL_FLAGS = {
  protocol: { type: 'string' },
  model: { type: 'string' },
  'model-version': { type: 'string' },
  ...CLIENT_SECURITY_FLAGS,
} as const;

type Protocol = 'graphpipe' | 'v2' | 'v2-grpc';

function protocolOf(v: Record<string, unknown>): Protocol {
  const p = str(v.protocol) ?? 'graphpipe';
  if (p !== 'graphpipe' && p !== 'v2' && p !== 'v2-grpc')
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--protocol must be graphpipe, v2 or v2-grpc, got ${p}`);
  return p;
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
  const { values: v, positionals } = parseWithEnv(argv, {
    input: { type: 'string', multiple: true },
    'input-name': { type: 'string', multiple: true },
    'output-name': { type: 'string', multiple: true },
    dtype: { type: 'string' },
    config: { type: 'string' },
    out: { type: 'string' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    ...PROTOCOL_FLAGS,
  });
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
  const dtype = str(v.dtype) ?? 'float32';
  if (!isDType(dtype)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--dtype ${dtype} is not a dtype`);
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
  const { values: v, positionals } = parseWithEnv(argv, {
    help: { type: 'boolean', short: 'h' },
    timeout: { type: 'string' },
    ...PROTOCOL_FLAGS,
  });
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
