/**
 * zod schemas for the authorization model of the seed documents, and the sections they add to
 * the sandbox policy file:
 *
 * ```yaml
 * version: 1
 * agent: { type: code-reviewer, mfaVerified: false, environment: prod }
 * roles: [code-reviewer, auditor]          # the agent's roles: defined below, or presets
 * roleDefinitions:
 *   - code-reviewer                        # a preset, by name
 *   - name: auditor
 *     parentRoles: [code-reviewer]
 *     permissions:
 *       - { resource: file, action: read, effect: allow, conditions: [{ field: path, operator: matches, value: '^/workspace/' }] }
 *     constraints: { timeLimit: 1h, memoryLimit: 1GiB, maxConcurrentTasks: 10 }
 *     when: { hours: { start: 8, end: 18 }, days: [mon, tue, wed, thu, fri] }
 * accessPolicies:
 *   - id: no-secrets
 *     target: { resource: { field: path, operator: contains, value: secret } }
 *     effect: deny
 *     priority: 100
 * capabilityPolicies: [{ policyId: cap-1, allowedTools: [search], networkRules: { dataTransferLimit: 10MiB } }]
 * securityPolicies: [policy-001, policy-002]
 * dataPolicies: [{ dataId: 'customers/*', classification: restricted, accessRules: { readRoles: [auditor] } }]
 * ```
 *
 * Every schema is strict (unknown fields are errors with a suggestion), coerces nothing, and
 * reports the field path through the policy module's issue formatter. Outputs are the
 * normalized types of `types.ts`. Cross-references (parent roles exist, no cycles, unique
 * ids, role names) are checked by `buildAuthzModel` in `schema-model.ts`, which the policy
 * normalizer calls.
 *
 * @example
 * ```ts
 * const r = roleDefinitionSchema.safeParse({ name: 'r', permissions: [], constraints: [{ type: 'time_limit', value: '1h' }] });
 * r.success && r.data.constraints; // { timeLimit: 3600000 }
 * ```
 */
import * as z from 'zod';
import { roleSchema, strictPolicy } from '../policy/schema-base.js';
import { sub } from './schema-common.js';
import { accessPolicySchema, capabilityPolicySchema, dataPolicySchema, roleDefinitionSchema, securityPolicySchema } from './schema-policies.js';
import type { RoleEntry, SecurityEntry } from './schema-model.js';

export { boolExprSchema, conditionSchema, EXPR_LIMITS, fieldSchema, instantSchema, timeWindowSchema, type ConditionScope } from './schema-common.js';
export {
  accessPolicySchema,
  capabilityPolicySchema,
  dataPolicySchema,
  permissionSchema,
  roleConstraintsSchema,
  roleDefinitionSchema,
  securityPolicySchema,
  securityRuleSchema,
  whereValueSchema,
} from './schema-policies.js';
export { buildAuthzModel, isEmptyModel, ROLE_SOURCES, type AuthzSections, type BuildOptions, type BuiltModel, type RoleEntry, type SecurityEntry } from './schema-model.js';

/** A role definition, or the name of a preset role (`code-reviewer`). */
export const roleEntrySchema: z.ZodType<RoleEntry> = z
  .unknown()
  .transform((v, ctx): RoleEntry => (typeof v === 'string' ? sub(roleSchema, v, ctx) : sub(roleDefinitionSchema, v, ctx))) as unknown as z.ZodType<RoleEntry>;

/** A security policy, or the id of a preset (`policy-001`). */
export const securityEntrySchema: z.ZodType<SecurityEntry> = z
  .unknown()
  .transform((v, ctx): SecurityEntry => (typeof v === 'string' ? v : sub(securityPolicySchema, v, ctx))) as unknown as z.ZodType<SecurityEntry>;

/** The normalized model as input (what a loaded policy's `authz` holds), for round trips. */
export const authzInputSchema = strictPolicy({
  roles: z.array(roleDefinitionSchema).max(1000).optional(),
  accessPolicies: z.array(accessPolicySchema).max(100_000).optional(),
  capabilityPolicies: z.array(capabilityPolicySchema).max(1000).optional(),
  securityPolicies: z.array(securityPolicySchema).max(1000).optional(),
  dataPolicies: z.array(dataPolicySchema).max(10_000).optional(),
});

/**
 * The top-level sections the authorization model adds to the policy file, for
 * `strictPolicy({ ...policyShape, ...authzSectionsShape })`.
 */
export const authzSectionsShape = {
  roleDefinitions: z.array(roleEntrySchema).max(1000, { error: 'at most 1,000 roles; split the policy' }).optional(),
  accessPolicies: z.array(accessPolicySchema).max(100_000, { error: 'at most 100,000 access policies; split the policy' }).optional(),
  capabilityPolicies: z.array(capabilityPolicySchema).max(1000, { error: 'at most 1,000 capability policies; split the policy' }).optional(),
  securityPolicies: z.array(securityEntrySchema).max(1000, { error: 'at most 1,000 security policies; split the policy' }).optional(),
  dataPolicies: z.array(dataPolicySchema).max(10_000, { error: 'at most 10,000 data policies; use wildcards in dataId' }).optional(),
  authz: authzInputSchema.optional(),
};
