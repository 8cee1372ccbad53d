/**
 * The authorization engine: compile a model of roles and policies once, decide requests in
 * microseconds. See engine.ts for the combining rules.
 */
export { compileAuthz } from './engine.js';
export type { AuthzEngine, AuthzOptions } from './engine.js';
export type * from './types.js';
