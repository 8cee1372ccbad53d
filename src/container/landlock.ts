/**
 * Landlock for native agents: a second file-system layer inside the sandbox, applied by the
 * exec helper (`exec-helper.ts`) just before the agent's command. The mounts decide what
 * exists; Landlock decides what the agent may do with it, from the same plan, so a path that
 * is mounted but not granted (a bind the runtime added for itself, a mount bug) stays closed.
 *
 * The ruleset handles every right the kernel's ABI has, so what no rule grants is denied:
 * - files (ABI ≥ 1; REFER from 2, TRUNCATE from 3, IOCTL_DEV from 5): `/usr` (and the top-level
 *   directories of a non-merged /usr) read + execute, `/etc` and `/proc` read, `/dev` read,
 *   write and device ioctls (its nodes: null, zero, random, tty, pts), `/dev/shm` and `/tmp`
 *   everything, each policy mount read + execute (`ro`) or everything (`rw`). Nothing else:
 *   not `/` itself, not the helper at `/run/agentos/exec`.
 * - TCP (ABI ≥ 4): no bind; connect only to the egress proxy's port when the policy grants
 *   network, to none otherwise.
 * - scopes (ABI ≥ 6): abstract unix sockets and signals only within the sandbox.
 *
 * Rules only add rights below a path: a read-only subtree of a read-write mount keeps the
 * mount's rights under Landlock; its read-only bind is what keeps it read-only.
 *
 * @example
 * ```ts
 * const spec = landlockRules(planFileMounts(policy), { network: grantsNetwork(policy) });
 * sandboxExecPrefix({ landlock: spec });   // ['/run/agentos/exec', '--landlock', 'rx /usr\n…', '--']
 * landlockAbi();                           // 7 (0: no Landlock; undefined: no helper to ask)
 * ```
 */
import { spawnSync } from 'node:child_process';
import { PolicyError } from '../errors.js';
import { baseMounts } from './bwrap.js';
import { findExecHelper, type LandlockAccess, type LandlockSpec } from './exec-helper.js';
import type { FilePlan } from './mounts.js';
import { PROXY_PORT } from './native-network.js';

/** The highest ABI whose rights the helper knows (Linux 6.15+). */
export const LANDLOCK_MAX_ABI = 7;

/** What {@link landlockRules} needs besides the plan. */
export interface LandlockOptions {
  /** The policy grants network: allow TCP connect to the proxy's port. */
  readonly network: boolean;
  /** The proxy's port inside the sandbox (default `PROXY_PORT`, 3128). */
  readonly proxyPort?: number;
  /** Refuse to run below this ABI (default: any Landlock, ABI 1). */
  readonly minAbi?: number;
}

/** Directories of the sandbox's fixed layout (`bwrap.ts` `bwrapArgs`) and what they allow. */
const FIXED: readonly { access: LandlockAccess; path: string }[] = [
  { access: 'ro', path: '/etc' },
  { access: 'ro', path: '/proc' },
  { access: 'dev', path: '/dev' },
  { access: 'rw', path: '/dev/shm' },
  { access: 'rw', path: '/tmp' },
];

/** `/usr` and the top-level directories bound beside it (links like `/bin` → `usr/bin` need none). */
function systemDirs(): string[] {
  const placeholder = { passwd: '/etc/passwd', group: '/etc/group', hosts: '/etc/hosts' };
  return baseMounts(placeholder).flatMap((m) => (m.kind === 'bind' && !m.guest.startsWith('/etc/') ? [m.guest] : []));
}

/**
 * The Landlock ruleset of a policy's files (its plan from `planFileMounts`).
 *
 * @throws {PolicyError} for a mount path the helper's spec cannot carry (a line break in it).
 * @example
 * ```ts
 * landlockRules({ mounts: [{ kind: 'bind', host: '/srv/d', guest: '/data', readonly: true }], summary: [] }, { network: false }).paths.at(-1);
 * // { access: 'rx', path: '/data' }
 * ```
 */
export function landlockRules(plan: FilePlan, opts: LandlockOptions): LandlockSpec {
  const paths: { access: LandlockAccess; path: string }[] = [...systemDirs().map((path) => ({ access: 'rx' as const, path })), ...FIXED];
  for (const m of plan.mounts) {
    if (m.kind !== 'bind') continue; // masks lie inside a bind and take its rule
    if (/[\n\r\0]/.test(m.guest)) throw new PolicyError(`the mount ${JSON.stringify(m.guest)} has a line break in its path, which the Landlock rules cannot name; rename it`, { path: m.guest });
    const access: LandlockAccess = m.readonly ? 'rx' : 'rw';
    if (!paths.some((p) => p.path === m.guest && p.access === access)) paths.push({ access, path: m.guest });
  }
  return {
    paths,
    connectPorts: opts.network ? [opts.proxyPort ?? PROXY_PORT] : [],
    bindPorts: [],
    ...(opts.minAbi !== undefined ? { minAbi: opts.minAbi } : {}),
  };
}

const abiCache = new Map<string, number | undefined>();

/**
 * The kernel's Landlock ABI as the helper sees it (`agentos-exec --probe-abi`), cached per helper.
 *
 * @returns the ABI (0: the kernel has no Landlock, or it is disabled), or `undefined` when there
 *   is no helper to ask or it would not run.
 */
export function landlockAbi(helper: string | undefined = findExecHelper()): number | undefined {
  if (helper === undefined) return undefined;
  if (abiCache.has(helper)) return abiCache.get(helper);
  const r = spawnSync(helper, ['--probe-abi'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const abi = r.status === 0 && /^\d+\s*$/.test(r.stdout) ? Number(r.stdout.trim()) : undefined;
  abiCache.set(helper, abi);
  return abi;
}

/**
 * What a spec enforces on a kernel of `abi`, one line per layer (for the spawn's audit record).
 *
 * @example
 * ```ts
 * describeLandlock(spec, 3); // ['landlock ABI 3: files only as granted: rx /usr, …', 'landlock: TCP not restricted (needs ABI 4)', …]
 * ```
 */
export function describeLandlock(spec: LandlockSpec, abi: number): string[] {
  if (abi < (spec.minAbi ?? 1)) return [`landlock: not applied (kernel ABI ${abi}, needs ${spec.minAbi ?? 1}); the mounts alone restrict files`];
  const bind = spec.bindPorts?.length ? `bind only to ${spec.bindPorts.join(', ')}` : 'no bind';
  const connect = spec.connectPorts.length ? `connect only to port ${spec.connectPorts.join(', ')}` : 'no connect';
  return [
    `landlock ABI ${abi}: files only as granted: ${spec.paths.map((p) => `${p.access} ${p.path}`).join(', ')}`,
    abi >= 4 ? `landlock: TCP ${connect}, ${bind}` : 'landlock: TCP not restricted (needs ABI 4)',
    abi >= 6 ? 'landlock: abstract unix sockets and signals only within the sandbox' : 'landlock: abstract unix sockets and signals not scoped (needs ABI 6)',
  ];
}
