/**
 * runc, the OCI alternative to bubblewrap for native agents (`container: { runtime: 'runc' }`,
 * `agentos run --native --runtime runc`): where it is, whether this host can use it, and
 * cleaning up containers a host that died left behind.
 *
 * Only rootful runc: rootless runc cannot set the resources (cgroups) the policy asks for, so
 * a host that is not root is refused rather than run weaker. agentos keeps its containers in
 * their own state directory ({@link RUNC_ROOT}), each annotated with the host pid that runs it
 * ({@link HOST_PID_ANNOTATION}), so a host starting after a crash can find and delete them.
 *
 * @example
 * ```ts
 * requireRunc();                       // throws without root or runc
 * await cleanupStaleContainers();      // once per process
 * ```
 */
import { spawn, spawnSync } from 'node:child_process';
import { SandboxError } from '../errors.js';
import { pidAlive } from './cgroups/files.js';

/** runc's state directory for agentos containers (a tmpfs: gone with a reboot, as they are). */
export const RUNC_ROOT = '/run/agentos-sandbox/runc';

/** The annotation naming the host process that runs a container. */
export const HOST_PID_ANNOTATION = 'org.agentos.hostPid';

/** The runc binary (override with `AGENTOS_RUNC`). */
export function runcCommand(): string {
  return process.env['AGENTOS_RUNC'] ?? 'runc';
}

/** runc's version, or why it cannot be used. */
export function runcStatus(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(runcCommand(), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return { ok: false, reason: `${runcCommand()} is not installed (${r.error?.message ?? r.stderr.trim()})` };
  return { ok: true, version: (r.stdout.split('\n')[0] ?? '').replace(/^runc version\s*/, '').trim() };
}

let checked: string | undefined;

/**
 * Refuse to go on without rootful runc: a native agent never runs with less isolation.
 *
 * @throws {SandboxError} `INTERNAL` naming what is missing.
 */
export function requireRunc(): string {
  if (checked !== undefined) return checked;
  if (process.getuid?.() !== 0) {
    throw new SandboxError('INTERNAL', 'the runc runtime needs the host to run as root (rootless runc cannot set the cgroup limits the policy asks for); run as root or use the default runtime, bwrap');
  }
  const s = runcStatus();
  if (!s.ok) throw new SandboxError('INTERNAL', `the runc runtime was asked for and runc is missing: ${s.reason}; install it (apt-get install runc) or use the default runtime, bwrap — agentos doctor checks the host`);
  checked = s.version;
  return s.version;
}

/** Run runc with agentos's state directory; resolves with its exit status and output. Never rejects. */
export function runc(args: readonly string[], timeoutMs = 20_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(runcCommand(), ['--root', RUNC_ROOT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', (e) => resolve({ status: null, stdout, stderr: e.message }));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Delete (killing what runs inside) every agentos container whose host process is gone.
 * Never rejects.
 *
 * @returns the ids deleted.
 */
export async function deleteStaleContainers(): Promise<string[]> {
  const list = await runc(['list', '--format', 'json']);
  if (list.status !== 0) return [];
  let containers: { id: string; annotations?: Record<string, string> }[];
  try {
    containers = (JSON.parse(list.stdout || 'null') as typeof containers | null) ?? [];
  } catch {
    return [];
  }
  const stale = containers.filter((c) => {
    const pid = Number(c.annotations?.[HOST_PID_ANNOTATION]);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
  });
  for (const c of stale) await runc(['delete', '--force', c.id]);
  return stale.map((c) => c.id);
}

let cleaned: Promise<string[]> | undefined;

/** {@link deleteStaleContainers}, once per process (the first load with runc); later calls share its result. */
export function cleanupStaleContainers(): Promise<string[]> {
  cleaned ??= deleteStaleContainers();
  return cleaned;
}
