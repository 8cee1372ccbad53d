#!/usr/bin/env node
// Build the C agents the tests use (test/fixtures/agents/*.c, examples/*/*.c) into
// test/fixtures/prebuilt/, with a manifest of what each was built from. They are committed so
// that `npm test` runs on a machine without the C toolchain (a system package); where clang-22
// exists, the test suite rebuilds them and checks the committed bytes (test/prebuilt.test.ts).
//
//   npm run fixtures:prebuilt     (needs: apt-get install clang-22 lld-22 wasi-libc libclang-rt-22-dev-wasm32)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAgent, toolchainVersions } from '../dist/build/index.js';
import { PREBUILT_DIR, prebuiltName, sourceKey } from './prebuilt-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

const sources = [
  ...readdirSync(join(root, 'test/fixtures/agents')).filter((f) => f.endsWith('.c')).map((f) => join('test/fixtures/agents', f)),
  ...readdirSync(join(root, 'examples'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(root, 'examples', d.name)).filter((f) => f.endsWith('.c')).map((f) => join('examples', d.name, f))),
].sort();

const clang = toolchainVersions().clang;
if (clang.startsWith('missing')) {
  console.error(`the C toolchain is missing: ${clang}`);
  process.exit(1);
}
const manifest = { clang, components: {} };
for (const source of sources) {
  const name = prebuiltName(source);
  const output = join(root, PREBUILT_DIR, name);
  const r = await buildAgent(join(root, source), output);
  const bytes = readFileSync(output);
  manifest.components[name] = { source, sourceKey: sourceKey(root, source), sha256: sha256(bytes), bytes: r.bytes };
  console.log(`built ${relative(root, output)} (${r.bytes} B) from ${source}`);
}
writeFileSync(join(root, PREBUILT_DIR, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`wrote ${join(PREBUILT_DIR, 'manifest.json')} (${Object.keys(manifest.components).length} components, ${clang})`);
