/**
 * What a component's imports mean under a policy: which the sandbox provides, which the
 * policy would deny when called, and which it refuses before the agent runs
 * (an import whose capability is in `capabilities.forbidden`).
 */
import type { GatePolicy } from '../gate/gate.js';

/** How the policy treats one import. */
export type ImportVerdict = 'allowed' | 'gated' | 'denied' | 'refused' | 'unsupported';

/** One row of the import report. */
export interface ImportReport {
  readonly name: string;
  readonly capability: string | undefined;
  readonly verdict: ImportVerdict;
  readonly reason: string;
}

/** Interfaces the sandbox supplies and the capability each needs (undefined: ambient). */
const PROVIDED: Readonly<Record<string, string | undefined>> = Object.freeze({
  'wasi:cli/environment': 'read_env',
  'wasi:cli/exit': undefined,
  'wasi:cli/stdin': undefined,
  'wasi:cli/stdout': undefined,
  'wasi:cli/stderr': undefined,
  'wasi:cli/terminal-input': undefined,
  'wasi:cli/terminal-output': undefined,
  'wasi:cli/terminal-stdin': undefined,
  'wasi:cli/terminal-stdout': undefined,
  'wasi:cli/terminal-stderr': undefined,
  'wasi:clocks/monotonic-clock': undefined,
  'wasi:clocks/wall-clock': undefined,
  'wasi:random/random': undefined,
  'wasi:random/insecure': undefined,
  'wasi:random/insecure-seed': undefined,
  'wasi:io/error': undefined,
  'wasi:io/poll': undefined,
  'wasi:io/streams': undefined,
  'wasi:filesystem/types': 'read_files',
  'wasi:filesystem/preopens': 'read_files',
  'wasi:http/types': undefined,
  'wasi:http/outgoing-handler': 'network_access',
  'wasi:sockets/network': undefined,
  'wasi:sockets/instance-network': undefined,
  'wasi:sockets/tcp': 'network_access',
  'wasi:sockets/udp': 'network_access',
  'wasi:sockets/tcp-create-socket': 'network_access',
  'wasi:sockets/udp-create-socket': 'network_access',
  'wasi:sockets/ip-name-lookup': 'network_access',
  'agent-os:sandbox/log': undefined,
  'agent-os:sandbox/tools': 'execute_tools',
  'agent-os:sandbox/kv': 'storage',
  'agent-os:sandbox/messaging': 'messaging',
});

/** Strip the `@version` from an import name. */
export function unversioned(name: string): string {
  return name.replace(/@[^/]*$/, '');
}

/** Classify each import of a component under a policy. */
export function classifyImports(imports: readonly string[], policy: GatePolicy): ImportReport[] {
  const allowed = new Set(policy.capabilities.allowed);
  const forbidden = new Set(policy.capabilities.forbidden);
  return imports.map((raw) => {
    const name = unversioned(raw);
    if (!Object.hasOwn(PROVIDED, name)) {
      return { name: raw, capability: undefined, verdict: 'unsupported', reason: 'the sandbox does not provide this interface' };
    }
    const capability = PROVIDED[name];
    if (capability === undefined) return { name: raw, capability, verdict: 'allowed', reason: 'ambient: always available' };
    if (forbidden.has(capability)) {
      return { name: raw, capability, verdict: 'refused', reason: `needs ${capability}, which capabilities.forbidden lists` };
    }
    if (name.startsWith('wasi:sockets/')) {
      return { name: raw, capability, verdict: 'denied', reason: 'raw sockets and DNS are never available; use wasi:http' };
    }
    if (capability === 'read_env') {
      const n = (policy.env?.allow.length ?? 0) + Object.keys(policy.env?.set ?? {}).length;
      return n > 0
        ? { name: raw, capability, verdict: 'gated', reason: `only env.allow / env.set names (${n})` }
        : { name: raw, capability, verdict: 'denied', reason: 'no variables in env.allow: the environment is empty' };
    }
    if (capability === 'execute_tools') {
      const n = policy.toolAccess?.allow.length ?? 0;
      return n > 0
        ? { name: raw, capability, verdict: 'gated', reason: `only toolAccess.allow tools (${n})` }
        : { name: raw, capability, verdict: 'denied', reason: 'toolAccess.allow is empty: every tool call is denied' };
    }
    if (capability === 'read_files') {
      const fileCaps = ['read_files', 'write_files'].filter((c) => allowed.has(c) && !forbidden.has(c));
      if (fileCaps.length === 0) return { name: raw, capability, verdict: 'denied', reason: 'neither read_files nor write_files is allowed: no preopens' };
      if (policy.mounts.length === 0) return { name: raw, capability, verdict: 'denied', reason: 'no mounts: no preopens' };
      return { name: raw, capability, verdict: 'gated', reason: `${fileCaps.join('+')} under ${policy.mounts.length} mount(s), per fileAccess` };
    }
    if (capability === 'messaging' && allowed.has(capability)) {
      const p = policy.messaging;
      return { name: raw, capability, verdict: 'gated', reason: `messaging allowed, per messaging.peers (${p?.peers.length ?? 0}) and topics, or the authorization model` };
    }
    if (capability === 'storage' && allowed.has(capability)) {
      return { name: raw, capability, verdict: 'gated', reason: 'storage allowed in the agent\'s own namespace, per the data policies' };
    }
    if (allowed.has(capability)) {
      return capability === 'network_access' && !policy.networkRules
        ? { name: raw, capability, verdict: 'denied', reason: 'network_access allowed but no networkRules: every host is denied' }
        : { name: raw, capability, verdict: 'gated', reason: `${capability} allowed, per networkRules` };
    }
    return { name: raw, capability, verdict: 'denied', reason: `${capability} is not in capabilities.allowed: every call is denied` };
  });
}
