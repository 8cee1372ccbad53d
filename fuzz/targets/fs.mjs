/**
 * Fuzz target: path canonicalization and the filesystem gate (src/capabilities/filesystem),
 * on the real filesystem, through the same `wasi:filesystem` host objects a guest reaches.
 *
 * One writable mount `/w` with a forbidden `/w/secret/**`, beside an outside directory. Host
 * links are planted in the mount: out of it (relative and absolute), into the forbidden part,
 * a loop, and a harmless alias. Each input is a sequence of guest operations (open and read,
 * write, stat, readlink, symlink, mkdir, rename, unlink, rmdir, list, and `cd`, which opens a
 * directory and makes the next paths relative to it) on paths built from `..`, `.`, empty
 * segments, the planted links, links the sequence itself creates, NUL, a replacement
 * character (what invalid UTF-8 decodes to) and trailing slashes. The property:
 * - every call returns a WIT result (ok or a filesystem error), never throws;
 * - no read returns a byte of the outside or forbidden files, no stat reports their sizes
 *   (each has a size nothing else has), no listing of the outside or forbidden directory
 *   (known by its metadata hash) shows their names;
 * - the outside tree and the forbidden directory are byte-for-byte and entry-for-entry
 *   unchanged after the sequence;
 * - no host descriptor is left open once the sequence's descriptors are dropped.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { filesystemImports } from '../../dist/capabilities/filesystem/index.js';
import { DEFAULT_CAPS } from '../../dist/capabilities/context.js';
import { hashOf } from '../../dist/capabilities/filesystem/values.js';
import { Gate } from '../../dist/gate/gate.js';
import { parsePolicyObject } from '../../dist/policy/loader.js';

export const name = 'fs';

const OUTSIDE = 'OUTSIDE-BYTES'.padEnd(7777, '!');
const FORBIDDEN = 'FORBIDDEN-BYTES'.padEnd(6666, '#');
const SECRET_SIZES = new Set([7777n, 6666n]);
/** The protected directories by their metadata hash (what `metadata-hash` tells a guest). */
let protectedNames;

let root;
let mount;
let policy;
/** The last input changed the mount: the next one starts from a fresh copy. */
let dirty = true;

/** Idempotent: the runner and the regression replay may both call it. */
export function setup() {
  if (root !== undefined) return;
  dirty = true;
  // tmpfs where there is one: resetting the mount is most of an input's cost.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  root = realpathSync(mkdtempSync(join(base, 'agentos-fuzz-fs-')));
  mount = join(root, 'm');
  mkdirSync(join(root, 'out', 'dir'), { recursive: true });
  writeFileSync(join(root, 'out', 'zz-outside.txt'), OUTSIDE);
  policy = parsePolicyObject({
    version: 1,
    capabilities: { allowed: ['read_files', 'write_files'] },
    mounts: [{ guest: '/w', host: mount, mode: 'rw' }],
    fileAccess: { readwrite: ['/w/**'], forbidden: ['/w/secret/**'] },
  }).policy;
}

export function teardown() {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
  dirty = true;
}

/** The mount as every input starts it. */
function resetMount() {
  rmSync(mount, { recursive: true, force: true });
  mkdirSync(join(mount, 'pub', 'sub'), { recursive: true });
  mkdirSync(join(mount, 'secret'));
  writeFileSync(join(mount, 'pub', 'a.txt'), 'public');
  writeFileSync(join(mount, 'secret', 'zz-key.txt'), FORBIDDEN);
  symlinkSync('../out', join(mount, 'hl-out'));
  symlinkSync(join(root, 'out', 'zz-outside.txt'), join(mount, 'hl-abs'));
  symlinkSync('../secret/zz-key.txt', join(mount, 'pub', 'hl-sec'));
  symlinkSync('hl-loop', join(mount, 'hl-loop'));
  symlinkSync('pub/a.txt', join(mount, 'hl-ok'));
  const key = (p) => hashKey(hashOf(lstatSync(p, { bigint: true })));
  protectedNames = new Map([[key(join(root, 'out')), 'zz-outside.txt'], [key(join(mount, 'secret')), 'zz-key.txt']]);
}

/** A metadata hash (`{ lower, upper }` bigints) as a map key. */
const hashKey = (h) => `${h.lower}:${h.upper}`;

/** Entries, sizes and contents of a host tree (links not followed). */
function snapshot(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      const st = lstatSync(p);
      out.push(`${rel}${e.name}:${st.mode}:${st.size}:${st.mtimeMs}`);
      if (e.isDirectory()) walk(p, `${rel}${e.name}/`);
      else if (e.isFile()) out.push(readFileSync(p, 'latin1'));
    }
  };
  walk(dir, '');
  return out.join('\n');
}

const openFdCount = () => readdirSync('/proc/self/fd').length;

// ---- generation ---------------------------------------------------------------------------

const SEGMENTS = ['..', '..', '.', '', 'pub', 'sub', 'a.txt', 'secret', 'zz-key.txt', 'hl-out', 'hl-abs', 'hl-sec', 'hl-loop', 'hl-ok', 'x', 'y', 'l1', 'l2', 'zz-outside.txt', 'dir', 'a\u0000b', 'bad\uFFFD'];
const segment = fc.constantFrom(...SEGMENTS);
const path = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean()).map(([segs, trailing, absolute]) => (absolute ? '/' : '') + segs.join('/') + (trailing ? '/' : ''));
const follow = fc.boolean();
const op = fc.oneof(
  fc.record({ op: fc.constant('read'), path, follow }),
  fc.record({ op: fc.constant('write'), path, follow, create: fc.boolean(), truncate: fc.boolean() }),
  fc.record({ op: fc.constant('stat'), path, follow }),
  fc.record({ op: fc.constant('readlink'), path }),
  fc.record({ op: fc.constant('symlink'), target: path, path }),
  fc.record({ op: fc.constant('mkdir'), path }),
  fc.record({ op: fc.constant('rename'), path, to: path }),
  fc.record({ op: fc.constant('unlink'), path }),
  fc.record({ op: fc.constant('rmdir'), path }),
  fc.record({ op: fc.constant('ls'), path, follow }),
  fc.record({ op: fc.constant('cd'), path, follow }),
  fc.record({ op: fc.constant('root') }),
);
export const arbitrary = fc.array(op, { minLength: 1, maxLength: 12 });

// ---- the property -------------------------------------------------------------------------

/** A WIT result: `{ tag: 'ok' | 'err', val }`. Anything else (or a throw) fails the property. */
function result(what, fn) {
  let r;
  try {
    r = fn();
  } catch (e) {
    throw new Error(`${what} threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  if (!r || (r.tag !== 'ok' && r.tag !== 'err')) throw new Error(`${what} returned ${JSON.stringify(r)}`);
  return r;
}

function checkBytes(what, bytes) {
  const text = Buffer.from(bytes).toString('latin1');
  if (text.includes('OUTSIDE-BYTES') || text.includes('FORBIDDEN-BYTES')) throw new Error(`${what} returned protected bytes`);
}

/** Operations that change the mount when they succeed. */
const MUTATING = new Set(['write', 'symlink', 'mkdir', 'rename', 'unlink', 'rmdir']);

export function check(ops) {
  setup();
  if (dirty) resetMount();
  dirty = false;
  const outsideBefore = snapshot(join(root, 'out'));
  const secretBefore = snapshot(join(mount, 'secret'));
  const fdsBefore = openFdCount();
  const gate = new Gate(policy, 'fuzz-fs', () => undefined);
  const ctx = { agentId: 'fuzz-fs', gate, caps: DEFAULT_CAPS, env: [], rpc: undefined, emit: () => {}, flush: () => {}, count: () => {} };
  const fsi = filesystemImports(ctx);
  const opened = [];
  try {
    const [rootDir] = fsi.imports['wasi:filesystem/preopens'].getDirectories()[0];
    let cwd = rootDir;
    const keep = (d) => (opened.push(d), d);
    for (const [i, o] of ops.entries()) {
      const what = `op ${i} ${JSON.stringify(o)}`;
      // Marked before the call: a failed call may still have changed something.
      if (MUTATING.has(o.op)) dirty = true;
      const pf = { symlinkFollow: !!o.follow };
      switch (o.op) {
        case 'read': {
          const r = result(what, () => cwd.openAt(pf, o.path, {}, { read: true }));
          if (r.tag === 'ok') {
            const f = keep(r.val);
            const data = result(what + ' read', () => f.read(100_000n, 0n));
            if (data.tag === 'ok') checkBytes(what, data.val[0]);
            const st = result(what + ' stat', () => f.stat());
            if (st.tag === 'ok' && SECRET_SIZES.has(st.val.size)) throw new Error(`${what}: opened a protected file`);
          }
          break;
        }
        case 'write': {
          const r = result(what, () => cwd.openAt(pf, o.path, { create: o.create, truncate: o.truncate }, { write: true }));
          if (r.tag === 'ok') result(what + ' write', () => keep(r.val).write(new TextEncoder().encode('W'), 0n));
          break;
        }
        case 'stat': {
          const r = result(what, () => cwd.statAt(pf, o.path));
          if (r.tag === 'ok' && SECRET_SIZES.has(r.val.size)) throw new Error(`${what}: stat of a protected file`);
          result(what, () => cwd.metadataHashAt(pf, o.path));
          break;
        }
        case 'readlink':
          result(what, () => cwd.readlinkAt(o.path));
          break;
        case 'symlink':
          result(what, () => cwd.symlinkAt(o.target, o.path));
          break;
        case 'mkdir':
          result(what, () => cwd.createDirectoryAt(o.path));
          break;
        case 'rename':
          result(what, () => cwd.renameAt(o.path, cwd, o.to));
          break;
        case 'unlink':
          result(what, () => cwd.unlinkFileAt(o.path));
          break;
        case 'rmdir':
          result(what, () => cwd.removeDirectoryAt(o.path));
          break;
        case 'ls':
        case 'cd': {
          const r = result(what, () => cwd.openAt(pf, o.path, { directory: true }, { read: true }));
          if (r.tag !== 'ok') break;
          const d = keep(r.val);
          const list = result(what + ' read-directory', () => d.readDirectory());
          const hash = result(what + ' metadata-hash', () => d.metadataHash());
          const secretName = hash.tag === 'ok' ? protectedNames.get(hashKey(hash.val)) : undefined;
          if (list.tag === 'ok' && secretName !== undefined) {
            for (let e = list.val.readDirectoryEntry(); e.tag === 'ok' && e.val; e = list.val.readDirectoryEntry()) {
              if (e.val.name === secretName) throw new Error(`${what}: listed ${e.val.name} of a protected directory`);
            }
          }
          result(what + ' stat', () => d.stat());
          if (o.op === 'cd') cwd = d;
          break;
        }
        case 'root':
          cwd = rootDir;
          break;
      }
    }
  } finally {
    for (const d of opened) d[Symbol.dispose]();
    fsi.close();
  }
  if (snapshot(join(root, 'out')) !== outsideBefore) throw new Error('the outside tree changed');
  if (snapshot(join(mount, 'secret')) !== secretBefore) throw new Error('the forbidden directory changed');
  const fdsAfter = openFdCount();
  if (fdsAfter !== fdsBefore) throw new Error(`host descriptors leaked: ${fdsBefore} before, ${fdsAfter} after`);
}
