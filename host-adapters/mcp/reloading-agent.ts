/**
 * A native agent whose policy can be replaced while it is served. A native agent's sandbox is
 * made from its policy at load (mounts, environment, seccomp, egress proxy), so a new policy
 * means a new load: the new agent takes the next runs, and the old one is closed once the runs
 * it has under way end (`NativeAgent.close` waits for them). Components need none of this:
 * `Agent.updatePolicy` applies a policy to the live instance.
 */
import type { NativeAgent, SandboxPolicy } from 'agent-os-sandbox';
import type { McpAgent } from './types.js';

/**
 * Wrap `first` so that `updatePolicy(policy)` loads a replacement with `load(policy)` and swaps
 * it in.
 *
 * @example
 * ```ts
 * const agent = reloadingAgent(await sandbox.loadNative({ command, policy }), (p) => sandbox.loadNative({ command, policy: p }));
 * ```
 */
export function reloadingAgent(first: NativeAgent, load: (policy: SandboxPolicy) => Promise<NativeAgent>): McpAgent & { readonly executable: NativeAgent['executable'] } {
  let current = first;
  let closed = false;
  return {
    get id() {
      return current.id;
    },
    get policy() {
      return current.policy;
    },
    get executable() {
      return current.executable;
    },
    run: (task, options) => current.run(task, options),
    async close() {
      closed = true;
      await current.close();
    },
    async updatePolicy(policy: SandboxPolicy) {
      const next = await load(policy);
      if (closed) {
        await next.close();
        throw new Error('the agent was closed while its new policy was loading');
      }
      const old = current;
      current = next;
      await old.close();
    },
  };
}
