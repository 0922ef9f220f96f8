import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ModelpipeError } from '../../src/errors/index.js';
import {
  CsvParser,
  Flow,
  csv,
  csvSink,
  files,
  globFiles,
  jsonl,
  jsonlSink,
  parseCsv,
  postgresSink,
  progress,
  progressLine,
  resultToRow,
  runPipelineFile,
  sqliteSink,
  validatePipelineDef,
} from '../../src/runinference/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { type PgServer, startPg } from './pg-server.js';

let dir: string;
// Started at load time so the PostgreSQL test's skip reason is known when it is declared.
const pg: PgServer | string = await startPg();
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-io-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  if (typeof pg !== 'string') await pg.stop();
});

const isCode = (code: string) => (e: unknown) => e instanceof ModelpipeError && e.code === code;

describe('CSV parser', () => {
  it('handles quotes, doubled quotes, delimiters and line breaks inside quotes, CRLF', () => {
    const text = 'a,b,c\r\n1,"x, y","say ""hi"""\r\n2,"multi\nline",\n"",3,"end"';
    assert.deepEqual(parseCsv(text), [
      ['a', 'b', 'c'],
      ['1', 'x, y', 'say "hi"'],
      ['2', 'multi\nline', ''],
      ['', '3', 'end'],
    ]);
  });

  it('gives the same rows whatever the chunking', () => {
    const text = 'k,v\n1,"a""b"\n2,"c\r\nd"\n3,e\n';
    const whole = parseCsv(text);
    for (let size = 1; size <= 5; size++) {
      const p = new CsvParser();
      const rows: string[][] = [];
      for (let i = 0; i < text.length; i += size) rows.push(...p.push(text.slice(i, i + size)));
      rows.push(...p.end());
      assert.deepEqual(rows, whole, `chunk size ${size}`);
    }
  });

  it('rejects malformed CSV with MP_ERR_SOURCE', () => {
    assert.throws(() => parseCsv('a,"unterminated\n'), isCode('MP_ERR_SOURCE'));
    assert.throws(() => parseCsv('a,b"c\n'), isCode('MP_ERR_SOURCE'));
    assert.throws(() => parseCsv('"a"b\n'), isCode('MP_ERR_SOURCE'));
  });
});

describe('sources', () => {
  it('files by glob (binary and text), sorted, recursive with **', async () => {
    await mkdir(join(dir, 'g/sub'), { recursive: true });
    await writeFile(join(dir, 'g/a.txt'), 'A');
    await writeFile(join(dir, 'g/b.bin'), Buffer.from([1, 2, 3]));
    await writeFile(join(dir, 'g/sub/c.txt'), 'C');
    assert.deepEqual(
      (await globFiles(join(dir, 'g/**/*.txt'))).map((p) => p.slice(dir.length)),
      ['/g/a.txt', '/g/sub/c.txt'],
    );
    assert.deepEqual(
      (await globFiles(join(dir, 'g/*.{txt,bin}'))).map((p) => p.slice(dir.length)),
      ['/g/a.txt', '/g/b.bin'],
    );
    const text = [];
    for await (const f of files(join(dir, 'g/**/*.txt'), { mode: 'text' })) text.push(f.data);
    assert.deepEqual(text, ['A', 'C']);
    for await (const f of files(join(dir, 'g/*.bin'))) assert.deepEqual([...f.data], [1, 2, 3]);
    await assert.rejects(globFiles(join(dir, 'nothing-here.txt')), isCode('MP_ERR_SOURCE'));
  });

  it('JSONL and CSV files stream records; bad lines name their line', async () => {
    await writeFile(join(dir, 'in.jsonl'), '{"id":1}\n\n{"id":2}\n');
    const got: unknown[] = [];
    for await (const r of jsonl(join(dir, 'in.jsonl'))) got.push(r);
    assert.deepEqual(got, [{ id: 1 }, { id: 2 }]);
    await writeFile(join(dir, 'bad.jsonl'), '{"id":1}\n{oops\n');
    await assert.rejects(
      async () => {
        for await (const _ of jsonl(join(dir, 'bad.jsonl')));
      },
      (e: unknown) => isCode('MP_ERR_SOURCE')(e) && /bad\.jsonl:2/.test((e as Error).message),
    );
    await assert.rejects(async () => {
      for await (const _ of jsonl(join(dir, 'missing.jsonl')));
    }, isCode('MP_ERR_SOURCE'));
    await writeFile(join(dir, 'in.csv'), 'id,text\n1,"hello, world"\n2,plain\n');
    const rows: unknown[] = [];
    for await (const r of csv(join(dir, 'in.csv'))) rows.push(r);
    assert.deepEqual(rows, [
      { id: '1', text: 'hello, world' },
      { id: '2', text: 'plain' },
    ]);
  });
});

describe('sinks', () => {
  const results = [
    { example: 1, inference: new Tensor('float32', [1, 2], new Float32Array([0.5, 1.5])), modelId: 'm' },
    { example: 2, inference: new Tensor('float32', [1, 2], new Float32Array([2, 3])), modelId: 'm' },
  ];

  it('JSONL sink writes one JSON object per line, tensors as nested arrays', async () => {
    const path = join(dir, 'out.jsonl');
    const report = await Flow.from(results).to(jsonlSink(path));
    assert.equal(report.items, 2);
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    assert.deepEqual(JSON.parse(lines[0] as string), { example: 1, inference: [[0.5, 1.5]], modelId: 'm' });
    assert.equal(lines.length, 2);
  });

  it('CSV sink quotes what needs quoting and reads back with the CSV source', async () => {
    const path = join(dir, 'out.csv');
    const rows = [
      { id: 1, text: 'a, "quoted" text', note: 'line1\nline2' },
      { id: 2, text: 'plain', note: '' },
    ];
    await Flow.from(rows).to(csvSink(path));
    const back: unknown[] = [];
    for await (const r of csv(path)) back.push(r);
    assert.deepEqual(back, [
      { id: '1', text: 'a, "quoted" text', note: 'line1\nline2' },
      { id: '2', text: 'plain', note: '' },
    ]);
  });

  it('SQLite sink inserts rows and ignores a key written twice', async () => {
    const path = join(dir, 'out.db');
    const sink = sqliteSink(path, { table: 'predictions', key: 'key' });
    const keyed = results.map((r, i) => [`k${i}`, r] as [string, (typeof results)[number]]);
    await sink.write(keyed.map((r) => resultToRow(r)));
    await sink.write([resultToRow(keyed[0] as (typeof keyed)[number])]); // redelivery
    await sink.close();
    const db = new Database(path, { readonly: true });
    const got = db.prepare('SELECT key, model_id, inference FROM predictions ORDER BY key').all();
    db.close();
    assert.deepEqual(got, [
      { key: 'k0', model_id: 'm', inference: '[[0.5,1.5]]' },
      { key: 'k1', model_id: 'm', inference: '[[2,3]]' },
    ]);
    assert.throws(() => sqliteSink(path, { table: 'drop table x' }), isCode('MP_ERR_PIPELINE_DEF'));
  });

  it('PostgreSQL sink writes rows idempotently (real server)', { skip: typeof pg === 'string' ? pg : false }, async () => {
    const url = (pg as PgServer).url;
    const table = `runinf_test_${process.pid}`;
    const sink = postgresSink<Record<string, unknown>>(url, { table, key: 'key' });
    await sink.write([
      { key: 'a', v: 1, t: new Tensor('float32', [2], new Float32Array([0.5, 1])) },
      { key: 'b', v: 2, t: null },
    ]);
    await sink.write([{ key: 'a', v: 99, t: null }]); // redelivery of key a: ignored
    await sink.close();
    const { default: PG } = await import('pg');
    const c = new PG.Client({ connectionString: url });
    await c.connect();
    const r = await c.query(`SELECT key, v, t FROM ${table} ORDER BY key`);
    await c.query(`DROP TABLE ${table}`);
    await c.end();
    assert.deepEqual(r.rows, [
      { key: 'a', v: '1', t: '[0.5,1]' },
      { key: 'b', v: '2', t: null },
    ]);
  });
});

describe('progress and pipeline files', () => {
  it('progress line shows bar, rate and ETA when the total is known', () => {
    assert.equal(progressLine(50, 10_000, 100, 'run', 10), 'run [#####.....] 50% 50/100 5.0/s ETA 10s');
    assert.equal(progressLine(7, 1000, undefined, 'run'), 'run 7 items 7.0/s');
    const capture = (tty: boolean) => {
      const chunks: string[] = [];
      const stream = new Writable({
        write(c, _e, cb) {
          chunks.push(String(c));
          cb();
        },
      });
      const p = progress({ total: 4, label: 'p', stream, tty, intervalMs: 0 });
      for (let i = 0; i < 4; i++) p.tick();
      p.done();
      return chunks;
    };
    const tty = capture(true);
    assert.ok(
      tty.every((c) => c.startsWith('\r')),
      'a TTY redraws one line',
    );
    const last = tty.at(-1) ?? '';
    assert.match(last, /100% 4\/4 .*ETA 0s/);
    assert.ok(last.endsWith('\u001b[K\n'), 'clears the rest of the line, then ends it');
    const plain = capture(false);
    assert.ok(
      plain.every((c) => !c.includes('\r') && c.endsWith('\n')),
      'plain mode writes whole lines',
    );
    assert.match(plain.at(-1) ?? '', /4\/4 .* done\n$/);
  });

  it('validates pipeline definitions with precise MP_ERR_PIPELINE_DEF messages', () => {
    const ok = { source: { type: 'jsonl', path: 'x' }, handler: { type: 'onnx', model: 'm.onnx' }, sink: { type: 'stdout' } };
    assert.deepEqual(validatePipelineDef(ok), ok);
    const cases: [unknown, RegExp][] = [
      [[], /must be a JSON object/],
      [{ ...ok, source: { type: 'kafka' } }, /source\.type must be one of/],
      [{ ...ok, sink: { type: 'sqlite' } }, /sink\.path must be a non-empty string/],
      [{ ...ok, handler: { type: 'onnx' } }, /handler\.model/],
      [{ ...ok, batching: { maxBatchSize: 0 } }, /batching\.maxBatchSize must be an integer >= 1/],
      [{ ...ok, extra: 1 }, /unknown pipeline field "extra"/],
      [{ ...ok, maxFailureRatio: 2 }, /maxFailureRatio/],
    ];
    for (const [def, re] of cases) {
      assert.throws(
        () => validatePipelineDef(def),
        (e: unknown) => isCode('MP_ERR_PIPELINE_DEF')(e) && re.test((e as Error).message),
      );
    }
  });

  it('runPipelineFile runs a JSON pipeline (jsonl → module handler → sqlite) and a JS one', async () => {
    const handlerPath = join(dir, 'h.mjs');
    await writeFile(
      handlerPath,
      `export default { modelId: 'neg', loaded: false, async load() { this.loaded = true }, isLoaded() { return this.loaded },
        async runBatch(xs) { return { predictions: xs.map((x) => { if (x.v === 'boom') throw new Error('boom'); return -x.v }), modelId: 'neg' } },
        byteSize() { return 0 } };\n`,
    );
    await writeFile(join(dir, 'p.jsonl'), '{"id":"a","v":1}\n{"id":"b","v":2}\n{"id":"c","v":3}\n');
    const def = {
      source: { type: 'jsonl', path: join(dir, 'p.jsonl') },
      key: 'id',
      handler: { type: 'module', path: handlerPath },
      batching: { maxBatchSize: 2 },
      sink: { type: 'sqlite', path: join(dir, 'p.db'), table: 'out' },
      progress: false,
      summary: false,
    };
    await writeFile(join(dir, 'p.json'), JSON.stringify(def));
    const report = await runPipelineFile(join(dir, 'p.json'));
    assert.equal(report.items, 3);
    const db = new Database(join(dir, 'p.db'), { readonly: true });
    assert.deepEqual(db.prepare('SELECT key, inference FROM out ORDER BY key').all(), [
      { key: 'a', inference: -1 },
      { key: 'b', inference: -2 },
      { key: 'c', inference: -3 },
    ]);
    db.close();
    await writeFile(join(dir, 'p.mjs'), `export default (api) => api.Flow.from([1, 2, 3]).map((x) => x * 2);\n`);
    assert.equal((await runPipelineFile(join(dir, 'p.mjs'))).items, 3);
    await writeFile(join(dir, 'broken.json'), '{"source":');
    await assert.rejects(runPipelineFile(join(dir, 'broken.json')), isCode('MP_ERR_PIPELINE_DEF'));
    await assert.rejects(runPipelineFile(join(dir, 'p.yaml')), isCode('MP_ERR_PIPELINE_DEF'));
  });
});
