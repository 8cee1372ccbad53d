/**
 * Calling a component's exported functions other than `run` (`agent.call`): finding the
 * function, validating the arguments against its WIT types before anything reaches the guest,
 * and turning its result back into canonical JSON.
 */
import { AgentError, UsageError } from '../errors.js';
import { argumentsSchema } from '../wit-exports/schema.js';
import { fromGuest } from '../wit-exports/values.js';
import type { ExportedFunction } from '../wit-exports/types.js';
import type { RunResult } from './sandbox.js';

/** What `agent.call` resolves with: the function's result (canonical JSON) and what the call cost. */
export interface CallResult extends Omit<RunResult, 'output'> {
  /** The result; for a function returning `result<T, E>`, the `ok` value (`null` when it has none). */
  readonly value: unknown;
}

/** Most argument problems named in one error. */
const MAX_ISSUES = 5;

/**
 * The function `id` names, checked callable, with `args` valid for it.
 * @throws UsageError naming what to change: an unknown function, `run`, an unsupported type, a bad argument.
 */
export function resolveCall(functions: readonly ExportedFunction[], unavailable: string | undefined, id: string, args: unknown): ExportedFunction {
  if (typeof id !== 'string') throw new UsageError('call(fn, args): fn must be a string (an id from agent.exports())');
  if (id === 'run') throw new UsageError('call("run"): use agent.run(task) to run a task');
  const fn = functions.find((f) => f.id === id);
  if (!fn) {
    if (unavailable) throw new UsageError(unavailable);
    const ids = functions.filter((f) => f.id !== 'run').map((f) => f.id);
    throw new UsageError(`the component exports no function ${JSON.stringify(id)}; it exports ${ids.length > 0 ? ids.join(', ') : 'only run'}`);
  }
  if (fn.unsupported) throw new UsageError(`${id} cannot be called with JSON arguments: ${fn.unsupported}`);
  const parsed = argumentsSchema(fn).safeParse(args);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, MAX_ISSUES).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(arguments)'}: ${i.message}`);
    throw new UsageError(`invalid arguments for ${id}: ${issues.join('; ')}`, { function: id });
  }
  return fn;
}

/**
 * The guest's whole result (jco's form) → what `call` resolves with. A returned `err` becomes
 * `AGENT_ERROR` with the error value in `details.err`, as `run`'s `err` does.
 */
export function callValue(fn: ExportedFunction, raw: unknown): unknown {
  if (fn.result === null) return null;
  const value = fromGuest(raw, fn.result);
  if (fn.result.kind !== 'result') return value;
  const r = value as { ok?: unknown; err?: unknown };
  if ('err' in r) {
    const text = typeof r.err === 'string' ? r.err : JSON.stringify(r.err);
    throw new AgentError(`${fn.id} returned an error: ${text.slice(0, 64 * 1024)}`, { function: fn.id, err: r.err as never });
  }
  return r.ok;
}
