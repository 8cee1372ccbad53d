/**
 * Presets from the seed documents, loadable by name:
 * - roles `code-reviewer` and `task-orchestrator` (the seed's `AGENT_ROLES`, constraints
 *   normalized to milliseconds and bytes);
 * - security policies `policy-001` (agent network isolation) and `policy-002` (MFA required
 *   for restricted data), from the seed's `SECURITY_POLICIES`;
 * - the sandbox policy `codeReviewerPolicy` (the seed's `AgentSandboxPolicy` example), as raw
 *   policy data that the policy loader validates like a file.
 *
 * A policy file refers to them by name: `roles: [code-reviewer]`, `roleDefinitions:
 * [code-reviewer]`, `securityPolicies: [policy-001]`, or a whole file `preset: codeReviewerPolicy`.
 *
 * @example
 * ```ts
 * const engine = compileAuthz({ roles: [presetRole('code-reviewer')], securityPolicies: [presetSecurityPolicy('policy-001')] });
 * ```
 */
import { PolicyError } from '../errors.js';
import { roleDefinitionSchema, securityPolicySchema } from './schema-policies.js';
import type { RoleDefinition, SecurityPolicy } from './types.js';

/** The seed's AGENT_ROLES, as written there. */
const RAW_ROLES = {
  'code-reviewer': {
    name: 'code-reviewer',
    description: 'Agent specialized in code review and analysis',
    permissions: [
      { resource: 'file', action: 'read', effect: 'allow', conditions: [{ field: 'extension', operator: 'in', value: ['.ts', '.js', '.jsx', '.tsx'] }] },
      { resource: 'network', action: 'connect', effect: 'allow', conditions: [{ field: 'host', operator: 'in', value: ['api.github.com', 'packages.example.org'] }] },
      { resource: 'system', action: 'execute', effect: 'deny' },
    ],
    constraints: [
      { type: 'time_limit', value: 3600000 }, // 1 hour
      { type: 'memory_limit', value: 1024 * 1024 * 1024 }, // 1GB
    ],
  },
  'task-orchestrator': {
    name: 'task-orchestrator',
    description: 'Agent that manages task assignment and coordination',
    permissions: [
      { resource: 'agent', action: 'read', effect: 'allow' },
      { resource: 'task', action: 'assign', effect: 'allow' },
      { resource: 'system', action: 'monitor', effect: 'allow' },
    ],
    constraints: [{ type: 'max_concurrent_tasks', value: 10 }],
  },
} as const;

const SEED_METADATA = { createdBy: 'security-admin', createdAt: '2025-01-15T10:00:00Z' };

/** The seed's SECURITY_POLICIES, as written there. */
const RAW_SECURITY = {
  'policy-001': {
    id: 'policy-001',
    name: 'Agent Network Isolation',
    description: 'Agents must only communicate through approved channels',
    version: '1.0',
    scope: { agentTypes: ['code-reviewer', 'task-orchestrator'] },
    rules: [
      {
        id: 'rule-001-1',
        name: 'Block External Network Access',
        description: 'Prevent agents from accessing external networks directly',
        condition: {
          when: { eventType: 'network_connection_attempt' },
          where: { destination: { notIn: ['api.github.com', 'packages.example.org'] } },
        },
        action: { type: 'deny', parameters: { reason: 'External network access not permitted' } },
        severity: 'high',
        category: 'network_security',
        tags: ['network', 'isolation'],
      },
    ],
    enforcement: { mode: 'enforcing', exceptions: [] },
    metadata: SEED_METADATA,
  },
  'policy-002': {
    id: 'policy-002',
    name: 'Data Access Classification',
    description: 'Enforce data classification-based access controls',
    version: '1.0',
    scope: { dataClassifications: ['confidential', 'restricted'] },
    rules: [
      {
        id: 'rule-002-1',
        name: 'Require MFA for Restricted Data',
        description: 'Multi-factor authentication required for restricted data access',
        condition: {
          when: { eventType: 'data_access_attempt' },
          where: { dataClassification: 'restricted', mfaVerified: false },
        },
        action: { type: 'deny', parameters: { reason: 'MFA required for restricted data access' } },
        severity: 'critical',
        category: 'data_security',
        tags: ['data', 'authentication', 'mfa'],
      },
    ],
    enforcement: { mode: 'blocking', exceptions: [] },
    metadata: SEED_METADATA,
  },
} as const;

/** The seed's `codeReviewerPolicy` (AgentSandboxPolicy), plus `version: 1`. It has no mounts. */
const RAW_SANDBOX = {
  codeReviewerPolicy: {
    version: 1,
    allowedSyscalls: ['read', 'write', 'open', 'close', 'stat', 'fstat', 'mmap', 'munmap', 'brk', 'rt_sigaction'],
    fileAccess: {
      readonly: ['/workspace/**/*.ts', '/workspace/**/*.js', '/workspace/**/*.json', '/usr/lib/**', '/etc/ssl/**'],
      readwrite: ['/tmp/**', '/workspace/.agent-workspace/**'],
      forbidden: ['/etc/**', '/root/**', '/home/**', '/var/**', '/sys/**', '/proc/**'],
    },
    networkRules: { allowedHosts: ['api.github.com', 'packages.example.org'], allowedPorts: [443, 80], protocols: ['https', 'http'] },
    resourceLimits: {
      maxMemory: 1024 * 1024 * 1024, // 1GB
      maxCpuTime: 30 * 60 * 1000, // 30 minutes
      maxFileSize: 100 * 1024 * 1024, // 100MB
      maxProcesses: 10,
    },
    capabilities: {
      allowed: ['read_files', 'write_files', 'network_access'],
      forbidden: ['system_admin', 'file_system_admin', 'network_admin'],
    },
  },
} as const;

/** Names of the preset roles. */
export const PRESET_ROLE_NAMES: readonly string[] = Object.freeze(Object.keys(RAW_ROLES));
/** Ids of the preset security policies. */
export const PRESET_SECURITY_POLICY_IDS: readonly string[] = Object.freeze(Object.keys(RAW_SECURITY));
/** Names of the preset sandbox policies. */
export const PRESET_SANDBOX_POLICY_NAMES: readonly string[] = Object.freeze(Object.keys(RAW_SANDBOX));

/** Deep-freeze plain data into null-prototype objects (what the loader hands out). */
export function freezeData<T>(v: T): T {
  if (Array.isArray(v)) return Object.freeze(v.map(freezeData)) as T;
  if (v !== null && typeof v === 'object') {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = freezeData(x);
    return Object.freeze(out) as T;
  }
  return v;
}

const roleCache = new Map<string, RoleDefinition>();
const securityCache = new Map<string, SecurityPolicy>();

function unknownPreset(kind: string, name: unknown, known: readonly string[]): PolicyError {
  return new PolicyError(`unknown preset ${kind} ${JSON.stringify(name)}; known: ${known.join(', ')}`, { path: '(preset)', name: String(name) });
}

/** Whether `name` is a preset role. */
export function isPresetRole(name: string): boolean {
  return Object.hasOwn(RAW_ROLES, name);
}

/** Whether `id` is a preset security policy. */
export function isPresetSecurityPolicy(id: string): boolean {
  return Object.hasOwn(RAW_SECURITY, id);
}

/**
 * A preset role, normalized (frozen, null-prototype). Constraints come out as
 * `{ timeLimit: 3600000, memoryLimit: 1073741824 }` for `code-reviewer`.
 *
 * @throws PolicyError for an unknown name (the message lists the known ones)
 * @example
 * ```ts
 * presetRole('task-orchestrator').constraints; // { maxConcurrentTasks: 10 }
 * ```
 */
export function presetRole(name: string): RoleDefinition {
  if (!isPresetRole(name)) throw unknownPreset('role', name, PRESET_ROLE_NAMES);
  let r = roleCache.get(name);
  if (!r) {
    r = freezeData(roleDefinitionSchema.parse(RAW_ROLES[name as keyof typeof RAW_ROLES]));
    roleCache.set(name, r);
  }
  return r;
}

/**
 * A preset security policy, normalized.
 *
 * @throws PolicyError for an unknown id
 * @example
 * ```ts
 * presetSecurityPolicy('policy-002').enforcement.mode; // 'blocking'
 * ```
 */
export function presetSecurityPolicy(id: string): SecurityPolicy {
  if (!isPresetSecurityPolicy(id)) throw unknownPreset('security policy', id, PRESET_SECURITY_POLICY_IDS);
  let p = securityCache.get(id);
  if (!p) {
    p = freezeData(securityPolicySchema.parse(RAW_SECURITY[id as keyof typeof RAW_SECURITY]));
    securityCache.set(id, p);
  }
  return p;
}

/**
 * A preset sandbox policy as raw policy data (a fresh mutable copy, what a policy file would
 * hold): pass it to `parsePolicyObject`, or write it out as YAML/JSON and load it.
 *
 * @throws PolicyError for an unknown name
 * @example
 * ```ts
 * parsePolicyObject(presetSandboxPolicy('codeReviewerPolicy')).policy.networkRules.allowedPorts; // [443, 80]
 * ```
 */
export function presetSandboxPolicy(name: string): Record<string, unknown> {
  if (!Object.hasOwn(RAW_SANDBOX, name)) throw unknownPreset('sandbox policy', name, PRESET_SANDBOX_POLICY_NAMES);
  return JSON.parse(JSON.stringify(RAW_SANDBOX[name as keyof typeof RAW_SANDBOX])) as Record<string, unknown>;
}
