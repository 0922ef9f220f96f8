#!/usr/bin/env bash
# Runs every test file under dist/test. Most run two at a time. The few whose
# assertions involve latency under load (health while a model saturates the CPUs,
# shutdown and queue timing, a model swapped mid-stream, download deadlines) run
# afterwards, one at a time, so that a CPU-heavy neighbour (the fuzz run, 5 000 slow
# connections, a Go build of the GraphPipe peer) cannot skew what they measure.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIAL=(
  dist/test/server/onnx-server.test.js
  dist/test/server/function-server.test.js
  dist/test/runinference/onnx.test.js
  dist/test/apps/classy/pipeline.test.js
  dist/test/scheduling/batching.test.js
)
for f in "${SERIAL[@]}"; do
  [ -f "$f" ] || { echo "scripts/test.sh: $f is listed as serial but does not exist" >&2; exit 1; }
done
mapfile -t PARALLEL < <(find dist/test -name '*.test.js' | sort | grep -vxF -f <(printf '%s\n' "${SERIAL[@]}"))
status=0
node --test --test-concurrency=2 "${PARALLEL[@]}" || status=$?
node --test --test-concurrency=1 "${SERIAL[@]}" || status=$?
exit "$status"
