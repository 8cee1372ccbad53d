/**
 * Schemas of the seed documents' policy types: RBAC roles and permissions, ABAC access
 * policies, agent capability policies, security policies and data access policies. Each
 * accepts the seed's spelling and outputs the normalized type of `types.ts` (sizes in bytes,
 * durations and instants in milliseconds, days as numbers).
 */
import * as z from 'zod';
import { describeValue } from '../policy/issues.js';
import { compileGlob } from '../policy/glob.js';
import { canonicalizePolicyHost, normalizeProtocol, validatePort } from '../policy/network.js';
import { countSchema, durationSchema, pattern, positive, roleSchema, sizeSchema, strictPolicy, viaHelper } from '../policy/schema-base.js';
import {
  boolExprSchema,
  checkPattern,
  conditionSchema,
  fail,
  fieldSchema,
  safeRecord,
  instantSchema,
  jsonValueSchema,
  nameSchema,
  primitiveListSchema,
  primitiveSchema,
  sub,
  textSchema,
  timeWindowSchema,
  type ConditionScope,
} from './schema-common.js';
import type {
  AccessPolicy,
  CapabilityPolicy,
  Classification,
  Condition,
  DataAccessPolicy,
  Permission,
  PolicyException,
  RoleConstraints,
  RoleDefinition,
  SecurityPolicy,
  SecurityRule,
  WhereValue,
} from './types.js';

/** Drop `undefined` entries (the normalized types use absent, not undefined, fields). */
function defined<T extends object>(o: T): T {
  const out = {} as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Report the entries of a list that repeat an earlier one (by `key`) at `[j, ...at]`. */
function noDuplicates<T>(key: (x: T) => unknown, what: string, at: PropertyKey[] = []) {
  return (list: readonly T[], ctx: z.RefinementCtx): void => {
    const seen = new Map<unknown, number>();
    list.forEach((x, j) => {
      const k = key(x);
      const i = seen.get(k);
      if (i !== undefined) ctx.addIssue({ code: 'custom', path: [j, ...at], message: `duplicate ${what} ${JSON.stringify(k)} (also at [${i}]); keep one` });
      else seen.set(k, j);
    });
  };
}

const effectSchema = z.enum(['allow', 'deny']);

/** A whole number (may be negative), no strings. */
const integerSchema = z.number().refine(Number.isSafeInteger, { error: (iss) => `expected a whole number, got ${describeValue(iss.input)}; write an integer without quotes` });

// ---- RBAC ----

/** `{ resource: file, action: read, effect: allow, conditions: [...], when: {...} }`; `*` matches any resource or action. */
export const permissionSchema: z.ZodType<Permission> = strictPolicy({
  resource: nameSchema,
  action: nameSchema,
  effect: effectSchema,
  conditions: z.array(conditionSchema('any')).max(100, { error: 'at most 100 conditions per permission; split the permission' }).optional(),
  when: timeWindowSchema.optional(),
}).transform((p) => defined({ resource: p.resource, action: p.action, effect: p.effect, conditions: p.conditions, when: p.when }) as Permission) as unknown as z.ZodType<Permission>;

const CONSTRAINT_TYPES = { time_limit: 'timeLimit', memory_limit: 'memoryLimit', max_concurrent_tasks: 'maxConcurrentTasks' } as const;

const constraintObjectSchema = strictPolicy({
  timeLimit: positive(durationSchema).optional(),
  memoryLimit: positive(sizeSchema).optional(),
  maxConcurrentTasks: positive(countSchema).optional(),
});

const constraintValueSchemas = {
  timeLimit: positive(durationSchema),
  memoryLimit: positive(sizeSchema),
  maxConcurrentTasks: positive(countSchema),
} as const;

const constraintListSchema = z
  .array(strictPolicy({ type: z.enum(Object.keys(CONSTRAINT_TYPES) as [keyof typeof CONSTRAINT_TYPES]), value: z.unknown().optional() }))
  .transform((list, ctx) => {
    const out: { timeLimit?: number; memoryLimit?: number; maxConcurrentTasks?: number } = {};
    list.forEach((c, i) => {
      const key = CONSTRAINT_TYPES[c.type];
      if (out[key] !== undefined) fail(ctx, [i, 'type'], `the ${c.type} constraint is given twice; keep one`);
      else if (c.value === undefined) fail(ctx, [i, 'value'], 'required field is missing; add the limit');
      else out[key] = sub(constraintValueSchemas[key], c.value, ctx, [i, 'value']);
    });
    return out;
  });

/**
 * Role constraints, as the seed's list `[{ type: time_limit, value: 3600000 }, …]` or as a
 * mapping `{ timeLimit: 1h, memoryLimit: 1GiB, maxConcurrentTasks: 10 }`.
 */
export const roleConstraintsSchema: z.ZodType<RoleConstraints> = z.unknown().transform((v, ctx): RoleConstraints => {
  const r = Array.isArray(v) ? sub(constraintListSchema, v, ctx) : sub(constraintObjectSchema, v, ctx);
  return r && defined({ timeLimit: r.timeLimit, memoryLimit: r.memoryLimit, maxConcurrentTasks: r.maxConcurrentTasks });
}) as unknown as z.ZodType<RoleConstraints>;

/** An RBAC role: `{ name, description?, parentRoles?, permissions?, constraints?, status?, when? }`. */
export const roleDefinitionSchema: z.ZodType<RoleDefinition> = strictPolicy({
  name: roleSchema,
  description: textSchema.optional(),
  parentRoles: z.array(roleSchema).max(64, { error: 'at most 64 parent roles; group them in an intermediate role' }).superRefine(noDuplicates((r: string) => r, 'parent role')).optional(),
  permissions: z.array(permissionSchema).max(1000, { error: 'at most 1,000 permissions per role; split the role' }).optional(),
  constraints: roleConstraintsSchema.optional(),
  status: z.enum(['active', 'inactive', 'deprecated']).optional(),
  when: timeWindowSchema.optional(),
}).transform(
  (r) =>
    defined({ name: r.name, description: r.description, parentRoles: r.parentRoles, permissions: r.permissions ?? [], constraints: r.constraints, status: r.status, when: r.when }) as RoleDefinition,
) as unknown as z.ZodType<RoleDefinition>;

// ---- ABAC ----

function targetList(scope: ConditionScope): z.ZodType<Condition[]> {
  const one = conditionSchema(scope);
  const many = z.array(one).max(100, { error: 'at most 100 tests per target part; move some into condition' });
  return z.unknown().transform((v, ctx) => (Array.isArray(v) ? sub(many, v, ctx) : [sub(one, v, ctx)])) as unknown as z.ZodType<Condition[]>;
}

/**
 * An ABAC access policy. `target.subject` / `.resource` / `.action` are one test or a list
 * (all must hold; bare attribute names are read in that part: `type` under `subject` is
 * `subject.type`); `condition` is a boolean expression; higher `priority` first (default 0).
 */
export const accessPolicySchema: z.ZodType<AccessPolicy> = strictPolicy({
  id: nameSchema,
  name: textSchema.optional(),
  description: textSchema.optional(),
  target: strictPolicy({ subject: targetList('subject').optional(), resource: targetList('resource').optional(), action: targetList('action').optional() }).optional(),
  condition: boolExprSchema.optional(),
  effect: effectSchema,
  priority: integerSchema.optional(),
  when: timeWindowSchema.optional(),
}).transform(
  (p) =>
    defined({
      id: p.id,
      name: p.name,
      description: p.description,
      target: defined({ subject: p.target?.subject, resource: p.target?.resource, action: p.target?.action }),
      condition: p.condition,
      effect: p.effect,
      priority: p.priority ?? 0,
      when: p.when,
    }) as AccessPolicy,
) as unknown as z.ZodType<AccessPolicy>;

// ---- capability policies ----

/** A tool name or `*`. */
const toolNameSchema = pattern(/^(?:\*|[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127})$/, 'a tool name (letters, digits and "_.:/-") or "*"', 'fix the name');

function rejected(message: string) {
  return z.custom<never>(() => false, { error: message }).optional();
}

const thresholdsSchema = safeRecord(z.number().refine((n) => Number.isFinite(n) && n >= 0, { error: 'expected a number ≥ 0; write a threshold without quotes' }));

const seedMonitoringSchema = strictPolicy({
  logLevel: z.enum(['info', 'warn', 'error', 'critical']).optional(),
  alertThresholds: thresholdsSchema.optional(),
  auditLevel: z.enum(['basic', 'detailed', 'comprehensive']).optional(),
});

const toolsAndLimits = {
  allowedTools: z.array(toolNameSchema).max(1000).optional(),
  usageLimits: safeRecord(countSchema).optional(),
};

/**
 * The seed's AgentCapabilityPolicy. Tools may be listed at the top (`allowedTools`,
 * `usageLimits`) or, as in the seed, under `toolAccess`; `monitoring` is a mapping of
 * thresholds or the seed's `{ logLevel, alertThresholds, auditLevel }`. `effectiveFrom` /
 * `effectiveTo` are instants. The seed's `allowedSyscalls` and `allowedFileOperations` are
 * refused here (they would not be enforced from this section): use the sandbox policy's
 * `allowedSyscalls`, `fileAccess` and `mounts`.
 */
export const capabilityPolicySchema: z.ZodType<CapabilityPolicy> = strictPolicy({
  policyId: nameSchema,
  agentInstanceId: nameSchema.optional(),
  agentType: nameSchema.optional(),
  version: z.string().min(1).max(64).optional(),
  ...toolsAndLimits,
  toolAccess: strictPolicy({
    ...toolsAndLimits,
    toolConfigurations: rejected('tool configuration is not part of a capability policy; configure tools where they are registered on the host'),
  }).optional(),
  networkRules: strictPolicy({
    allowedHosts: z.array(z.string().transform(viaHelper((h: string) => canonicalizePolicyHost(h)))).optional(),
    allowedPorts: z.array(z.number().transform(viaHelper((p: number) => validatePort(p)))).optional(),
    allowedProtocols: z.array(z.string().transform(viaHelper((p: string) => normalizeProtocol(p)))).optional(),
    maxConnections: positive(countSchema).optional(),
    dataTransferLimit: sizeSchema.optional(),
  }).optional(),
  resourceConstraints: strictPolicy({
    maxMemory: positive(sizeSchema).optional(),
    maxCpuTime: positive(durationSchema).optional(),
    maxFileSize: sizeSchema.optional(),
    maxProcesses: countSchema.optional(),
    maxExecutionTime: positive(durationSchema).optional(),
  }).optional(),
  monitoring: z.unknown().optional(),
  logLevel: z.enum(['info', 'warn', 'error', 'critical']).optional(),
  auditLevel: z.enum(['basic', 'detailed', 'comprehensive']).optional(),
  effectiveFrom: instantSchema.optional(),
  effectiveTo: instantSchema.optional(),
  status: z.enum(['active', 'inactive', 'deprecated', 'suspended', 'revoked', 'expired']).optional(),
  createdAt: instantSchema.optional(),
  updatedAt: instantSchema.optional(),
  allowedSyscalls: rejected('system calls are not enforced from a capability policy; list them in the sandbox policy\'s top-level "allowedSyscalls"'),
  allowedFileOperations: rejected('file patterns are not enforced from a capability policy; use the sandbox policy\'s "fileAccess" and "mounts"'),
}).transform((p, ctx): CapabilityPolicy => {
  const ta = p.toolAccess;
  if (ta?.allowedTools !== undefined && p.allowedTools !== undefined) fail(ctx, ['toolAccess', 'allowedTools'], 'allowedTools is given both here and at the top of the policy; keep one');
  if (ta?.usageLimits !== undefined && p.usageLimits !== undefined) fail(ctx, ['toolAccess', 'usageLimits'], 'usageLimits is given both here and at the top of the policy; keep one');
  if (p.effectiveFrom !== undefined && p.effectiveTo !== undefined && p.effectiveTo <= p.effectiveFrom) fail(ctx, ['effectiveTo'], '"effectiveTo" must be later than "effectiveFrom"; fix the dates');
  let monitoring: Record<string, number> | undefined;
  let { logLevel, auditLevel } = p;
  if (p.monitoring !== undefined) {
    const m = p.monitoring;
    const seedForm = m !== null && typeof m === 'object' && !Array.isArray(m) && ['logLevel', 'alertThresholds', 'auditLevel'].some((k) => Object.hasOwn(m, k));
    if (seedForm) {
      const s = sub(seedMonitoringSchema, m, ctx, ['monitoring']);
      if (s) {
        monitoring = s.alertThresholds;
        if (s.logLevel !== undefined) logLevel = s.logLevel;
        if (s.auditLevel !== undefined) auditLevel = s.auditLevel;
      }
    } else monitoring = sub(thresholdsSchema, m, ctx, ['monitoring']);
  }
  const nr = p.networkRules;
  const rc = p.resourceConstraints;
  return defined({
    policyId: p.policyId,
    agentInstanceId: p.agentInstanceId,
    agentType: p.agentType,
    version: p.version,
    allowedTools: p.allowedTools ?? ta?.allowedTools,
    usageLimits: p.usageLimits ?? ta?.usageLimits,
    networkRules: nr
      ? defined({ allowedHosts: nr.allowedHosts, allowedPorts: nr.allowedPorts, allowedProtocols: nr.allowedProtocols, maxConnections: nr.maxConnections, dataTransferLimit: nr.dataTransferLimit })
      : undefined,
    resourceConstraints: rc
      ? defined({ maxMemory: rc.maxMemory, maxCpuTime: rc.maxCpuTime, maxFileSize: rc.maxFileSize, maxProcesses: rc.maxProcesses, maxExecutionTime: rc.maxExecutionTime })
      : undefined,
    monitoring,
    logLevel,
    auditLevel,
    effectiveFrom: p.effectiveFrom,
    effectiveTo: p.effectiveTo,
    status: p.status ?? 'active',
  }) as CapabilityPolicy;
}) as unknown as z.ZodType<CapabilityPolicy>;

// ---- security policies ----

const WHERE_OPS = ['in', 'notIn', 'eq', 'ne', 'contains', 'matches'] as const;

/** A `where` test: a literal (equality) or exactly one operator `{ in | notIn | eq | ne | contains | matches }`. */
export const whereValueSchema: z.ZodType<WhereValue> = z.unknown().transform((v, ctx): WhereValue => {
  if (v === null || typeof v !== 'object') return sub(primitiveSchema, v, ctx);
  if (Array.isArray(v)) return fail(ctx, [], 'a list needs an operator; write { in: [...] } or { notIn: [...] }', v);
  const keys = Object.keys(v);
  const o = v as Record<string, unknown>;
  const bad = keys.find((k) => !(WHERE_OPS as readonly string[]).includes(k));
  if (bad !== undefined) return fail(ctx, [bad], `unknown operator ${JSON.stringify(bad)}; use one of ${WHERE_OPS.join(', ')}`);
  if (keys.length !== 1) return fail(ctx, [], `expected exactly one operator (${WHERE_OPS.join(', ')}), got ${keys.length === 0 ? 'none' : keys.join(', ')}; use one test per field`);
  const op = keys[0] as (typeof WHERE_OPS)[number];
  if (op === 'in' || op === 'notIn') return { [op]: sub(primitiveListSchema, o[op], ctx, [op]) } as WhereValue;
  if (op === 'matches') {
    checkPattern(o[op], ctx, [op]);
    return { matches: o[op] as string };
  }
  return { [op]: sub(primitiveSchema, o[op], ctx, [op]) } as WhereValue;
}) as unknown as z.ZodType<WhereValue>;

const eventTypeSchema = pattern(/^[A-Za-z0-9_.:*-]{1,128}$/, 'an event type such as "network_connection_attempt" or "*"', 'use letters, digits and "_"');

const severitySchema = z.enum(['low', 'medium', 'high', 'critical']);

/** A security rule: `{ id, name, condition: { when: { eventType }, where }, action: { type, parameters }, severity, category, tags }`. */
export const securityRuleSchema: z.ZodType<SecurityRule> = strictPolicy({
  id: nameSchema,
  name: textSchema.optional(),
  description: textSchema.optional(),
  condition: strictPolicy({
    when: strictPolicy({
      eventType: z.union([eventTypeSchema, z.array(eventTypeSchema).min(1).max(64)], { error: (iss) => `expected an event type or a list of them, got ${describeValue(iss.input)}; e.g. network_connection_attempt` }),
    }),
    where: safeRecord(whereValueSchema, fieldSchema).optional(),
  }),
  action: strictPolicy({ type: z.enum(['allow', 'deny', 'log', 'alert', 'quarantine']), parameters: safeRecord(jsonValueSchema).optional() }),
  severity: severitySchema.optional(),
  category: textSchema.optional(),
  tags: z.array(z.string().min(1).max(64)).max(64).optional(),
}).transform((r) =>
  defined({
    id: r.id,
    name: r.name ?? r.id,
    description: r.description,
    condition: defined({ when: r.condition.when, where: r.condition.where }),
    action: defined({ type: r.action.type, parameters: r.action.parameters }),
    severity: r.severity ?? 'medium',
    category: r.category,
    tags: r.tags,
  }) as SecurityRule,
) as unknown as z.ZodType<SecurityRule>;

const exceptionSchema: z.ZodType<PolicyException> = strictPolicy({
  ruleId: nameSchema.optional(),
  agentId: nameSchema.optional(),
  agentType: nameSchema.optional(),
  until: instantSchema.optional(),
  reason: textSchema.optional(),
}).transform((e) => defined({ ruleId: e.ruleId, agentId: e.agentId, agentType: e.agentType, until: e.until, reason: e.reason }) as PolicyException) as unknown as z.ZodType<PolicyException>;

const CLASSIFICATIONS = ['public', 'internal', 'confidential', 'restricted'] as const satisfies readonly Classification[];

/**
 * The seed's SecurityPolicy. `enforcement` defaults to `{ mode: enforcing, exceptions: [] }`;
 * an exception's `ruleId` must name a rule of the policy; rule ids are unique in a policy.
 */
export const securityPolicySchema: z.ZodType<SecurityPolicy> = strictPolicy({
  id: nameSchema,
  name: textSchema.optional(),
  description: textSchema.optional(),
  version: z.string().min(1).max(64).optional(),
  scope: strictPolicy({
    agentTypes: z.array(nameSchema).optional(),
    environments: z.array(nameSchema).optional(),
    dataClassifications: z.array(z.enum(CLASSIFICATIONS)).optional(),
  }).optional(),
  rules: z.array(securityRuleSchema).max(1000).superRefine(noDuplicates((r: SecurityRule) => r.id, 'rule id', ['id'])),
  enforcement: strictPolicy({ mode: z.enum(['advisory', 'enforcing', 'blocking']), exceptions: z.array(exceptionSchema).max(1000).optional() }).optional(),
  metadata: safeRecord(z.string().max(1000)).optional(),
}).transform((p, ctx): SecurityPolicy => {
  const ids = new Set(p.rules.map((r) => r.id));
  (p.enforcement?.exceptions ?? []).forEach((e, i) => {
    if (e.ruleId !== undefined && !ids.has(e.ruleId)) fail(ctx, ['enforcement', 'exceptions', i, 'ruleId'], `no rule ${JSON.stringify(e.ruleId)} in this policy (rules: ${[...ids].join(', ') || 'none'}); fix the id`);
  });
  return defined({
    id: p.id,
    name: p.name ?? p.id,
    description: p.description,
    version: p.version,
    scope: defined({ agentTypes: p.scope?.agentTypes, environments: p.scope?.environments, dataClassifications: p.scope?.dataClassifications }),
    rules: p.rules,
    enforcement: { mode: p.enforcement?.mode ?? 'enforcing', exceptions: p.enforcement?.exceptions ?? [] },
    metadata: p.metadata,
  }) as SecurityPolicy;
}) as unknown as z.ZodType<SecurityPolicy>;

// ---- data access policies ----

/** A data id: exact, with `*` wildcards, or (starting with `/`) a guest-path glob. */
const dataIdSchema = z.string().superRefine((id, ctx) => {
  if (id.length === 0 || id.length > 256 || /[\u0000-\u001f\u007f]/.test(id)) {
    ctx.addIssue({ code: 'custom', message: 'expected a data id of 1–256 characters without control characters; shorten it' });
    return;
  }
  if (id.startsWith('/')) {
    try {
      compileGlob(id);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
    }
  }
});

const flag = z.boolean().optional();

/**
 * The seed's DataAccessPolicy bound to `dataId`. Role lists default to `[]` (nobody);
 * `retention.retentionPeriod` is a duration; audit flags default to false.
 */
export const dataPolicySchema: z.ZodType<DataAccessPolicy> = strictPolicy({
  dataId: dataIdSchema,
  classification: z.enum(CLASSIFICATIONS),
  accessRules: strictPolicy({ readRoles: z.array(roleSchema).optional(), writeRoles: z.array(roleSchema).optional(), deleteRoles: z.array(roleSchema).optional() }).optional(),
  retention: strictPolicy({ retentionPeriod: durationSchema, autoDelete: flag }).optional(),
  audit: strictPolicy({ logReads: flag, logWrites: flag, logDeletes: flag }).optional(),
}).transform((p) => {
  const ar = p.accessRules ?? {};
  return defined({
    dataId: p.dataId,
    classification: p.classification,
    accessRules: { readRoles: ar.readRoles ?? [], writeRoles: ar.writeRoles ?? [], deleteRoles: ar.deleteRoles ?? [] },
    retention: p.retention ? { retentionPeriod: p.retention.retentionPeriod, autoDelete: p.retention.autoDelete ?? false } : undefined,
    audit: p.audit ? { logReads: p.audit.logReads ?? false, logWrites: p.audit.logWrites ?? false, logDeletes: p.audit.logDeletes ?? false } : undefined,
  }) as DataAccessPolicy;
}) as unknown as z.ZodType<DataAccessPolicy>;
