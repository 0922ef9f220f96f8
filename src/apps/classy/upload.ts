import type { IncomingMessage } from 'node:http';
import { ModelpipeError } from '../../errors/index.js';

/**
 * Reading an upload: the body is buffered up to a limit, then parsed with the
 * WHATWG `Response.formData()` that ships with Node's fetch, so multipart parsing
 * needs no dependency. What the form may hold: a file field (`data`, the name
 * simple-ml-serving's curl examples use) or a `url` text field.
 */

export type Upload =
  | { readonly kind: 'file'; readonly bytes: Uint8Array; readonly name: string }
  | { readonly kind: 'url'; readonly url: string };

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const announced = Number(req.headers['content-length'] ?? Number.NaN);
  if (announced > limit) throw new ModelpipeError('MP_ERR_BODY_TOO_LARGE', `upload of ${announced} bytes exceeds the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    total += c.length;
    if (total > limit) throw new ModelpipeError('MP_ERR_BODY_TOO_LARGE', `upload exceeds the limit of ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Parses a multipart (or urlencoded) form into one upload. Throws 400-class errors for anything else. */
export async function parseUpload(req: IncomingMessage, limit: number): Promise<Upload> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data|^application\/x-www-form-urlencoded/i.test(type))
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', 'send a multipart form: curl -F data=@image.jpg …');
  const body = await readBody(req, limit);
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', `unreadable form: ${(err as Error).message}`);
  }
  const file = form.get('data') ?? form.get('file') ?? form.get('image');
  if (file !== null && typeof file !== 'string') {
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length === 0) throw new ModelpipeError('MP_ERR_BAD_REQUEST', 'the uploaded file is empty');
    return { kind: 'file', bytes, name: file.name || 'upload' };
  }
  const url = form.get('url');
  if (typeof url === 'string' && url.trim() !== '') return { kind: 'url', url: url.trim() };
  throw new ModelpipeError('MP_ERR_BAD_REQUEST', 'the form has no "data" file (nor a "url" field)');
}
