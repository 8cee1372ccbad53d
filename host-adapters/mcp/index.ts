/**
 * `agent-os-sandbox/mcp`: sandboxed agents as Model Context Protocol tools. Needs the optional
 * peer dependency `@modelcontextprotocol/sdk` (`npm install @modelcontextprotocol/sdk`).
 *
 * - {@link createMcpServer}: an `McpServer` with one tool per agent (plus read-only
 *   `agentos_list_agents` and `agentos_show_policy`), to connect to any transport.
 * - {@link loadMcpConfig} / {@link loadConfiguredAgents}: the agents of an `agents.yaml`.
 * - {@link serveStdio} and {@link serveHttp}: what `agentos mcp` runs.
 *
 * @example
 * ```ts
 * import { createSandbox } from 'agent-os-sandbox';
 * import { loadMcpConfig, serveStdio } from 'agent-os-sandbox/mcp';
 * const sandbox = createSandbox();
 * await serveStdio({ sandbox, config: await loadMcpConfig('agents.yaml') });
 * await sandbox.close();
 * ```
 * @packageDocumentation
 */
export { createMcpServer, checkAgentName, defaultDescription, MANAGEMENT_PREFIX, PROGRESS_INTERVAL_MS } from './server.js';
export type { McpServerOptions } from './server.js';
export { loadMcpConfig, parseMcpConfig, loadConfiguredAgents } from './config.js';
export type { McpConfig, McpAgentSpec, LoadedAgents } from './config.js';
export { serveStdio } from './stdio.js';
export type { McpStdioOptions } from './stdio.js';
export { serveHttp, allowedHosts, MCP_HTTP_PATH, MAX_BODY_BYTES, DEFAULT_MAX_SESSIONS } from './http.js';
export type { McpHttpOptions, McpHttpServer } from './http.js';
export { policySummary, policyJson } from './policy-view.js';
export type { PolicySummary } from './policy-view.js';
export { errorText, MCP_PEER_RANGE } from './types.js';
export type { McpAgent, McpAgentEntry } from './types.js';
export { PeerMissingError } from '../shared/peer.js';
