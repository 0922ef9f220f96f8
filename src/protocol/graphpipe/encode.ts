import { ModelpipeError } from '../../errors/index.js';
import { DTYPES, type Tensor } from '../../tensor/index.js';
import { type InferResponse, type IOMetadata, type MetadataResponse, REQ_INFER, REQ_METADATA, type Request } from './messages.js';
import { WireWriter } from './writer.js';

/** Tensor table: type(0) shape(1) data(2) string_val(3). Payloads are deferred to the end. */
function writeTensors(w: WireWriter, tensors: readonly Tensor[], deferred: { field: number; t: Tensor }[]): number {
  const vec = w.offsetVector(tensors.length);
  tensors.forEach((t, i) => {
    const isString = t.dtype === 'string';
    const tbl = w.table(['u8', 'off', isString ? undefined : 'off', isString ? 'off' : undefined]);
    w.patch(vec.elems[i] as number, tbl.pos);
    // bool has no GraphPipe type: it travels as uint8 (wire id 1).
    w.setU8(tbl.field[0] as number, DTYPES[t.dtype].wireId);
    w.patch(tbl.field[1] as number, w.int64Vector(t.shape));
    if (isString) w.patch(tbl.field[3] as number, w.stringVector(t.data as readonly Uint8Array[]));
    else deferred.push({ field: tbl.field[2] as number, t });
  });
  return vec.pos;
}

function writePayloads(w: WireWriter, deferred: readonly { field: number; t: Tensor }[]): void {
  for (const { field, t } of deferred) {
    const bytes = t.dtype === 'null' ? new Uint8Array(0) : t.bytes();
    w.patch(field, w.payloadVector(bytes));
  }
}

function beginRoot(w: WireWriter): number {
  const at = w.pos;
  w.u32(0);
  return at;
}

function buildRequest(req: Request): WireWriter {
  const w = new WireWriter();
  const rootField = beginRoot(w);
  const r = w.table(['u8', 'off']);
  w.patch(rootField, r.pos);
  if (req.type === 'metadata') {
    w.setU8(r.field[0] as number, REQ_METADATA);
    w.patch(r.field[1] as number, w.table([]).pos);
    return w;
  }
  if (req.inputNames.length > 0 && req.inputNames.length !== req.inputs.length) {
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${req.inputNames.length} input names for ${req.inputs.length} input tensors`);
  }
  w.setU8(r.field[0] as number, REQ_INFER);
  const ir = w.table([
    req.config ? 'off' : undefined,
    req.inputNames.length ? 'off' : undefined,
    'off',
    req.outputNames.length ? 'off' : undefined,
  ]);
  w.patch(r.field[1] as number, ir.pos);
  if (req.config) w.patch(ir.field[0] as number, w.string(req.config));
  if (req.inputNames.length) w.patch(ir.field[1] as number, w.stringVector(req.inputNames));
  if (req.outputNames.length) w.patch(ir.field[3] as number, w.stringVector(req.outputNames));
  const deferred: { field: number; t: Tensor }[] = [];
  w.patch(ir.field[2] as number, writeTensors(w, req.inputs, deferred));
  writePayloads(w, deferred);
  return w;
}

function buildInferResponse(res: InferResponse): WireWriter {
  const w = new WireWriter();
  const rootField = beginRoot(w);
  const r = w.table([res.outputs.length ? 'off' : undefined, res.errors.length ? 'off' : undefined]);
  w.patch(rootField, r.pos);
  if (res.errors.length) {
    const vec = w.offsetVector(res.errors.length);
    res.errors.forEach((e, i) => {
      const t = w.table(['i64', 'off']);
      w.patch(vec.elems[i] as number, t.pos);
      w.setI64(t.field[0] as number, e.code);
      w.patch(t.field[1] as number, w.string(e.message));
    });
    w.patch(r.field[1] as number, vec.pos);
  }
  if (res.outputs.length) {
    const deferred: { field: number; t: Tensor }[] = [];
    w.patch(r.field[0] as number, writeTensors(w, res.outputs, deferred));
    writePayloads(w, deferred);
  }
  return w;
}

function writeIOMetadata(w: WireWriter, list: readonly IOMetadata[]): number {
  const vec = w.offsetVector(list.length);
  list.forEach((m, i) => {
    const t = w.table(['off', m.description ? 'off' : undefined, 'off', 'u8']);
    w.patch(vec.elems[i] as number, t.pos);
    w.setU8(t.field[3] as number, DTYPES[m.type].wireId);
    w.patch(t.field[0] as number, w.string(m.name));
    if (m.description) w.patch(t.field[1] as number, w.string(m.description));
    w.patch(t.field[2] as number, w.int64Vector(m.shape));
  });
  return vec.pos;
}

function buildMetadataResponse(md: MetadataResponse): WireWriter {
  const w = new WireWriter();
  const rootField = beginRoot(w);
  const strs = [md.name, md.version, md.server, md.description];
  const r = w.table([...strs.map((s) => (s ? ('off' as const) : undefined)), 'off', 'off']);
  w.patch(rootField, r.pos);
  strs.forEach((s, i) => {
    if (s) w.patch(r.field[i] as number, w.string(s));
  });
  w.patch(r.field[4] as number, writeIOMetadata(w, md.inputs));
  w.patch(r.field[5] as number, writeIOMetadata(w, md.outputs));
  return w;
}

/** One buffer: one allocation and one copy per payload. */
export const encodeRequest = (req: Request): Uint8Array => buildRequest(req).finish();
export const encodeInferResponse = (res: InferResponse): Uint8Array => buildInferResponse(res).finish();
export const encodeMetadataResponse = (md: MetadataResponse): Uint8Array => buildMetadataResponse(md).finish();

/** Into caller-owned memory (e.g. a buffer reused across messages); returns the byte length. */
export const encodeRequestInto = (req: Request, target: Uint8Array): number => buildRequest(req).finishInto(target);
export const encodeInferResponseInto = (res: InferResponse, target: Uint8Array): number => buildInferResponse(res).finishInto(target);

/** Scatter-gather form: chunks to write in order; payloads are the tensors' own memory. */
export const encodeRequestChunks = (req: Request): Uint8Array[] => buildRequest(req).chunks();
export const encodeInferResponseChunks = (res: InferResponse): Uint8Array[] => buildInferResponse(res).chunks();
