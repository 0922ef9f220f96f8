import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { metadata, multiRemoteRaw } from '../client/graphpipe-client.js';
import { ModelpipeError } from '../errors/index.js';
import { type DType, type Nested, type Tensor, fromNested, isDType, parseNpy, toJSONValue, toNpy } from '../tensor/index.js';
import { int, parseWithEnv, str } from './args.js';

export const INFER_HELP = `modelpipe infer URL --input <JSON array | file.npy> [options]
  --input X          an input: inline JSON ([[0,1],[2,3]]), a .json file or a .npy file (repeatable)
  --input-name N     name of each input, in order (repeatable; default: the server's)
  --output-name N    outputs to return (repeatable; default: the server's)
  --dtype T          dtype for JSON inputs (default float32)
  --config S         the request's config string
  --out FILE.npy     write the (first) output as .npy instead of printing JSON
  --timeout MS       request timeout (default 60000)`;

export const METADATA_HELP = `modelpipe metadata URL     print the server's GraphPipe metadata as JSON`;

function loadInput(spec: string, dtype: DType): Tensor {
  if (spec.endsWith('.npy')) return parseNpy(readFileSync(spec));
  const text = spec.endsWith('.json') && existsSync(spec) ? readFileSync(spec, 'utf8') : spec;
  let value: Nested;
  try {
    value = JSON.parse(text) as Nested;
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', `--input ${spec.slice(0, 40)}: not JSON, .json or .npy (${(err as Error).message})`);
  }
  return fromNested(
    value,
    typeof value === 'string' || (Array.isArray(value) && typeof value.flat(Number.POSITIVE_INFINITY)[0] === 'string') ? 'string' : dtype,
  );
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
  });
  const url = positionals[0];
  if (v.help || !url) {
    console.log(INFER_HELP);
    if (!url && !v.help) process.exitCode = 2;
    return;
  }
  const dtype = str(v.dtype) ?? 'float32';
  if (!isDType(dtype)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--dtype ${dtype} is not a dtype`);
  const inputs = ((v.input as string[] | undefined) ?? []).map((s) => loadInput(s, dtype));
  if (inputs.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `infer needs at least one --input\n\n${INFER_HELP}`);
  const outputs = await multiRemoteRaw(url, inputs, {
    ...((v['input-name'] as string[] | undefined) ? { inputNames: v['input-name'] as string[] } : {}),
    ...((v['output-name'] as string[] | undefined) ? { outputNames: v['output-name'] as string[] } : {}),
    ...(str(v.config) !== undefined ? { config: str(v.config) as string } : {}),
    timeoutMs: int(v.timeout, 'timeout') ?? 60_000,
  });
  const out = str(v.out);
  if (out) {
    writeFileSync(out, toNpy(outputs[0] as Tensor));
    console.error(`wrote ${out}: ${outputs[0]?.dtype} [${outputs[0]?.shape.join(', ')}]`);
    return;
  }
  const json = outputs.map(toJSONValue);
  console.log(JSON.stringify(json.length === 1 ? json[0] : json));
}

export async function metadataCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseWithEnv(argv, { help: { type: 'boolean', short: 'h' }, timeout: { type: 'string' } });
  const url = positionals[0];
  if (v.help || !url) {
    console.log(METADATA_HELP);
    if (!url && !v.help) process.exitCode = 2;
    return;
  }
  console.log(JSON.stringify(await metadata(url, { timeoutMs: int(v.timeout, 'timeout') ?? 30_000 }), null, 2));
}
