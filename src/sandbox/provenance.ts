/**
 * Who asked for a run: a host that runs agents on someone else's behalf (an MCP server, a job
 * queue) passes `run(task, { provenance })`, and every audit record of that run carries it in
 * `details.provenance`, so the trail says which client, session or request a file read or a
 * denial belongs to. The values come from the caller's callers (an MCP client names itself),
 * so they are checked and bounded here, once, for every host.
 *
 * @example `agent.run(task, { provenance: { via: 'mcp', session: id, client: 'inspector/0.9', tool: 'review' } })`
 */
import { UsageError } from '../errors.js';

/** A run's provenance: a few short string fields. */
export type RunProvenance = Readonly<Record<string, string>>;

/** At most this many fields… */
export const MAX_PROVENANCE_FIELDS = 16;
/** …each value at most this many characters (longer values are cut, not refused: they come from remote clients). */
export const MAX_PROVENANCE_VALUE = 256;

/**
 * The provenance to record (a null-prototype copy, values cut to {@link MAX_PROVENANCE_VALUE}),
 * or a usage error naming what is wrong; undefined when none was given.
 */
export function checkProvenance(p: unknown): RunProvenance | undefined {
  if (p === undefined) return undefined;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new UsageError('run(task, { provenance }): provenance must be an object of strings, e.g. { via: "mcp", client: "name/1.0" }');
  const entries = Object.entries(p);
  if (entries.length > MAX_PROVENANCE_FIELDS) throw new UsageError(`run(task, { provenance }): at most ${MAX_PROVENANCE_FIELDS} fields (got ${entries.length})`);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of entries) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(k)) throw new UsageError(`run(task, { provenance }): field name ${JSON.stringify(k.slice(0, 80))} must be a letter then letters, digits, _ . - (at most 64)`);
    if (typeof v !== 'string') throw new UsageError(`run(task, { provenance }): provenance.${k} must be a string`);
    out[k] = v.length > MAX_PROVENANCE_VALUE ? v.slice(0, MAX_PROVENANCE_VALUE) : v;
  }
  return out;
}
