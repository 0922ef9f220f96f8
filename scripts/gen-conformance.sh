#!/usr/bin/env bash
# Generates the independent GraphPipe implementation used by the conformance tests:
# flatc (Debian's flatbuffers-compiler) compiles our schema to TypeScript for the
# official `flatbuffers` runtime, and tsc turns that into CommonJS under
# dist/conformance/ (flatc's extensionless imports need CommonJS resolution).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v flatc >/dev/null; then
  echo "gen-conformance: flatc not found (apt-get install flatbuffers-compiler); conformance tests will fail" >&2
  exit 0
fi
rm -rf test-output/flatc-gen dist/conformance
mkdir -p test-output/flatc-gen
flatc --ts -o test-output/flatc-gen src/protocol/graphpipe/schema.fbs
npx tsc --module commonjs --moduleResolution node --target es2020 --skipLibCheck --strict false \
  --outDir dist/conformance test-output/flatc-gen/schema_generated.ts
echo '{"type":"commonjs"}' > dist/conformance/package.json
