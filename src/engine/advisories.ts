/**
 * Known sandbox-escape advisories of the engines we run guests on, and the check that refuses
 * an affected version. The wasmtime engine refuses to start on an affected addon
 * (`loadWasmtimeAddon`), `createSandbox` on an affected Node, and `agentos doctor` reports both
 * versions against this table (its `engine advisories` line).
 *
 * Only advisories that can break the sandbox are here: a guest reaching memory outside its own
 * (out-of-bounds access, use-after-free, a miscompilation with memory-safety impact), data
 * leaking between instances, type confusion inside the VM. Denial-of-service advisories (host
 * panics, resource exhaustion), wrong-result miscompilations, the C API, embedder API misuse we
 * do not do, and wasmtime-wasi (we supply WASI ourselves, through the gate) are left out.
 *
 * Updating: for wasmtime, read `crates/wasmtime/RUSTSEC-*.md` in the RustSec advisory database
 * (github.com/rustsec/advisory-db); copy `id`, `aliases`, the title, `date`, and the `patched` /
 * `unaffected` lists as they are written there (`">= 42.0.2, < 43.0.0"`), and say in `why`
 * what makes it a sandbox escape for us. For Node, the project's security release notes. Bump
 * {@link ADVISORIES_REVIEWED} to the date of the review.
 *
 * @example
 * ```ts
 * checkEngineVersion('wasmtime', '48.0.8'); // returns: no known advisory
 * engineAdvisories('wasmtime', '42.0.1').map((a) => a.id); // ['RUSTSEC-2026-0086', …]
 * ```
 */
import { UsageError } from '../errors.js';

/** The engines the table covers. */
export type AdvisoryEngine = 'wasmtime' | 'node';

/** One advisory. A version is affected unless it matches `patched` or `unaffected`. */
export interface Advisory {
  /** RUSTSEC id for wasmtime; the CVE for Node. */
  readonly id: string;
  /** GHSA and CVE ids (and a duplicate RUSTSEC id, if the database has one). */
  readonly aliases: readonly string[];
  readonly engine: AdvisoryEngine;
  readonly title: string;
  /** Date of the advisory (YYYY-MM-DD). */
  readonly date: string;
  /** Version requirements that are fixed, as the advisory writes them (`">= 1.0.2, < 2.0.0"`). */
  readonly patched: readonly string[];
  /** Version requirements that never had the bug. */
  readonly unaffected: readonly string[];
  /** Why it can break our sandbox. */
  readonly why: string;
}

/** When the table was last compared with the advisory databases. */
export const ADVISORIES_REVIEWED = '2026-08-21';

const W = (a: Omit<Advisory, 'engine' | 'unaffected'> & { unaffected?: readonly string[] }): Advisory => ({ engine: 'wasmtime', unaffected: [], ...a });

/** The table (source: RustSec advisory database, `crates/wasmtime`). No Node advisory qualifies yet. */
export const ADVISORIES: readonly Advisory[] = Object.freeze([
  W({
    id: 'RUSTSEC-2021-0110',
    aliases: ['CVE-2021-39216', 'CVE-2021-39218', 'CVE-2021-39219', 'GHSA-v4cp-h94r-m7xf', 'GHSA-4873-36h9-wv49', 'GHSA-q879-9g95-56mx'],
    title: 'Multiple vulnerabilities in Wasmtime (use-after-free and out-of-bounds read/write with externref and garbage collection)',
    date: '2021-09-17',
    patched: ['>= 0.30.0'],
    why: 'memory corruption and exposure reachable from guest code',
  }),
  W({
    id: 'RUSTSEC-2022-0016',
    aliases: ['RUSTSEC-2022-0099', 'CVE-2022-24791', 'GHSA-gwc9-348x-qwv2'],
    title: 'Use after free with externrefs and epoch interruption in Wasmtime',
    date: '2022-03-31',
    patched: ['>= 0.35.2', '>= 0.34.2, < 0.35.0'],
    unaffected: ['< 0.34.0'],
    why: 'use-after-free in the host; we run guests with epoch interruption',
  }),
  W({
    id: 'RUSTSEC-2022-0096',
    aliases: ['CVE-2022-23636', 'GHSA-88xq-w8cq-xfg7'],
    title: 'Invalid drop of VMExternRef from partially-initialized instances in the pooling instance allocator',
    date: '2022-02-17',
    patched: ['>= 0.33.1, < 0.34.0', '>= 0.34.1'],
    why: 'memory corruption in the pooling allocator, which the addon can enable (the sandbox does not today: native/README.md)',
  }),
  W({
    id: 'RUSTSEC-2022-0100',
    aliases: ['CVE-2022-31146', 'GHSA-5fhj-g3p3-pq9g'],
    title: 'Use after free with externrefs in Wasmtime',
    date: '2022-07-12',
    patched: ['>= 0.38.2'],
    why: 'use-after-free reachable from guest code',
  }),
  W({
    id: 'RUSTSEC-2022-0075',
    aliases: ['RUSTSEC-2022-0098', 'CVE-2022-39393', 'GHSA-wh6w-3828-g9qf'],
    title: 'Data leakage between instances in the pooling allocator',
    date: '2022-11-10',
    patched: ['>= 1.0.2, < 2.0.0', '>= 2.0.2'],
    why: 'one agent could read memory another left in a pool slot, were the pooling allocator enabled (the addon supports it; the sandbox does not use it today)',
  }),
  W({
    id: 'RUSTSEC-2022-0076',
    aliases: ['RUSTSEC-2022-0102', 'CVE-2022-39392', 'GHSA-44mr-8vmm-wjhg'],
    title: 'Out of bounds read/write with zero-memory-pages configuration of the pooling instance allocator',
    date: '2022-11-10',
    patched: ['>= 1.0.2, < 2.0.0', '>= 2.0.2'],
    why: 'guest out-of-bounds read/write in the pooling allocator, which the addon can enable (the sandbox does not today)',
  }),
  W({
    id: 'RUSTSEC-2023-0090',
    aliases: ['CVE-2023-26489', 'GHSA-ff4p-7xrq-q5r8'],
    title: 'Guest-controlled out-of-bounds read/write on x86_64',
    date: '2023-03-02',
    patched: ['>= 4.0.1, < 5.0.0', '>= 5.0.1, < 6.0.0', '>= 6.0.1'],
    why: 'a guest reads and writes host memory (Cranelift miscompilation of address computations)',
  }),
  W({
    id: 'RUSTSEC-2023-0092',
    aliases: ['CVE-2023-30624', 'GHSA-ch89-5g45-qwc7'],
    title: 'Undefined behavior in Rust runtime functions',
    date: '2023-04-21',
    patched: ['>= 6.0.2, < 7.0.0', '>= 7.0.1, < 8.0.0', '>= 8.0.1'],
    why: 'memory-corruption class: undefined behavior in the runtime functions guest code calls into',
  }),
  W({
    id: 'RUSTSEC-2024-0439',
    aliases: ['CVE-2024-47813', 'GHSA-7qmx-3fpx-r45m'],
    title: 'Race condition could lead to WebAssembly control-flow integrity and type safety violations',
    date: '2024-10-03',
    patched: ['>= 21.0.2, < 22.0.0', '>= 22.0.1, < 23.0.0', '>= 23.0.3, < 24.0.0', '>= 24.0.1, < 25.0.0', '>= 25.0.2'],
    unaffected: ['< 19.0.0'],
    why: 'type confusion in the VM; we compile and instantiate on several threads at once',
  }),
  W({
    id: 'RUSTSEC-2026-0006',
    aliases: ['CVE-2026-24116', 'GHSA-vc8c-j3xm-xj73'],
    title: 'Wasmtime segfault or unused out-of-sandbox load with f64.copysign operator on x86-64',
    date: '2026-01-26',
    patched: ['>= 41.0.1', '>= 40.0.3, < 41.0.0', '>= 36.0.5, < 37.0.0', '< 29.0.0'],
    why: 'guest-controlled load outside its memory (a host crash; the loaded value is unused)',
  }),
  W({
    id: 'RUSTSEC-2026-0086',
    aliases: ['CVE-2026-34945', 'GHSA-m9w2-8782-2946'],
    title: 'Host data leakage with 64-bit tables and Winch',
    date: '2026-04-09',
    patched: ['>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'a guest reads host memory; our tiered engines run Winch code',
  }),
  W({
    id: 'RUSTSEC-2026-0087',
    aliases: ['CVE-2026-34944', 'GHSA-qqfj-4vcm-26hv'],
    title: 'Wasmtime segfault or unused out-of-sandbox load with f64x2.splat operator on Cranelift x86-64',
    date: '2026-04-09',
    patched: ['>= 24.0.7, < 25.0.0', '>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'guest-controlled load outside its memory (a host crash; the loaded value is unused)',
  }),
  W({
    id: 'RUSTSEC-2026-0088',
    aliases: ['CVE-2026-34988', 'GHSA-6wgr-89rj-399p'],
    title: 'Data leakage between pooling allocator instances',
    date: '2026-04-09',
    patched: ['>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'one agent could read memory another left in a pool slot, were the pooling allocator enabled (the addon supports it; the sandbox does not use it today)',
  }),
  W({
    id: 'RUSTSEC-2026-0091',
    aliases: ['CVE-2026-35195', 'GHSA-394w-hwhg-8vgm'],
    title: 'Out-of-bounds write or crash when transcoding component model strings',
    date: '2026-04-09',
    patched: ['>= 24.0.7, < 25.0.0', '>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'out-of-bounds write driven by a guest component; we run components',
  }),
  W({
    id: 'RUSTSEC-2026-0093',
    aliases: ['CVE-2026-34941', 'GHSA-hx6p-xpx3-jvvv'],
    title: 'Heap OOB read in component model UTF-16 to latin1+utf16 string transcoding',
    date: '2026-04-09',
    patched: ['>= 24.0.7, < 25.0.0', '>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'out-of-bounds read of host memory driven by a guest component; we run components',
  }),
  W({
    id: 'RUSTSEC-2026-0094',
    aliases: ['CVE-2026-35186', 'GHSA-f984-pcp8-v2p7'],
    title: 'Improperly masked return value from table.grow with Winch compiler backend',
    date: '2026-04-09',
    patched: ['>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'miscompilation with memory-safety impact in Winch, which our tiered engines run',
  }),
  W({
    id: 'RUSTSEC-2026-0095',
    aliases: ['CVE-2026-34987', 'GHSA-xx5w-cvp6-jv83'],
    title: 'Wasmtime with Winch compiler backend may allow a sandbox-escaping memory access',
    date: '2026-04-09',
    patched: ['>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'sandbox escape in Winch, which our tiered engines run',
  }),
  W({
    id: 'RUSTSEC-2026-0096',
    aliases: ['CVE-2026-34971', 'GHSA-jhxm-h53p-jm7w'],
    title: 'Miscompiled guest heap access enables sandbox escape on aarch64 Cranelift',
    date: '2026-04-09',
    patched: ['>= 36.0.7, < 37.0.0', '>= 42.0.2, < 43.0.0', '>= 43.0.1'],
    why: 'sandbox escape on aarch64 hosts (refused on every platform: the addon version is what we check)',
  }),
  W({
    id: 'RUSTSEC-2026-0222',
    aliases: ['GHSA-hgjw-h833-99q9'],
    title: 'Stores can mix up type indices between engines',
    date: '2026-07-31',
    patched: ['>= 24.0.12, < 25.0.0', '>= 36.0.13, < 37.0.0', '>= 46.0.2, < 47.0.0', '>= 47.0.3'],
    why: 'type confusion in the VM; a process of ours holds several wasmtime engines',
  }),
  W({
    id: 'RUSTSEC-2026-0223',
    aliases: ['GHSA-2hw9-mc66-jc2q'],
    title: 'Preemption and traps during bulk operations enable breaking internal VM state',
    date: '2026-07-31',
    patched: ['>= 46.0.2, < 47.0.0', '>= 47.0.3'],
    unaffected: ['< 46.0.0'],
    why: 'guest-triggered corruption of VM state; we preempt guests (fuel, epochs) and trap them',
  }),
]);

/** Node release lines and the day each stops receiving security fixes (the project's release schedule). */
export const NODE_END_OF_LIFE: Readonly<Record<number, string>> = Object.freeze({
  18: '2025-04-30',
  19: '2023-06-01',
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
});

/** A parsed version: three numbers and the pre-release identifiers (build metadata dropped). */
interface Version {
  readonly nums: readonly [number, number, number];
  readonly pre: readonly string[];
}

const VERSION_RE = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parse `1.2.3`, `v20.20.2`, `1.2.3-rc.1+build`; undefined for anything else. */
export function parseVersion(v: string): Version | undefined {
  const m = typeof v === 'string' ? VERSION_RE.exec(v.trim()) : null;
  if (!m) return undefined;
  const nums = [Number(m[1]), Number(m[2]), Number(m[3])] as const;
  if (!nums.every(Number.isSafeInteger)) return undefined;
  return { nums, pre: m[4] !== undefined ? m[4].split('.') : [] };
}

function compareIdent(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an !== bn) return an ? -1 : 1; // numeric identifiers sort before alphanumeric ones
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence: negative, 0 or positive. A pre-release sorts before its release. */
export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a.nums[i] !== b.nums[i]) return Math.sign(a.nums[i]! - b.nums[i]!);
  if (a.pre.length === 0 && b.pre.length === 0) return 0;
  if (a.pre.length === 0) return 1;
  if (b.pre.length === 0) return -1;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const c = compareIdent(a.pre[i]!, b.pre[i]!);
    if (c !== 0) return c;
  }
  return Math.sign(a.pre.length - b.pre.length);
}

const COMPARATOR_RE = /^(>=|<=|>|<|=)?\s*(\S+)$/;

/** Whether `v` satisfies a requirement of comma-separated comparators (`">= 1.0.2, < 2.0.0"`). */
export function satisfies(v: Version, requirement: string): boolean {
  return requirement.split(',').every((part) => {
    const m = COMPARATOR_RE.exec(part.trim());
    const bound = m ? parseVersion(m[2]!) : undefined;
    if (!m || !bound) throw new Error(`advisory table: bad version requirement ${JSON.stringify(requirement)}`);
    const c = compareVersions(v, bound);
    switch (m[1]) {
      case '>=': return c >= 0;
      case '>': return c > 0;
      case '<=': return c <= 0;
      case '<': return c < 0;
      default: return c === 0;
    }
  });
}

function parseOrRefuse(engine: AdvisoryEngine, version: string): Version {
  const v = parseVersion(version);
  if (!v) throw new UsageError(`${engine} version ${JSON.stringify(version)} is not a version (MAJOR.MINOR.PATCH): cannot check it against the known advisories`, { engine, version });
  return v;
}

/** Whether `version` is affected by `advisory` (neither patched nor unaffected). Throws UsageError for a string that is not a version. */
export function isAffected(advisory: Advisory, version: string): boolean {
  const v = parseOrRefuse(advisory.engine, version);
  return ![...advisory.patched, ...advisory.unaffected].some((r) => satisfies(v, r));
}

/** The lowest patched release at or above `version` (the first `>=` bound of each patched range), for the message. */
export function fixedIn(advisory: Advisory, version: string): string {
  const v = parseOrRefuse(advisory.engine, version);
  const bounds = advisory.patched
    .map((r) => /^>=\s*(\S+?)(?:,|$)/.exec(r.trim())?.[1])
    .filter((b): b is string => b !== undefined)
    .map((b) => ({ b, p: parseVersion(b)! }))
    .sort((x, y) => compareVersions(x.p, y.p));
  const sameMajor = bounds.find((x) => x.p.nums[0] === v.nums[0] && compareVersions(x.p, v) > 0);
  return (sameMajor ?? bounds.find((x) => compareVersions(x.p, v) > 0) ?? bounds.at(-1))?.b ?? advisory.patched.join(' or ');
}

/** The advisories of the table that affect `engine` at `version`. Throws UsageError for a string that is not a version. */
export function engineAdvisories(engine: AdvisoryEngine, version: string, table: readonly Advisory[] = ADVISORIES): Advisory[] {
  parseOrRefuse(engine, version);
  return table.filter((a) => a.engine === engine && isAffected(a, version));
}

/** What to do about `hits` at `version`: upgrade to the highest of their nearest fixed releases. */
export function upgradeAdvice(engine: AdvisoryEngine, hits: readonly Advisory[], version: string): string {
  const fixed = hits.map((a) => fixedIn(a, version)).filter((f) => parseVersion(f) !== undefined);
  const to = fixed.sort((x, y) => compareVersions(parseVersion(x)!, parseVersion(y)!)).at(-1) ?? 'a fixed release';
  return engine === 'node'
    ? `upgrade Node to ${to} or later`
    : `rebuild the addon with wasmtime ${to} or later (native/Cargo.toml, then npm run build:native) or install a prebuilt addon that has it`;
}

/**
 * Refuse an engine version with a known sandbox-escape advisory: throws a `UsageError` naming
 * the advisory ids and the releases that fix them (also for a string that is not a version).
 */
export function checkEngineVersion(engine: AdvisoryEngine, version: string, table: readonly Advisory[] = ADVISORIES): void {
  const hits = engineAdvisories(engine, version, table);
  if (hits.length === 0) return;
  const name = engine === 'node' ? 'Node' : 'wasmtime';
  throw new UsageError(
    `${name} ${version} has known sandbox-escape advisories: ${hits.map((a) => `${a.id} (fixed in ${fixedIn(a, version)})`).join(', ')}; refusing to run guests on it: ${upgradeAdvice(engine, hits, version)}`,
    { engine, version, advisories: hits.map((a) => a.id) },
  );
}

/** The day Node `version`'s release line stopped (or stops) getting security fixes, if the table knows it. */
export function nodeEndOfLife(version: string): string | undefined {
  const v = parseVersion(version);
  return v ? NODE_END_OF_LIFE[v.nums[0]] : undefined;
}
