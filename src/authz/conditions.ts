/**
 * Conditions compiled to closures once, at load: field paths resolved to accessors, `in`
 * lists turned into sets, `matches` patterns checked for linear-time safety. Evaluating a
 * compiled condition allocates nothing.
 */
import { compileSafeRegex } from './regex.js';
import type { AuthzRequest, BoolExpr, Condition } from './types.js';

/** A compiled test. */
export type Test = (req: AuthzRequest) => boolean;

/** A compiled condition with its readable form (for decision reasons). */
export interface CompiledCondition {
  readonly test: Test;
  readonly text: string;
}

type Getter = (req: AuthzRequest) => unknown;

/** Longest string a `matches` test examines (longer values do not match). */
export const MAX_MATCH_INPUT = 64 * 1024;

function own(o: unknown, key: string): unknown {
  return o !== null && typeof o === 'object' && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

/**
 * Resolve a field path. `subject.x`, `resource.x`, `context.x`, `action`; a bare name means a
 * resource attribute (the seeds write `extension`, `host`). Only own properties are read, so a
 * request can never reach a prototype.
 */
export function getter(field: string): Getter {
  if (field === 'action') return (r) => r.action;
  const dot = field.indexOf('.');
  const head = dot < 0 ? '' : field.slice(0, dot);
  const rest = dot < 0 ? field : field.slice(dot + 1);
  const parts = rest.split('.');
  const root: Getter = head === 'subject' ? (r) => r.subject : head === 'context' ? (r) => r.context : head === 'resource' ? (r) => r.resource : (r) => r.resource;
  // A bare dotted name (`a.b`) that is not one of the roots is a nested resource attribute.
  const path = head === 'subject' || head === 'context' || head === 'resource' ? parts : field.split('.');
  if (path.length === 1) {
    const k = path[0]!;
    return (r) => own(root(r), k);
  }
  return (r) => {
    let v: unknown = root(r);
    for (const k of path) v = own(v, k);
    return v;
  };
}

function primitive(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

function equals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // A missing boolean flag counts as false (`mfaVerified: false` matches an agent with no MFA claim).
  if (b === false && (a === undefined || a === null)) return true;
  return false;
}

/** Compile one condition. `path` names it in load errors. */
export function compileCondition(c: Condition, path: string): CompiledCondition {
  const get = getter(c.field);
  const text = `${c.field} ${c.operator} ${JSON.stringify(c.value)}`;
  switch (c.operator) {
    case 'eq': {
      const v = c.value;
      return { text, test: (r) => equals(get(r), v) };
    }
    case 'ne': {
      const v = c.value;
      return { text, test: (r) => !equals(get(r), v) };
    }
    case 'in': {
      const list = Array.isArray(c.value) ? (c.value as unknown[]) : [c.value];
      if (list.every(primitive)) {
        const set = new Set(list);
        return { text, test: (r) => set.has(get(r)) };
      }
      return { text, test: (r) => list.some((v) => equals(get(r), v)) };
    }
    case 'contains': {
      const v = c.value;
      return {
        text,
        test: (r) => {
          const x = get(r);
          if (typeof x === 'string') return typeof v === 'string' && x.includes(v);
          if (Array.isArray(x)) return x.includes(v);
          return false;
        },
      };
    }
    case 'matches': {
      const re = compileSafeRegex(String(c.value), path);
      return {
        text,
        test: (r) => {
          const x = get(r);
          return typeof x === 'string' && x.length <= MAX_MATCH_INPUT && re.test(x);
        },
      };
    }
    default:
      throw new Error(`${path}: unknown operator ${String((c as Condition).operator)}`);
  }
}

/** Compile a list of conditions that must all hold. */
export function compileAll(list: readonly Condition[] | undefined, path: string): CompiledCondition {
  if (!list || list.length === 0) return { text: 'true', test: () => true };
  // Cheap tests first: a pattern match runs only when every equality test already holds.
  const order = list.map((c, i) => ({ c, i })).sort((a, b) => Number(a.c.operator === 'matches') - Number(b.c.operator === 'matches'));
  const parts = order.map(({ c, i }) => compileCondition(c, `${path}[${i}]`));
  if (parts.length === 1) return parts[0]!;
  const tests = parts.map((p) => p.test);
  return { text: parts.map((p) => p.text).join(' and '), test: (r) => tests.every((t) => t(r)) };
}

/** Compile a boolean expression. */
export function compileExpr(e: BoolExpr | undefined, path: string): CompiledCondition {
  if (e === undefined) return { text: 'true', test: () => true };
  if ('all' in e) {
    const parts = e.all.map((x, i) => compileExpr(x, `${path}.all[${i}]`));
    const tests = parts.map((p) => p.test);
    return { text: `(${parts.map((p) => p.text).join(' and ')})`, test: (r) => tests.every((t) => t(r)) };
  }
  if ('any' in e) {
    const parts = e.any.map((x, i) => compileExpr(x, `${path}.any[${i}]`));
    const tests = parts.map((p) => p.test);
    return { text: `(${parts.map((p) => p.text).join(' or ')})`, test: (r) => tests.some((t) => t(r)) };
  }
  if ('not' in e) {
    const inner = compileExpr(e.not, `${path}.not`);
    return { text: `not ${inner.text}`, test: (r) => !inner.test(r) };
  }
  return compileCondition(e, path);
}
