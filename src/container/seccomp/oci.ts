/**
 * The same seccomp rules in OCI runtime-spec form (`linux.seccomp` of `config.json`), for runc,
 * crun, containerd or Kubernetes. runc compiles it with libseccomp.
 *
 * How the argument checks are expressed, and why:
 * - libseccomp compares 64-bit values, allows one comparison per argument in a rule, and ORs the
 *   rules of one call; how it combines an unconditional rule with conditional rules of another
 *   action for the same call is not specified. So every checked call has only ALLOW rules with
 *   conditions, and whatever no rule matches falls to the default action (EPERM).
 * - `clone`: ALLOW when `flags & CLONE_NS_MASK == 0` (SCMP_CMP_MASKED_EQ, as Docker does).
 * - `socket`: one ALLOW per family, `family & 0xffffffff == f` (the kernel reads an int).
 * - `ioctl`: "request (low 32 bits) is neither TIOCSTI nor TIOCLINUX" cannot be one rule, and a
 *   64-bit NOT_EQUAL would let `1<<32 | TIOCSTI` through (the kernel truncates the request to
 *   32 bits). So the complement of the denied values is covered exactly by prefix rules:
 *   `request & mask == prefix` for each subtree of the 32-bit space that holds no denied value
 *   (about 32 rules per denied value).
 * - foreign architectures: only the agent's architecture is listed, so libseccomp kills any
 *   other (x32 included, which it treats as a separate architecture).
 * - numbers above our tables: OCI names calls by name, so they get the default EPERM here
 *   rather than ENOSYS.
 *
 * @example
 * ```ts
 * const config = { ...spec, linux: { ...spec.linux, seccomp: ociSeccompProfile({ allowedSyscalls: policy.allowedSyscalls }) } };
 * ```
 */
import { EPERM, type SeccompArch, type SeccompOptions, seccompRules, type SyscallAction } from './rules.js';
import { SYSCALLS } from './syscall-tables.js';

/** One argument comparison (runtime-spec `LinuxSeccompArg`). For MASKED_EQ, `value` is the mask. */
export interface OciSeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

/** One rule (runtime-spec `LinuxSyscall`). */
export interface OciSeccompSyscall {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  readonly errnoRet?: number;
  readonly args?: readonly OciSeccompArg[];
}

/** runtime-spec `LinuxSeccomp`, as we fill it. */
export interface OciSeccompProfile {
  readonly defaultAction: 'SCMP_ACT_ERRNO';
  readonly defaultErrnoRet: number;
  readonly architectures: readonly string[];
  readonly syscalls: readonly OciSeccompSyscall[];
}

const OCI_ARCH: Readonly<Record<SeccompArch, string>> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };
const LOW32 = 0xffffffff;

/**
 * The seccomp profile of a native agent in OCI form.
 *
 * @throws PolicyError for an unknown system call name (as `seccompFilter`).
 * @example
 * ```ts
 * ociSeccompProfile({ arch: 'x86_64' }).syscalls[0]; // { names: ['accept', …], action: 'SCMP_ACT_ALLOW' }
 * ```
 */
export function ociSeccompProfile(opts: SeccompOptions = {}): OciSeccompProfile {
  const rules = seccompRules(opts);
  const byNr = new Map(Object.entries(SYSCALLS[rules.arch]).map(([name, nr]) => [nr, name]));
  const plain: string[] = [];
  const checked: OciSeccompSyscall[] = [];
  for (const [nr, action] of [...rules.actions].sort((a, b) => a[0] - b[0])) {
    const name = byNr.get(nr)!;
    if (action.kind === 'allow') plain.push(name);
    else checked.push(...ociRules(name, action));
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [OCI_ARCH[rules.arch]],
    syscalls: [{ names: plain.sort(), action: 'SCMP_ACT_ALLOW' }, ...checked],
  };
}

function ociRules(name: string, action: Exclude<SyscallAction, { kind: 'allow' }>): OciSeccompSyscall[] {
  const allow = (args: OciSeccompArg[]): OciSeccompSyscall => ({ names: [name], action: 'SCMP_ACT_ALLOW', args });
  switch (action.kind) {
    case 'errno':
      return [{ names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: action.errno }];
    case 'clone':
      return [allow([{ index: 0, value: action.deniedFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }])];
    case 'socket':
      return action.families.map((f) => allow([{ index: 0, value: LOW32, valueTwo: f, op: 'SCMP_CMP_MASKED_EQ' }]));
    case 'ioctl':
      return complementPrefixes(action.deniedRequests).map(([mask, prefix]) => allow([{ index: 1, value: mask, valueTwo: prefix, op: 'SCMP_CMP_MASKED_EQ' }]));
  }
}

/**
 * `[mask, prefix]` pairs whose union (`x & mask == prefix`, over the low 32 bits) is every 32-bit
 * value except `excluded`: walk the binary trie from the top bit, emit each subtree that holds no
 * excluded value, descend into those that do.
 *
 * @example
 * ```ts
 * complementPrefixes([0]).length; // 32: [0x80000000, 0x80000000], [0xc0000000, 0x40000000], …
 * ```
 */
export function complementPrefixes(excluded: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  const walk = (depth: number, prefix: number, inside: readonly number[]): void => {
    const mask = depth === 0 ? 0 : (LOW32 << (32 - depth)) >>> 0;
    if (inside.length === 0) {
      out.push([mask, prefix >>> 0]);
      return;
    }
    if (depth === 32) return; // exactly an excluded value
    const bit = (1 << (31 - depth)) >>> 0;
    walk(depth + 1, prefix, inside.filter((v) => ((v >>> 0) & bit) === 0));
    walk(depth + 1, (prefix | bit) >>> 0, inside.filter((v) => ((v >>> 0) & bit) !== 0));
  };
  walk(0, 0, [...new Set(excluded.map((v) => v >>> 0))]);
  return out;
}
