/**
 * The policy the filesystem suites give their probes (C `fsprobe`, Python `pyprobe`): a
 * read-only `/workspace` where only `.ts` files and `.git/` may be read and `.git/` and `.env`
 * files are forbidden, and a read-write `/tmp`.
 *
 * @example
 * ```ts
 * const policy = workspacePolicy(ws, scratch, { forbidden: ['/tmp/vault/private/**'] });
 * ```
 */
export function workspacePolicy(
  ws: string,
  scratch: string,
  extra: { forbidden?: string[]; resourceLimits?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    version: 1,
    capabilities: { allowed: ['read_files', 'write_files'] },
    mounts: [
      { guest: '/workspace', host: ws, mode: 'ro' },
      { guest: '/tmp', host: scratch, mode: 'rw' },
    ],
    fileAccess: {
      readonly: ['/workspace/**/*.ts', '/workspace/.git/**'],
      readwrite: ['/tmp/**'],
      forbidden: ['/workspace/.git/**', '/workspace/**/.env', ...(extra.forbidden ?? [])],
    },
    ...(extra.resourceLimits ? { resourceLimits: extra.resourceLimits } : {}),
  };
}
