/**
 * Seccomp for native agents (issue 13, item 5): the policy's `allowedSyscalls` (or a default
 * allowlist) as a classic-BPF filter for `bwrap --seccomp FD`, and as an OCI runtime-spec
 * profile for runc. Generated here in TypeScript: no package does it, and the rules are few.
 *
 * @example
 * ```ts
 * import { seccompFilter, ociSeccompProfile } from './container/seccomp/index.js';
 * const bytes = seccompFilter({ allowedSyscalls: policy.allowedSyscalls }); // for --seccomp FD
 * const profile = ociSeccompProfile({ allowedSyscalls: policy.allowedSyscalls }); // linux.seccomp
 * ```
 */
export { seccompFilter, seccompProgram, programFor, X32_SYSCALL_BIT, type SeccompProgramOptions, type DeniedAction } from './filter.js';
export { ociSeccompProfile, complementPrefixes, type OciSeccompProfile, type OciSeccompSyscall, type OciSeccompArg } from './oci.js';
export {
  seccompRules, hostSeccompArch, ALWAYS_DENIED, ALWAYS_ALLOWED, DEFAULT_ALLOWED_SYSCALLS, CLONE_NS_FLAGS, CLONE_NS_MASK,
  ALLOWED_SOCKET_FAMILIES, DENIED_IOCTLS, EPERM, ENOSYS,
  type SeccompOptions, type SeccompRules, type SyscallAction, type SeccompArch,
} from './rules.js';
export { SYSCALLS } from './syscall-tables.js';
export { runSeccomp, describeRet, type SeccompCall } from './interpret.js';
export { AUDIT_ARCH, SECCOMP_RET, BPF_MAXINSNS, encodeProgram, decodeProgram, type SockFilter } from './bpf.js';
