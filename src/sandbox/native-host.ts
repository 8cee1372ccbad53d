/**
 * What a native agent (`src/container/native-agent.ts`) reaches its sandbox through: the same
 * audit chain, log events, tools and load checks as a component agent.
 */
import type { NativeAgent, NativeHost } from '../container/native-agent.js';
import { callTool } from './instance-hooks.js';
import type { ToolHandler } from './options.js';
import type { Sandbox } from './sandbox.js';
import type { NameLookup } from '../util/dns-servers.js';

/** The sandbox's side of its native agents. */
export function nativeHost(
  s: Sandbox,
  o: {
    readonly hostEnv: Readonly<Record<string, string | undefined>>;
    readonly defaultTimeoutMs: number;
    readonly tools: ReadonlyMap<string, ToolHandler>;
    readonly natives: Set<NativeAgent>;
    checkLoad(agentId: string, hash: string | undefined): void;
    readonly resolve?: NameLookup | undefined;
  },
): NativeHost {
  return {
    hostEnv: o.hostEnv,
    defaultTimeoutMs: o.defaultTimeoutMs,
    checkAudit: () => s.checkAudit_(),
    auditError: (output) => s.auditError_(output),
    audit: (e, c) => s.audit_(e, c),
    auditDurable: (e, c) => s.auditDurable_(e, c),
    tagRun: (c, p) => s.auditBridge.tagRun(c, p),
    log: (e) => s.emit('log', e),
    forget: (a) => o.natives.delete(a),
    toolNames: () => [...o.tools.keys()],
    callTool: (name, input, agentId) => callTool(o.tools, { name, input, agentId }),
    checkLoad: (agentId, hash) => o.checkLoad(agentId, hash),
    ...(o.resolve ? { resolve: o.resolve } : {}),
  };
}
