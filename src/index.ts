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
export type { SandboxOptions, LoadOptions, RunOptions, RunResult, SandboxEvents, InspectReport, ToolHandler, Isolation } from './sandbox/sandbox.js';
export type { CallResult } from './sandbox/call.js';
export type { ExportedFunction, WitFunction, WitType, WitField, WitCase, WitName, WitParam, WitPrimitive } from './wit-exports/types.js';
export { argumentsSchema, returnSchema } from './wit-exports/schema.js';
export type { PolicyInput } from './sandbox/policy-input.js';
export type { NativeAgent, NativeLoadOptions, NativeRunOptions, NativeRunResult } from './container/native-agent.js';
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
/** What the gate would decide for one request under a policy, and why (`agentos policy explain`'s engine). */
export { explainRequest } from './gate/explain.js';
export type { ExplainRequest, ExplainSubject, Explanation } from './gate/explain.js';
export type { LogEvent } from './capabilities/context.js';
export { loadPolicyFile, parsePolicyText, emptyPolicy } from './policy/loader.js';
export type { SandboxPolicy } from './policy/schema.js';
export { buildAgent } from './build/index.js';
export * from './audit/index.js';
export type { AuditSettings, AuditDurability } from './sandbox/audit-bridge.js';
export type { Alert, AlertType, MonitorOptions, BurstRule, Severity } from './monitor/types.js';
export type { MonitorStats } from './monitor/monitor.js';
export type { ChannelOptions, ChannelStats, WebhookChannel } from './monitor/channels.js';
export type { Incident, IncidentState, TimelineEntry } from './monitor/incidents.js';
export type { QuarantineEntry, SandboxMonitor } from './sandbox/monitoring.js';
export { compileAuthz } from './authz/engine.js';
export type { AuthzEngine, AuthzOptions } from './authz/engine.js';
export type {
  AuthzModel,
  AuthzRequest,
  AuthzDecision,
  RoleDefinition,
  Permission,
  Condition,
  AccessPolicy,
  CapabilityPolicy,
  SecurityPolicy,
  DataAccessPolicy,
  DecisionAction,
} from './authz/types.js';
export { presetRole, presetSecurityPolicy, presetSandboxPolicy, PRESET_ROLE_NAMES, PRESET_SECURITY_POLICY_IDS, PRESET_SANDBOX_POLICY_NAMES } from './authz/presets.js';
export { lintPolicy } from './authz/lint.js';
export type { LintFinding } from './authz/lint.js';
export type { TrustSettings, TokenSettings } from './sandbox/sandbox.js';
export { KeyStore, PASSPHRASE_ENV } from './identity/keystore.js';
export type { KeyStoreOptions } from './identity/keystore.js';
export type { AgentIdentity, KeyInfo, KeyStatus, KeyTrust, KeyProvider } from './identity/types.js';
export { generateKeyPair, fingerprint } from './identity/keys.js';
export type { RawKeyPair } from './identity/keys.js';
export { signComponent, verifyComponent, readClaims, unsignedBytes } from './identity/signature.js';
export type { ComponentClaims } from './identity/signature.js';
export { TokenService } from './identity/tokens.js';
export type { TokenKind, TokenClaims, TokenValidation, TokenRefusalCode, TokenSubject, TokenServiceOptions } from './identity/tokens.js';
export { RevocationStore } from './identity/revocations.js';
export { LocalBus } from './messaging/transport.js';
export type { MessageTransport } from './messaging/transport.js';
export type { NatsSettings } from './messaging/nats.js';
export type { MessagingSettings } from './sandbox/comms.js';
export type { KvSettings } from './sandbox/kv-host.js';
export { establishSecureChannel } from './messaging/secure-channel.js';
export type { EstablishOptions } from './messaging/secure-channel.js';
export { initiateHandshake, acceptHandshake, SecureChannel } from './messaging/handshake.js';
export type { HandshakeMessage, SecureMessage } from './messaging/handshake.js';
export { MessageRejected } from './messaging/envelope.js';
export { KvStore, KvQuotaError, keyStoreWrapper, fileKeyWrapper } from './kv/index.js';
export type { KeyWrapper, KvLimits, KvEntryMeta } from './kv/index.js';
export { createCa, issueAgentCertificate, revokeCertificate, refreshCrl, validateAgentCertificate, saveCa, loadCa } from './identity/ca.js';
export type { CaState, CertificateValidation, CertificateFailure } from './identity/ca.js';
export { Authenticator } from './identity/mutual-auth.js';
export type { Challenge, ChallengeResponse, AuthResult, AuthFailure, AgentRecord, AuthenticatorOptions } from './identity/mutual-auth.js';
export { runDoctor } from './doctor/index.js';
export type { DoctorReport, DoctorCheck, DoctorCheckId, DoctorStatus, DoctorOptions } from './doctor/index.js';
export { startDashboard } from './monitor/dashboard/server.js';
export type { Dashboard, DashboardOptions } from './monitor/dashboard/server.js';
