/**
 * agent-os-sandbox: run untrusted AI agents compiled to WebAssembly components under a
 * deny-by-default policy. Every file, network, environment and tool access passes one gate.
 *
 * @example
 * ```ts
 * import { createSandbox } from 'agent-os-sandbox';
 * const sandbox = createSandbox();
 * const agent = await sandbox.load('agent.wasm', { policy: 'policy.yaml' });
 * const { output } = await agent.run('count the TODOs');
 * await sandbox.close();
 * ```
 * @packageDocumentation
 */
export { createSandbox, Sandbox, Agent } from './sandbox/sandbox.js';
export type { SandboxOptions, LoadOptions, RunOptions, RunResult, SandboxEvents, InspectReport, ToolHandler } from './sandbox/sandbox.js';
export type { PolicyInput } from './sandbox/policy-input.js';
export type { ImportReport, ImportVerdict } from './sandbox/imports.js';
export {
  SandboxError,
  PolicyError,
  ComponentError,
  LimitError,
  DeniedError,
  AgentError,
  UsageError,
  ErrorCodes,
  exitCodeFor,
  isSandboxError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export type { AuditEvent, Decision, AccessRequest, ResourceKind } from './gate/types.js';
export type { LogEvent } from './capabilities/context.js';
export { loadPolicyFile, parsePolicyText, emptyPolicy } from './policy/loader.js';
export type { SandboxPolicy } from './policy/schema.js';
export { buildAgent } from './build/index.js';
