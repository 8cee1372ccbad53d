/**
 * The environment of a native agent: only what the policy grants (`env.allow` names read from
 * the host, `env.set` fixed values), over a small fixed base, and never a variable that makes
 * a loader, an interpreter or a shell run code the agent did not ship (`LD_PRELOAD`,
 * `PYTHONSTARTUP`, `BASH_ENV`, …): a policy that grants one is refused at load, naming it.
 *
 * @example
 * ```ts
 * nativeEnv(policy, process.env) // { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ... }
 * ```
 */
import { PolicyError } from '../errors.js';
import type { SandboxPolicy } from '../policy/schema.js';

/** What every native agent gets, before the policy's variables. */
export const BASE_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
  USER: 'nobody',
});

/**
 * Variables that inject code into whatever runs next. Exact names, plus the `LD_` and
 * `DYLD_` prefixes (every dynamic-loader knob).
 */
const CODE_INJECTING = new Set([
  'BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'PS4', 'PROMPT_COMMAND', 'IFS',
  'NODE_OPTIONS', 'NODE_PATH', 'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONINSPECT', 'PYTHONUSERBASE', 'PYTHONBREAKPOINT',
  'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'RUBYOPT', 'RUBYLIB', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS',
  'GCONV_PATH', 'MALLOC_CHECK_', 'GLIBC_TUNABLES', 'HOSTALIASES', 'RESOLV_HOST_CONF', 'LOCALDOMAIN', 'NLSPATH',
]);

/** Whether a variable name is one the sandbox never passes, whatever the policy says. */
export function isCodeInjecting(name: string): boolean {
  return CODE_INJECTING.has(name) || name.startsWith('LD_') || name.startsWith('DYLD_');
}

/**
 * The agent's environment. `extra` (the egress proxy's variables) goes last and wins.
 *
 * @throws {PolicyError} when `env.allow` or `env.set` names a code-injecting variable.
 */
export function nativeEnv(policy: SandboxPolicy, hostEnv: NodeJS.ProcessEnv, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const refuse = (path: string, name: string): never => {
    throw new PolicyError(`${path}: ${name} is never passed to a native agent (it makes the loader, an interpreter or a shell run code the agent did not bring); remove it from the policy`, { path });
  };
  policy.env.allow.forEach((name, i) => isCodeInjecting(name) && refuse(`env.allow[${i}]`, name));
  for (const name of Object.keys(policy.env.set)) if (isCodeInjecting(name)) refuse(`env.set.${name}`, name);
  const env: Record<string, string> = { ...BASE_ENV };
  for (const name of policy.env.allow) {
    const v = hostEnv[name];
    if (v !== undefined) env[name] = v;
  }
  Object.assign(env, policy.env.set, extra);
  return env;
}
