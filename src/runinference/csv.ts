import { ModelpipeError } from '../errors/index.js';
import { toJSON } from './json.js';

/**
 * RFC 4180 CSV, streaming: fields may be quoted, quoted fields may hold the delimiter,
 * CR/LF line breaks and doubled quotes (""). Rows are emitted as soon as they are
 * complete, so a huge file is parsed in constant memory.
 */
export class CsvParser {
  #field = '';
  #row: string[] = [];
  #inQuotes = false;
  #afterQuote = false; // just closed a quoted field: only a delimiter or line end may follow
  #fieldStarted = false;
  #line = 1;
  #pendingCR = false;

  constructor(readonly delimiter = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `csv: invalid delimiter ${JSON.stringify(delimiter)}`);
    }
  }

  /** Feeds a chunk; returns the rows it completed. */
  push(chunk: string): string[][] {
    const rows: string[][] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as string;
      if (this.#pendingCR) {
        this.#pendingCR = false;
        if (c === '\n') continue;
      }
      if (this.#inQuotes) {
        if (c === '"') {
          if (chunk[i + 1] === '"') {
            this.#field += '"';
            i++;
          } else if (i + 1 === chunk.length) {
            // A quote at the chunk end may be the first of a doubled pair: decide next chunk.
            this.#inQuotes = false;
            this.#afterQuote = true;
          } else {
            this.#inQuotes = false;
            this.#afterQuote = true;
          }
        } else {
          if (c === '\n') this.#line++;
          this.#field += c;
        }
        continue;
      }
      if (c === '"') {
        if (this.#afterQuote) {
          // `"a""b"` split across chunks right between the two quotes.
          this.#field += '"';
          this.#inQuotes = true;
          this.#afterQuote = false;
          continue;
        }
        if (this.#fieldStarted) throw new ModelpipeError('MP_ERR_SOURCE', `csv line ${this.#line}: quote inside an unquoted field`);
        this.#inQuotes = true;
        this.#fieldStarted = true;
        continue;
      }
      if (c === this.delimiter) {
        this.#endField();
        continue;
      }
      if (c === '\n' || c === '\r') {
        this.#endField();
        rows.push(this.#row);
        this.#row = [];
        this.#line++;
        if (c === '\r') this.#pendingCR = true;
        continue;
      }
      if (this.#afterQuote) throw new ModelpipeError('MP_ERR_SOURCE', `csv line ${this.#line}: text after a closing quote`);
      this.#field += c;
      this.#fieldStarted = true;
    }
    return rows;
  }

  /** Ends the input; returns the last row if the file did not end with a line break. */
  end(): string[][] {
    if (this.#inQuotes) throw new ModelpipeError('MP_ERR_SOURCE', `csv line ${this.#line}: unterminated quoted field`);
    if (this.#fieldStarted || this.#afterQuote || this.#row.length > 0) {
      this.#endField();
      const r = this.#row;
      this.#row = [];
      return [r];
    }
    return [];
  }

  #endField(): void {
    this.#row.push(this.#field);
    this.#field = '';
    this.#fieldStarted = false;
    this.#afterQuote = false;
  }
}

/** Parses a whole CSV text (tests, small files). */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const p = new CsvParser(delimiter);
  return [...p.push(text), ...p.end()];
}

/** One CSV field, quoted only when it must be. */
export function csvField(v: unknown, delimiter = ','): string {
  // Objects (tensors included) in the one JSON form every sink uses: tensors as nested arrays.
  const s = v === undefined || v === null ? '' : typeof v === 'object' ? toJSON(v) : String(v);
  return /["\r\n]/.test(s) || s.includes(delimiter) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: readonly unknown[], delimiter = ','): string {
  return `${values.map((v) => csvField(v, delimiter)).join(delimiter)}\n`;
}
