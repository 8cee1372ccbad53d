/**
 * `agent-os-sandbox/mcp`: sandboxed agents as Model Context Protocol tools. Needs the optional
 * peer dependency `@modelcontextprotocol/sdk` (`npm install @modelcontextprotocol/sdk`).
 *
 * - {@link createMcpServer}: an `McpServer` with one tool per agent (plus read-only
 *   `agentos_list_agents`, `agentos_show_policy` and `agentos_explain`, and with an `approve`
 *   callback `agentos_request_capability`), to connect to any transport.
 * - {@link commandApprover}: an approver that runs a program (`agentos mcp --approve-with`).
 * - {@link loadMcpConfig} / {@link loadConfiguredAgents}: the agents of an `agents.yaml`.
 * - {@link serveStdio} and {@link serveHttp}: what `agentos mcp` runs; `serveHttp({ auth })`
 *   requires the sandbox's own bearer tokens (./auth.ts).
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
export { createAuthenticator, isLoopbackHost, sameSubject, MCP_TOKEN_SCOPE, DEFAULT_AUTH_REALM } from './auth.js';
export type { McpHttpAuth, McpPrincipal, McpTokenKind, AuthOutcome } from './auth.js';
export { policySummary, policyJson } from './policy-view.js';
export { registerExplainTool, EXPLAIN_TOOL } from './explain-tool.js';
export { registerRequestCapability, REQUEST_CAPABILITY_TOOL } from './approval.js';
export type { ApprovalRequest, ApprovalDecision, Approver, RequestCapabilityContext } from './approval.js';
export { commandApprover, DEFAULT_APPROVE_TIMEOUT_MS } from './approve-command.js';
export type { CommandApproverOptions } from './approve-command.js';
export { parseGrant, widenPolicy, grantText, GRANTABLE, MAX_GRANT_BYTES } from './grant.js';
export type { CapabilityGrant } from './grant.js';
export { reloadingAgent } from './reloading-agent.js';
export type { PolicySummary } from './policy-view.js';
export { errorText, MCP_PEER_RANGE } from './types.js';
export type { McpAgent, McpAgentEntry } from './types.js';
export { PeerMissingError } from '../shared/peer.js';
