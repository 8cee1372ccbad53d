/**
 * Loading a framework that is an optional peer dependency: each adapter needs exactly one
 * framework, and a user installs only the one they use. A missing peer is an error that names
 * the package to install and the range the adapter is tested with, not Node's bare
 * "Cannot find package".
 *
 * @example
 * ```ts
 * const ai = await loadPeer<typeof import('ai')>('ai', '^6.0.0', 'agent-os-sandbox/ai-sdk');
 * ```
 */

/** A peer dependency the adapter needs is not installed (`code` `PEER_MISSING`). */
export class PeerMissingError extends Error {
  readonly code = 'PEER_MISSING';
  constructor(
    readonly peer: string,
    readonly range: string,
    adapter: string,
  ) {
    super(`${adapter} needs the package ${peer} (${range}), which is not installed; install it with: npm install ${peer}@'${range}'`);
    this.name = 'PeerMissingError';
  }
}

/**
 * Import `specifier` (a peer's entry or subpath), or throw {@link PeerMissingError} naming
 * `peer` when it is not installed. Other load errors propagate unchanged.
 */
export async function loadPeer<T>(specifier: string, range: string, adapter: string, peer: string = packageOf(specifier)): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((e as Error).message).includes(peer)) {
      throw new PeerMissingError(peer, range, adapter);
    }
    throw e;
  }
}

/** The package name of a specifier: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}
