/**
 * A policy's files for a native agent, as bubblewrap mounts: nothing of the host exists but
 * the policy's `mounts`, each bound with its mode; what `fileAccess.forbidden` names inside a
 * mount is masked (a file by an empty read-only file, a directory by an empty read-only
 * tmpfs); `readonly` subtrees of a read-write mount are bound again read-only.
 *
 * Mount-level rules are exact only for what exists when the agent starts. Where the policy
 * asks for more than mounts can give — a forbidden pattern that a file the agent creates in a
 * read-write mount could match, globs that grant part of a mount (`/workspace/**\/*.ts`) —
 * the policy is refused at load with a message naming the rule: a native agent never runs
 * weaker than its policy.
 *
 * The agent runs as uid 65534 on the host too, so it can use a mount only where "others" may:
 * each mount's directory must be searchable and readable by others (and writable for `rw`);
 * otherwise the load fails saying which.
 *
 * The plan itself is neutral ({@link FileMount}: binds with their mode, masked files, masked
 * directories), so the bubblewrap argv ({@link planMounts}) and the OCI `config.json`
 * (`src/container/oci/`) come from the same decisions.
 *
 * @example
 * ```ts
 * const plan = planMounts(policy, placeholderFile);
 * spawn('bwrap', [...plan.args, '--', 'cat', '/data/notes.txt']);
 * planFileMounts(policy).mounts; // [{ kind: 'bind', host: '/srv/data', guest: '/data', readonly: true }, { kind: 'mask-file', guest: '/data/.env' }]
 * ```
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DeniedError, PolicyError } from '../errors.js';
import { compileGlob } from '../policy/glob.js';
import type { PolicyMount, SandboxPolicy } from '../policy/schema.js';

/** The uid and gid a native agent has, inside and on the host. */
export const SANDBOX_UID = 65534;

/** Most entries a mount may hold for its forbidden paths to be found at load. */
export const MAX_WALK_ENTRIES = 20_000;

/**
 * One step of a policy's files, in order (later steps cover earlier ones): a bind of a host
 * directory with its mode, a file masked by an empty read-only file, a directory masked by an
 * empty read-only tmpfs.
 */
export type FileMount =
  | { readonly kind: 'bind'; readonly host: string; readonly guest: string; readonly readonly: boolean }
  | { readonly kind: 'mask-file'; readonly guest: string }
  | { readonly kind: 'mask-dir'; readonly guest: string };

/** The policy's files as neutral steps, and what they do. */
export interface FilePlan {
  /** The steps, in order. */
  readonly mounts: readonly FileMount[];
  /** One line per mount and mask, for the audit record of the spawn. */
  readonly summary: readonly string[];
}

/** The bwrap arguments that make the policy's files, and what they do. */
export interface MountPlan extends FilePlan {
  /** `--bind`/`--ro-bind`/`--tmpfs`/`--remount-ro` arguments, in order. */
  readonly args: readonly string[];
}

function globOf(pattern: string) {
  return compileGlob(pattern);
}

/** Whether `path` is `root` or below it (both canonical guest paths). */
function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** The literal directory a glob starts with (`/workspace/a/**\/*.ts` → `/workspace/a`). */
function literalPrefix(pattern: string): string {
  const parts = pattern.split('/');
  const literal: string[] = [];
  for (const part of parts) {
    if (/[*?[{]/.test(part)) break;
    literal.push(part);
  }
  return literal.join('/') || '/';
}

/** Whether a glob grants a whole subtree: `<dir>/**` or `<dir>` + `<dir>/**`. */
function wholeSubtree(pattern: string): string | undefined {
  const m = /^(\/(?:[^*?[{]*[^/*?[{])?)\/\*\*$/.exec(pattern);
  return m ? (m[1] === '' ? '/' : m[1]) : undefined;
}

/** Others (uid 65534 is nobody's owner) may search every directory from `/` down to `dir`. */
function othersCanReach(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(d);
    if (st.uid !== SANDBOX_UID && (st.mode & 0o001) === 0) return d;
    if (dirname(d) === d) return undefined;
  }
}

function checkAccess(m: PolicyMount, i: number, writable: boolean): void {
  const blocked = othersCanReach(m.host);
  const st = statSync(m.host);
  const mine = st.uid === SANDBOX_UID;
  const canRead = mine ? (st.mode & 0o500) === 0o500 : (st.mode & 0o005) === 0o005;
  const canWrite = mine ? (st.mode & 0o200) !== 0 : (st.mode & 0o002) !== 0;
  const problem =
    blocked !== undefined ? `${blocked} is not searchable by others`
    : !canRead ? `${m.host} is not readable by others`
    : writable && !canWrite ? `${m.host} is not writable by others`
    : undefined;
  if (problem) {
    throw new DeniedError(
      `mounts[${i}] (${m.guest}): a native agent runs as uid ${SANDBOX_UID} (nobody) on the host too, and ${problem}; ` +
        `grant it (chmod o+rx${writable ? 'w' : ''} on the directory, o+x on its parents) or mount a directory it may use`,
      { path: `mounts[${i}].host` },
    );
  }
}

/** Every file and directory below `host` (as guest paths under `guest`), bounded. */
function* walk(host: string, guest: string, budget: { left: number }, ruleForError: string): Generator<{ host: string; guest: string; dir: boolean }> {
  let names: string[];
  try {
    names = readdirSync(host);
  } catch {
    return;
  }
  for (const name of names) {
    if (--budget.left < 0) {
      throw new PolicyError(`${ruleForError}: the mount holds more than ${MAX_WALK_ENTRIES} entries, too many to find what the rule masks at load; mount a smaller directory`);
    }
    const h = join(host, name);
    const g = guest === '/' ? `/${name}` : `${guest}/${name}`;
    const st = lstatSync(h);
    if (st.isSymbolicLink()) continue; // resolved inside the sandbox: a link to a masked path meets the mask
    yield { host: h, guest: g, dir: st.isDirectory() };
    if (st.isDirectory()) yield* walk(h, g, budget, ruleForError);
  }
}

/**
 * Plan the mounts of `policy` for bubblewrap. `emptyFile` is an empty, read-only file on the
 * host that masks forbidden files.
 *
 * @throws {PolicyError} naming the rule, when a file rule cannot be enforced with mounts.
 * @throws {DeniedError} when the sandbox user may not use a mount's directory.
 */
export function planMounts(policy: SandboxPolicy, emptyFile: string): MountPlan {
  const plan = planFileMounts(policy);
  return { ...plan, args: bwrapMountArgs(plan.mounts, emptyFile) };
}

/** The bwrap arguments of neutral steps (`emptyFile` masks files). */
export function bwrapMountArgs(mounts: readonly FileMount[], emptyFile: string): string[] {
  return mounts.flatMap((m) =>
    m.kind === 'bind' ? [m.readonly ? '--ro-bind' : '--bind', m.host, m.guest]
    : m.kind === 'mask-file' ? ['--ro-bind', emptyFile, m.guest]
    : ['--tmpfs', m.guest, '--remount-ro', m.guest],
  );
}

/**
 * Plan the files of `policy` as neutral steps, for any backend.
 *
 * @throws {PolicyError} naming the rule, when a file rule cannot be enforced with mounts.
 * @throws {DeniedError} when the sandbox user may not use a mount's directory.
 * @example
 * ```ts
 * for (const m of planFileMounts(policy).mounts) if (m.kind === 'bind') console.log(m.guest, m.readonly ? 'ro' : 'rw');
 * ```
 */
export function planFileMounts(policy: SandboxPolicy): FilePlan {
  const allowed = policy.capabilities.allowed.filter((c) => !policy.capabilities.forbidden.includes(c));
  const canRead = allowed.includes('read_files') || allowed.includes('write_files');
  const canWrite = allowed.includes('write_files');
  if (!canRead) return { mounts: [], summary: policy.mounts.length > 0 ? ['no mounts: neither read_files nor write_files is allowed'] : [] };
  const { readonly: ro, readwrite: rw, forbidden } = policy.fileAccess;
  const out: FileMount[] = [];
  const summary: string[] = [];
  const mounts = policy.mounts.map((m, i) => ({ m, i, writable: m.mode === 'rw' && canWrite }));
  // Globs that grant part of a mount cannot be mounts; whole subtrees can.
  const narrowing = (list: readonly string[], name: string) =>
    list.forEach((p, j) => {
      const subtree = wholeSubtree(p);
      const mount = mounts.find(({ m }) => within(subtree ?? literalPrefix(p), m.guest));
      if (!mount) return; // outside every mount: grants nothing
      if (subtree === undefined) {
        throw new PolicyError(
          `fileAccess.${name}[${j}] ${JSON.stringify(p)} grants part of the mount ${mount.m.guest}; a native agent sees whole directories ` +
            `(mount-level enforcement), so write it as '<dir>/**' or give those files a mount of their own`,
          { path: `fileAccess.${name}[${j}]` },
        );
      }
    });
  narrowing(ro, 'readonly');
  narrowing(rw, 'readwrite');
  for (const { m, i, writable } of mounts) {
    // With readonly/readwrite globs, a mount is writable only where readwrite grants it.
    const rwGrant = rw.length === 0 ? writable : writable && rw.some((p) => { const s = wholeSubtree(p); return s !== undefined && within(m.guest, s); });
    const anyGrant = ro.length + rw.length === 0 || [...ro, ...rw].some((p) => { const s = wholeSubtree(p); return s !== undefined && (within(m.guest, s) || within(s, m.guest)); });
    if (!anyGrant) {
      summary.push(`${m.guest}: not mounted (no fileAccess rule grants it)`);
      continue;
    }
    const hidden = forbidden.findIndex((p) => globOf(p).matches(m.guest));
    if (hidden >= 0) {
      summary.push(`${m.guest}: not mounted (fileAccess.forbidden[${hidden}] ${JSON.stringify(forbidden[hidden])})`);
      continue;
    }
    checkAccess(m, i, rwGrant);
    out.push({ kind: 'bind', host: m.host, guest: m.guest, readonly: !rwGrant });
    summary.push(`${m.guest} ← ${m.host} (${rwGrant ? 'rw' : 'ro'})`);
    // Read-only subtrees of a read-write mount are bound again, read-only.
    if (rwGrant) {
      for (const p of ro) {
        const s = wholeSubtree(p);
        if (s === undefined || s === m.guest || !within(s, m.guest)) continue;
        const host = join(m.host, s.slice(m.guest.length));
        try {
          if (!statSync(host).isDirectory()) continue;
        } catch {
          throw new PolicyError(`fileAccess.readonly: ${s} does not exist in the read-write mount ${m.guest}, and a directory the agent creates there could not be kept read-only; create it first`);
        }
        out.push({ kind: 'bind', host, guest: s, readonly: true });
        summary.push(`${s}: read-only inside ${m.guest}`);
      }
    }
    forbidden.forEach((p, j) => {
      const rule = `fileAccess.forbidden[${j}] ${JSON.stringify(p)}`;
      const glob = globOf(p);
      if (!glob.mayContain(m.guest)) return;
      if (rwGrant) {
        throw new PolicyError(
          `${rule} could match files a native agent creates in the read-write mount ${m.guest}, which neither mounts nor Landlock ` +
            `(it grants by existing directories, not by names) can prevent; ` +
            `move the forbidden files to a read-only mount or drop the rule`,
          { path: `fileAccess.forbidden[${j}]` },
        );
      }
      const budget = { left: MAX_WALK_ENTRIES };
      const masked: string[] = [];
      for (const entry of walk(m.host, m.guest, budget, rule)) {
        if (!glob.matches(entry.guest)) continue;
        if (masked.some((d) => within(entry.guest, d))) continue;
        if (entry.dir) {
          out.push({ kind: 'mask-dir', guest: entry.guest });
          masked.push(entry.guest);
        } else {
          out.push({ kind: 'mask-file', guest: entry.guest });
        }
        summary.push(`${entry.guest}: masked (${rule})`);
      }
    });
  }
  return { mounts: out, summary };
}
