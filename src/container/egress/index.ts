/**
 * The egress proxy of native agents (issue 13, item 4): one per agent, on a unix socket the
 * spawner mounts into the sandbox. Every connection is decided by the agent's `Gate`, exactly
 * like a WebAssembly agent's `wasi:http` request, then its resolved address is checked.
 *
 * @example
 * ```ts
 * import { startEgressProxy } from './container/egress/index.js';
 * const proxy = await startEgressProxy({ gate, socketPath: join(runDir, 'egress.sock') });
 * await proxy.close();
 * ```
 */
export { startEgressProxy } from './proxy.js';
export { classifyAddress, type AddressClass } from './address.js';
export { API_CONNECT, API_FORWARD } from './admission.js';
export type { EgressDecision, EgressGate, EgressProxy, EgressProxyOptions, EgressStats, LookupAddress } from './types.js';
