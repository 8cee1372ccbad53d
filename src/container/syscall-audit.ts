/**
 * Every system call the seccomp filter denies a native agent, recorded in the audit chain.
 *
 * How: the filter is generated with `denied: 'notify'` (a denied call returns
 * `SECCOMP_RET_USER_NOTIF` instead of EPERM); the exec helper inside the sandbox loads it with a
 * listener (`--seccomp-notify-fd`) and sends the listener to the host over a unix socket the
 * host gave the sandbox as an extra descriptor; the addon (`watchSeccomp`) receives it, answers
 * every call EPERM — what the agent saw before — and reports each one here. The first
 * {@link SYSCALL_RECORDS_PER_RUN} denied calls of a run each become one `capability_denied`
 * record (capability `syscall`, target the call's name, api {@link SECCOMP_DENY_API}, the rule
 * in the reason), then one record counts the rest, by name. Records go through the agent's own
 * audit path with the run's correlation id.
 *
 * Without the addon's `watchSeccomp`, the exec helper inside the sandbox, or with a policy
 * allowlist that lacks what the helper calls after loading the filter (sendmsg, close), the
 * EPERM filter runs as before and nothing is recorded per call; the `agent_spawn` record says
 * which (`details.seccomp.recorded`).
 *
 * @example
 * ```ts
 * const rec = syscallRecording(rules, { policyList: true });      // { filter, watch } | { why }
 * const audit = new SyscallAudit({ agentId, runId, rules, policyList: true, watch, audit: host.audit });
 * const channel = audit.attach(child.stdio[7]);                    // right after spawn
 * await channel.close();                                           // after the sandbox ended
 * ```
 */
import type { Duplex } from 'node:stream';
import type { AuditEvent } from '../gate/types.js';
import { loadWasmtimeAddon } from '../engine/wasmtime/addon.js';
import { ALLOWED_SOCKET_FAMILIES, ALWAYS_DENIED, AUDIT_ARCH, CLONE_NS_MASK, DENIED_IOCTLS, encodeProgram, programFor, SYSCALLS, type SeccompArch, type SeccompRules } from './seccomp/index.js';

/** Denied calls recorded one by one per run; the rest are counted in one summary record. */
export const SYSCALL_RECORDS_PER_RUN = 100;

/** The `api` of these records. */
export const SECCOMP_DENY_API = 'agentos:seccomp#deny';

/** What the helper calls between loading the filter and the exec (execve is always allowed). */
export const HELPER_CALLS_AFTER_FILTER: readonly string[] = Object.freeze(['sendmsg', 'close']);

/** One notice of the addon's watch (native/src/seccomp_notify.rs). */
export interface SeccompNotice {
  readonly kind: 'call' | 'end';
  readonly pid?: number;
  readonly nr?: number;
  readonly arch?: number;
  /** 64-bit arguments as `0x…` strings. */
  readonly args?: readonly string[];
  /** `end`: `exited` | `stopped` | `closed` | `error`. */
  readonly reason?: string;
  readonly message?: string;
  readonly total?: number;
  readonly dropped?: number;
  readonly counts?: readonly { readonly nr: number; readonly arch: number; readonly count: number }[];
}

/** A running watch. */
export interface SeccompWatch {
  /** Ask it to end; after its `end` notice, release its last descriptor. */
  stop(): void;
  readonly ended: boolean;
}

/** The addon's `watchSeccomp`. */
export type WatchSeccomp = (socketFd: number, callback: (n: SeccompNotice) => void, options?: { maxEvents?: number }) => SeccompWatch;

/** The addon's watch, or why there is none. */
export function seccompWatcher(): { readonly watch: WatchSeccomp } | { readonly why: string } {
  let addon: { watchSeccomp?: unknown };
  try {
    addon = loadWasmtimeAddon() as unknown as { watchSeccomp?: unknown };
  } catch {
    return { why: 'the addon is not built: npm run build:native' };
  }
  if (typeof addon.watchSeccomp !== 'function') return { why: 'the addon predates watchSeccomp: npm run build:native' };
  return { watch: addon.watchSeccomp as WatchSeccomp };
}

/**
 * Whether these rules can be recorded per call: the notify filter and the watch, or why not
 * (the helper-inside condition is the backend's).
 */
export function syscallRecording(rules: SeccompRules): { readonly filter: Uint8Array; readonly watch: WatchSeccomp } | { readonly why: string } {
  const lacking = HELPER_CALLS_AFTER_FILTER.filter((n) => !rules.allowed.includes(n));
  if (lacking.length > 0) return { why: `the policy's allowedSyscalls lacks ${lacking.join(' and ')}, which the exec helper calls to hand the filter's listener to the host` };
  const w = seccompWatcher();
  if ('why' in w) return w;
  return { filter: encodeProgram(programFor(rules, 'tree', 'notify')), watch: w.watch };
}

const names = new Map<SeccompArch, Map<number, string>>();

/** The architecture of an `AUDIT_ARCH_*` value, if we have its table. */
export function archName(audit: number): SeccompArch | undefined {
  return audit === AUDIT_ARCH.x86_64 ? 'x86_64' : audit === AUDIT_ARCH.aarch64 ? 'aarch64' : undefined;
}

/** The call's name from our tables (`syscall_<nr>` when the table has none). */
export function syscallName(audit: number, nr: number): string {
  const arch = archName(audit);
  if (arch === undefined) return `syscall_${nr}`;
  let byNr = names.get(arch);
  if (!byNr) names.set(arch, (byNr = new Map(Object.entries(SYSCALLS[arch]).map(([n, v]) => [v, n]))));
  return byNr.get(nr) ?? `syscall_${nr}`;
}

/** Which rule denied a call: an id and a sentence. */
export function deniedRule(rules: SeccompRules, name: string, args: readonly string[], policyList: boolean): { readonly id: string; readonly reason: string } {
  const low = (i: number): number => {
    try {
      return Number(BigInt(args[i] ?? '0') & 0xffffffffn);
    } catch {
      return 0;
    }
  };
  const hex = (v: number) => `0x${v.toString(16)}`;
  if (ALWAYS_DENIED.includes(name)) return { id: 'seccomp:always-denied', reason: `${name} is always denied (namespaces, mounts, tracing, kernel objects and system administration are refused whatever the policy lists)` };
  if (rules.allowed.includes(name)) {
    if (name === 'clone' && (low(0) & CLONE_NS_MASK) !== 0) return { id: 'seccomp:clone-namespace', reason: `clone with namespace flags (${hex(low(0) & CLONE_NS_MASK)}) is denied` };
    if (name === 'socket' && !ALLOWED_SOCKET_FAMILIES.includes(low(0))) return { id: 'seccomp:socket-family', reason: `socket family ${low(0)} is denied (only AF_UNIX, AF_INET, AF_INET6)` };
    if (name === 'ioctl' && DENIED_IOCTLS.includes(low(1))) return { id: 'seccomp:ioctl-request', reason: `ioctl request ${hex(low(1))} (${low(1) === 0x5412 ? 'TIOCSTI' : 'TIOCLINUX'}) is denied` };
  }
  return policyList
    ? { id: 'seccomp:not-in-policy', reason: `${name} is not in the policy's allowedSyscalls` }
    : { id: 'seccomp:not-in-default', reason: `${name} is not in the default allowlist (a policy that needs it lists allowedSyscalls)` };
}

/** What one run's recorder needs. */
export interface SyscallAuditOptions {
  readonly agentId: string;
  /** The run's id: the correlation id of the records. */
  readonly runId: string;
  readonly rules: SeccompRules;
  /** The rules come from the policy's `allowedSyscalls` (not the default list). */
  readonly policyList: boolean;
  readonly watch: WatchSeccomp;
  /** The agent's audit path (`host.audit`). */
  readonly audit: (e: Omit<AuditEvent, 'time'>, correlationId?: string) => void;
  /** Records one by one per run (default {@link SYSCALL_RECORDS_PER_RUN}). */
  readonly cap?: number;
  /** How long `close()` waits for the watch to see the sandbox gone before stopping it (ms, default 2000). */
  readonly settleMs?: number;
}

/** Records one run's denied calls. */
export class SyscallAudit {
  private recorded = 0;
  private attached = false;

  constructor(private readonly o: SyscallAuditOptions) {}

  private get cap(): number {
    return this.o.cap ?? SYSCALL_RECORDS_PER_RUN;
  }

  /**
   * Watch the host end of the channel (a Node stream over a unix socket: a `'pipe'` entry of
   * `spawn`'s `stdio`). The addon duplicates its descriptor, read from the stream's handle
   * (`_handle.fd`: Node has no public accessor for a Pipe handle's fd), and the stream is
   * destroyed at once: Node starts reading a child's pipes as soon as they exist, and a plain
   * read of the message that carries the listener would discard the descriptor it carries. The
   * helper sends it only after bwrap released the sandbox, long after this runs.
   *
   * @throws Error when the stream has no descriptor or the addon refuses it: the run must not
   *   start (the helper would send a listener nobody answers, and the agent's first denied
   *   call would wait forever).
   */
  attach(stream: Duplex): { close(): Promise<void> } {
    if (this.attached) throw new Error('a SyscallAudit watches one run');
    this.attached = true;
    const fd = (stream as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) {
      stream.destroy();
      throw new Error('the seccomp channel has no descriptor');
    }
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    let watch: SeccompWatch;
    try {
      watch = this.o.watch(fd, (n) => this.notice(n, endedResolve), { maxEvents: this.cap });
    } finally {
      stream.destroy();
    }
    const wait = (ms: number) => new Promise<boolean>((r) => { const t = setTimeout(() => r(false), ms); ended.then(() => { clearTimeout(t); r(true); }, () => {}); });
    return {
      close: async () => {
        // The watch ends by itself once every process of the sandbox is gone; records still
        // queued arrive before its end notice.
        if (!(await wait(this.o.settleMs ?? 2000))) {
          watch.stop();
          await wait(1000);
        }
        watch.stop(); // ended: closes its eventfd now rather than at garbage collection
      },
    };
  }

  private notice(n: SeccompNotice, ended: () => void): void {
    try {
      if (n.kind === 'call') this.call(n);
      else this.end(n);
    } catch {
      // a record that cannot be made must not take the host down (the audit path reports its own failures)
    } finally {
      if (n.kind === 'end') ended();
    }
  }

  private call(n: SeccompNotice): void {
    if (this.recorded >= this.cap) return;
    this.recorded++;
    const name = syscallName(n.arch ?? 0, n.nr ?? -1);
    const args = n.args ?? [];
    const rule = deniedRule(this.o.rules, name, args, this.o.policyList);
    this.o.audit({
      type: 'capability_denied', agentId: this.o.agentId, capability: 'syscall', resource: 'system', action: 'call', target: name, outcome: 'denied',
      reason: `seccomp denied ${name}: ${rule.reason}`, api: SECCOMP_DENY_API,
      details: { syscall: name, nr: n.nr, arch: archName(n.arch ?? 0) ?? n.arch, pid: n.pid, args: [...args], rule: rule.id, errno: 'EPERM' },
    }, this.o.runId);
  }

  private end(n: SeccompNotice): void {
    const total = n.total ?? this.recorded;
    const rest = total - this.recorded;
    if (rest > 0) {
      const bySyscall: Record<string, number> = {};
      for (const c of n.counts ?? []) {
        const name = syscallName(c.arch, c.nr);
        bySyscall[name] = (bySyscall[name] ?? 0) + c.count;
      }
      this.o.audit({
        type: 'capability_denied', agentId: this.o.agentId, capability: 'syscall', resource: 'system', action: 'call', target: 'syscalls', outcome: 'denied', count: rest,
        reason: `seccomp denied ${rest} more system call${rest === 1 ? '' : 's'} (EPERM) not recorded one by one: ${total} in this run, the first ${this.recorded} recorded`,
        api: SECCOMP_DENY_API,
        details: { total, recorded: this.recorded, notRecorded: rest, bySyscall },
      }, this.o.runId);
    }
    if (n.reason === 'error') {
      this.o.audit({
        type: 'security_alert', agentId: this.o.agentId, capability: 'syscall', resource: 'system', action: 'watch', target: 'seccomp', outcome: 'denied',
        reason: `denied system calls are no longer recorded in this run (they answer ENOSYS instead of EPERM): ${n.message ?? 'the seccomp watch failed'}`, api: SECCOMP_DENY_API,
      }, this.o.runId);
    }
  }
}
