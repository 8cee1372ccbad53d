/**
 * The committed C components (`test/fixtures/prebuilt/`, written by `npm run
 * fixtures:prebuilt`) and whether one is current for its source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PREBUILT_DIR, prebuiltName, sourceKey } from '../../scripts/prebuilt-common.mjs';
import { REPO_ROOT } from './fixtures.js';

/** One entry of `test/fixtures/prebuilt/manifest.json`. */
export interface PrebuiltEntry {
  source: string;
  sourceKey: string;
  sha256: string;
  bytes: number;
}

/** The manifest: the clang that built the components, and each component. */
export interface PrebuiltManifest {
  clang: string;
  components: Record<string, PrebuiltEntry>;
}

/** The directory of the committed components. */
export const PREBUILT_PATH = join(REPO_ROOT, PREBUILT_DIR);

/** Read the manifest (empty when there is none). */
export function prebuiltManifest(): PrebuiltManifest {
  const file = join(PREBUILT_PATH, 'manifest.json');
  if (!existsSync(file)) return { clang: '', components: {} };
  return JSON.parse(readFileSync(file, 'utf8')) as PrebuiltManifest;
}

/** The key of what a component built from `source` (relative to the repo) depends on. */
export function currentSourceKey(source: string): string {
  return sourceKey(REPO_ROOT, source);
}

/** The committed component for `source` (relative to the repo), when it is current. */
export function prebuiltFor(source: string): { ok: true; path: string; entry: PrebuiltEntry } | { ok: false; reason: string } {
  const name = prebuiltName(source);
  const entry = prebuiltManifest().components[name];
  const path = join(PREBUILT_PATH, name);
  if (!entry || !existsSync(path)) return { ok: false, reason: `there is no committed component for it in ${PREBUILT_DIR}` };
  if (entry.sourceKey !== currentSourceKey(source)) {
    return { ok: false, reason: `it (or wit/world.wit) changed since ${PREBUILT_DIR}/${name} was built` };
  }
  return { ok: true, path, entry };
}
