// Shared by scripts/prebuild-fixtures.mjs and the test suite: where prebuilt C components
// live, what each is called, and the key of what it was built from.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the committed components live, relative to the repository root. */
export const PREBUILT_DIR = 'test/fixtures/prebuilt';

/** `test/fixtures/agents/fsprobe.c` → `fsprobe.wasm`; `examples/c-agent/agent.c` → `examples-c-agent-agent.wasm`. */
export function prebuiltName(source) {
  const rel = source.replace(/\\/g, '/');
  const fixture = /^test\/fixtures\/agents\/([^/]+)\.c$/.exec(rel);
  return fixture ? `${fixture[1]}.wasm` : `${rel.replace(/\.c$/, '').replace(/\//g, '-')}.wasm`;
}

/**
 * What a prebuilt component depends on besides the toolchain: its source, our world and the C
 * guest helper header it may include. The
 * builder's own code is covered by the byte-for-byte check where clang exists.
 */
export function sourceKey(root, source) {
  return createHash('sha256')
    .update(readFileSync(join(root, 'wit', 'world.wit')))
    .update('\0')
    .update(readFileSync(join(root, 'guest', 'c', 'agentos.h')))
    .update('\0')
    .update(readFileSync(join(root, source)))
    .digest('hex');
}
