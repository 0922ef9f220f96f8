#!/usr/bin/env bash
# Generates the independent GraphPipe implementation used by the conformance tests:
# flatc (Debian's flatbuffers-compiler) compiles our schema to TypeScript for the
# official `flatbuffers` runtime, and tsc turns that into CommonJS under
# dist/conformance/ (flatc's extensionless imports need CommonJS resolution).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v flatc >/dev/null; then
  # Fail here, in one line, rather than as three test files that cannot import their generated code.
  echo "gen-conformance: flatc not found: install flatbuffers-compiler (sudo scripts/install-system-deps.sh installs every tool the tests need)" >&2
  exit 1
fi
rm -rf test-output/flatc-gen dist/conformance
mkdir -p test-output/flatc-gen
flatc --ts -o test-output/flatc-gen src/protocol/graphpipe/schema.fbs
# flatc 2.0.8 re-exports only the types reachable from root_type (Request), so the
# response tables (InferResponse, MetadataResponse) are generated but not exported:
# export every generated class/enum from the entry and compile them all.
entry=test-output/flatc-gen/schema_generated.ts
for f in test-output/flatc-gen/graphpipe/*.ts; do
  name=$(sed -n -E 's/^export (class|enum) ([A-Za-z0-9_]+).*/\2/p' "$f" | head -n1)
  if [ -n "$name" ] && ! grep -q "export { $name[ ,]" "$entry"; then
    echo "export { $name } from './graphpipe/$(basename "$f" .ts)';" >> "$entry"
  fi
done
npx tsc --module commonjs --moduleResolution node --target es2020 --skipLibCheck --strict false \
  --outDir dist/conformance "$entry" test-output/flatc-gen/graphpipe/*.ts
echo '{"type":"commonjs"}' > dist/conformance/package.json
