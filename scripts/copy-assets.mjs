// Copies non-TypeScript sources the compiled code loads at run time (the OIP gRPC
// .proto) beside their compiled modules in dist/.
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const rel of ['src/protocol/oip/grpc_service.proto']) {
  const to = join(root, 'dist', rel);
  mkdirSync(dirname(to), { recursive: true });
  cpSync(join(root, rel), to);
}
