/**
 * The committed C components (`test/fixtures/prebuilt/`) are what their sources build to:
 * where clang-22 exists, the global setup has just built every C source with it, and those
 * bytes must equal the committed ones. Refresh them with `npm run fixtures:prebuilt`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolchainVersions } from '../src/build/index.js';
import { EXAMPLES, exampleBuildPath, FIXTURE_BUILD_DIR, FIXTURE_SOURCES_DIR, REPO_ROOT } from './helpers/fixtures.js';
import { currentSourceKey, PREBUILT_PATH, prebuiltManifest } from './helpers/prebuilt.js';
import { needs } from './helpers/requirements.js';
import { skipUnless } from './helpers/skip.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Every C source the suite builds, with where the global setup puts its component. */
function cSources(): { source: string; built: string }[] {
  const list = readdirSync(FIXTURE_SOURCES_DIR)
    .filter((f) => f.endsWith('.c'))
    .map((f) => ({ source: relative(REPO_ROOT, join(FIXTURE_SOURCES_DIR, f)), built: join(FIXTURE_BUILD_DIR, f.replace(/\.c$/, '.wasm')) }));
  for (const [example, file] of Object.entries(EXAMPLES)) {
    if (file.endsWith('.c')) list.push({ source: join('examples', example, file), built: exampleBuildPath(example) });
  }
  return list;
}

describe('committed C components', () => {
  const manifest = prebuiltManifest();
  const entries = Object.entries(manifest.components);

  it('cover every C source, each current for its source and world', () => {
    const covered = new Map(entries.map(([, e]) => [e.source, e]));
    for (const { source } of cSources()) {
      const entry = covered.get(source);
      expect(entry, `${source} has no committed component: npm run fixtures:prebuilt`).toBeDefined();
      expect(entry!.sourceKey, `${source} changed since its component was built: npm run fixtures:prebuilt`).toBe(currentSourceKey(source));
    }
  });

  it('are the files the manifest describes', () => {
    for (const [name, entry] of entries) {
      const bytes = readFileSync(join(PREBUILT_PATH, name));
      expect(bytes.length, name).toBe(entry.bytes);
      expect(sha256(bytes), name).toBe(entry.sha256);
    }
  });

  it('are byte for byte what clang builds from their sources here', (ctx) => {
    skipUnless(ctx, needs.clang());
    const here = toolchainVersions().clang;
    // A newer clang in CI is not a failure of ours: say so, and how to refresh (never silently).
    if (here !== manifest.clang) ctx.skip(`the committed C components were built with ${manifest.clang}, this machine has ${here} — refresh them with: npm run fixtures:prebuilt`);
    for (const { source, built } of cSources()) {
      expect(existsSync(built), built).toBe(true);
      const entry = entries.find(([, e]) => e.source === source)?.[1];
      expect(sha256(readFileSync(built)), `${source}: rebuilt bytes differ from the committed component; run npm run fixtures:prebuilt`).toBe(entry?.sha256);
    }
  });
});
