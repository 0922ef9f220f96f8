/**
 * Entry point of one scale-out worker process: `node worker-main.js pipeline.json`.
 * It runs the pipeline (normally a Redis Streams source in a consumer group) and prints
 * one JSON line with its counts on stdout when the source is drained. Errors are printed
 * as a JSON line with their stable code and exit with status 1 (78, EXIT_BAD_DEFINITION, when the
 * definition itself is wrong, so the supervisor does not restart it): never a stack dump.
 */
import { toModelpipeError } from '../errors/index.js';
import { runPipelineFile } from './pipeline-run.js';
import { EXIT_BAD_DEFINITION } from './scaleout.js';

const DEFINITION_ERRORS = new Set(['MP_ERR_PIPELINE_DEF', 'MP_ERR_BAD_CONFIG']);

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: worker-main.js PIPELINE.(json|js)\n');
  process.exit(2);
}
try {
  const report = await runPipelineFile(path);
  process.stdout.write(`${JSON.stringify({ pid: process.pid, items: report.items, deadLetters: report.deadLetters })}\n`);
  process.exit(0);
} catch (e) {
  const err = toModelpipeError(e, 'MP_ERR_PIPELINE');
  process.stdout.write(`${JSON.stringify({ pid: process.pid, error: err.toJSON() })}\n`);
  process.exit(DEFINITION_ERRORS.has(err.code) ? EXIT_BAD_DEFINITION : 1);
}
