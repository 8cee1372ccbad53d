/**
 * Network for native agents, through the same rules as WebAssembly agents: the sandbox has
 * only loopback, and its `127.0.0.1:3128` is the host's egress proxy (`egress/`) — a listening
 * socket the host creates *inside* the sandbox's network namespace (the addon's
 * `listenInNetns`, while bwrap holds the sandbox before exec) and serves itself, so no extra
 * process runs in the sandbox. `HTTP_PROXY`, `HTTPS_PROXY` and friends point there; every
 * connection is decided by the agent's gate (`Gate.http`, as for `wasi:http`) and recorded.
 *
 * It needs root (joining another user namespace's network namespace) and the wasmtime addon;
 * a policy that grants network access where either is missing is refused at load, naming
 * what to install — never run with more network, or silently with none.
 *
 * @example
 * ```ts
 * const net = await NativeNetwork.start(gate, dir, durable); // at load, when the policy grants network
 * const listener = await net.serveIn(pid);          // per run, while the sandbox is held
 * await listener.close(); await net.close();
 * ```
 */
import { join } from 'node:path';
import { DeniedError } from '../errors.js';
import type { Gate } from '../gate/gate.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { loadWasmtimeAddon } from '../engine/wasmtime/addon.js';
import { startEgressProxy, type EgressProxy } from './egress/index.js';
import type { NameLookup } from '../util/dns-servers.js';

/** The proxy's address inside the sandbox. */
export const PROXY_PORT = 3128;

/** The proxy variables every common client reads (curl, Python, Node, Go, wget). */
export function proxyEnv(): Record<string, string> {
  const url = `http://127.0.0.1:${PROXY_PORT}`;
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, ALL_PROXY: url, all_proxy: url, NO_PROXY: '', no_proxy: '' };
}

/** Whether a policy lets the agent reach any host. */
export function grantsNetwork(policy: SandboxPolicy): boolean {
  const c = policy.capabilities;
  return c.allowed.includes('network_access') && !c.forbidden.includes('network_access') && policy.networkRules.allowedHosts.length > 0;
}

export class NativeNetwork {
  private constructor(
    private readonly proxy: EgressProxy,
    private readonly listen: (pid: number, port: number) => number,
  ) {}

  /**
   * Start the agent's proxy (its unix socket in the agent's private directory).
   *
   * @throws {DeniedError} when the host cannot put the proxy inside a sandbox.
   */
  static async start(gate: Gate, dir: string, durable?: () => Promise<void>, lookup?: NameLookup): Promise<NativeNetwork> {
    const refuse = (why: string): never => {
      throw new DeniedError(`the policy grants network_access, and a native agent reaches the network only through the egress proxy inside its sandbox, which needs ${why}; remove network_access for native agents or fix the host (agentos doctor)`);
    };
    if (process.getuid?.() !== 0) refuse('the host to run as root (to listen inside the sandbox network namespace)');
    let listen: ((pid: number, port: number) => number) | undefined;
    try {
      listen = loadWasmtimeAddon().listenInNetns;
    } catch {
      listen = undefined;
    }
    if (!listen) return refuse('the wasmtime addon (npm run build:native)');
    // Under sync commits a connection is opened only once its decision's record is durable.
    const proxy = await startEgressProxy({
      gate,
      socketPath: join(dir, 'egress.sock'),
      ...(durable ? { awaitAudit: () => durable().then(() => true, () => false) } : {}),
      ...(lookup ? { lookup } : {}),
    });
    return new NativeNetwork(proxy, listen);
  }

  /** Serve `127.0.0.1:3128` inside the network namespace of the held sandbox process `pid`. */
  async serveIn(pid: number): Promise<{ close(): Promise<void> }> {
    return this.proxy.serveFd(this.listen(pid, PROXY_PORT));
  }

  async close(): Promise<void> {
    await this.proxy.close();
  }
}
