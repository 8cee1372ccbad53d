/**
 * Read-only access to an audit directory for the audit commands, without taking the store's
 * lock away from the process that writes it.
 *
 * LevelDB allows one process per database. A reader therefore never opens the live store: it
 * takes a snapshot — copies of the small mutable files (CURRENT, the MANIFEST, the write-ahead
 * logs) and hard links to the immutable table files that MANIFEST lists, and no others — and
 * opens that. LevelDB replays the copied log up to its last complete batch, so the snapshot is a
 * consistent prefix of the log (batches are atomic and the head is written with its block).
 * When a flush or compaction races the copy, the snapshot is taken again.
 */
import { copyFile, link, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';
import { fromHex, isHashHex } from './hash.js';
import { decodeHead, type Head } from './head.js';
import { liveTables } from './leveldb-manifest.js';
import { popcount } from './merkle.js';
import { LogSource, type Anchor } from './source.js';
import { AuditStore } from './store.js';

/** An open, read-only view of an audit directory. */
export interface AuditReader {
  readonly dir: string;
  readonly store: AuditStore;
  readonly source: LogSource;
  readonly logId: string;
  readonly publicKey: Uint8Array;
  readonly head: Head;
  readonly anchor: Anchor | undefined;
  /** Records before this were pruned. */
  readonly base: number;
  /** Close the store and remove the snapshot. */
  close(): Promise<void>;
}

const TABLE = /^(\d+)\.(ldb|sst)$/;
const WAL = /^\d+\.log$/;
const MANIFEST = /^MANIFEST-\d+$/;

/**
 * Take a snapshot of the LevelDB store `db` into the empty directory `into`: the CURRENT file
 * and its MANIFEST copied first, then hard links to exactly the tables that MANIFEST lists (see
 * `leveldb-manifest.ts` for why no other table may be linked) and copies of the write-ahead
 * logs. Throws when the store changed its MANIFEST meanwhile (a flush or compaction finished:
 * a log the copy needs may be gone), so the caller takes it again.
 */
async function snapshot(db: string, into: string): Promise<void> {
  const current = await readFile(join(db, 'CURRENT'), 'utf8');
  const manifestName = current.trim();
  if (!MANIFEST.test(manifestName)) throw new Error(`${join(db, 'CURRENT')} names no MANIFEST`);
  const manifest = await readFile(join(db, manifestName));
  const { tables } = liveTables(manifest);
  await writeFile(join(into, manifestName), manifest);
  await writeFile(join(into, 'CURRENT'), current);
  const linked = new Set<number>();
  for (const name of await readdir(db)) {
    const from = join(db, name);
    const to = join(into, name);
    const table = TABLE.exec(name);
    if (table) {
      const number = Number(table[1]);
      if (!tables.has(number)) continue; // being written, or obsolete: never the snapshot's
      linked.add(number);
      try {
        await link(from, to);
        continue;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw e;
        // EXDEV, EPERM: fall through to a copy.
      }
      await copyFile(from, to);
    } else if (WAL.test(name)) {
      await copyFile(from, to);
    }
  }
  const missing = [...tables].filter((t) => !linked.has(t));
  if (missing.length > 0) throw new Error(`tables ${missing.join(', ')} of ${manifestName} are gone (a compaction raced the snapshot)`);
  const after = await readFile(join(db, 'CURRENT'), 'utf8');
  if (after !== current || (await stat(join(db, manifestName))).size !== manifest.length) throw new Error(`${manifestName} changed while the snapshot was taken`);
}

/**
 * Open `dir` (an audit directory) for reading through a fresh snapshot. Throws
 * `AUDIT_UNAVAILABLE` when there is no audit store there or it cannot be read.
 */
export async function openAuditReader(dir: string): Promise<AuditReader> {
  const db = join(dir, 'db');
  try {
    await readFile(join(db, 'CURRENT'));
  } catch {
    throw new SandboxError('AUDIT_UNAVAILABLE', `no audit store in ${dir} (expected ${db}); give --audit DIR with the directory \`agentos run --audit\` wrote, or run an agent first`, { dir });
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    // Beside the store, so table files can be hard-linked; in the temp directory (copies) when
    // the audit directory is read-only to us.
    const snap = await mkdtemp(join(dir, '.read-')).catch(() => mkdtemp(join(tmpdir(), 'agentos-audit-read-')));
    let store: AuditStore | undefined;
    try {
      await snapshot(db, snap);
      store = await AuditStore.open(snap, { lockWaitMs: 0 });
      const reader = await describe(dir, store, async () => {
        await store!.close();
        await rm(snap, { recursive: true, force: true });
      });
      return reader;
    } catch (e) {
      lastError = e;
      await store?.close().catch(() => undefined);
      await rm(snap, { recursive: true, force: true });
      if (e instanceof SandboxError && e.details['reason'] === 'meta') throw e;
    }
  }
  throw new SandboxError('AUDIT_UNAVAILABLE', `cannot read the audit store in ${dir}: ${(lastError as Error)?.message ?? String(lastError)}`, { dir }, { cause: lastError });
}

/** Whether a parsed anchor has the shape `LogSource` relies on (its signature is `verify`'s business). */
function wellFormedAnchor(a: unknown): a is Anchor {
  const x = a as { checkpoint?: { size?: unknown; lastHash?: unknown }; frontier?: unknown } | null;
  const size = x?.checkpoint?.size;
  return (
    typeof x === 'object' &&
    x !== null &&
    Number.isSafeInteger(size) &&
    (size as number) >= 0 &&
    isHashHex(x.checkpoint?.lastHash) &&
    Array.isArray(x.frontier) &&
    x.frontier.length === popcount(size as number) &&
    x.frontier.every(isHashHex)
  );
}

async function describe(dir: string, store: AuditStore, close: () => Promise<void>): Promise<AuditReader> {
  const meta = await store.getMeta();
  const logId = meta?.['logId'];
  const pub = meta?.['publicKey'];
  if (typeof logId !== 'string' || !isHashHex(logId) || typeof pub !== 'string' || !isHashHex(pub)) {
    await close();
    throw new SandboxError('AUDIT_UNAVAILABLE', `${dir} holds no valid audit log meta record (log id and key): not an audit store, or damaged`, { dir, reason: 'meta' });
  }
  const headBytes = await store.getHead();
  let head: Head = { size: 0, lastHash: fromHex(logId), frontier: [] };
  if (headBytes) {
    try {
      head = decodeHead(headBytes);
    } catch {
      // Leave the head empty: `verify` reports it; the other commands show what is stored.
    }
  }
  const anchorJson = await store.getAnchor();
  let anchor: Anchor | undefined;
  try {
    anchor = anchorJson ? (JSON.parse(anchorJson) as Anchor) : undefined;
  } catch {
    anchor = undefined;
  }
  // A damaged anchor is left out like one that is not JSON: `verify` reads and reports it
  // itself (ANCHOR_INVALID); used as it is, it made opening the reader throw instead.
  if (anchor !== undefined && !wellFormedAnchor(anchor)) anchor = undefined;
  const base = anchor?.checkpoint?.size ?? 0;
  return { dir, store, source: new LogSource(store, anchor), logId, publicKey: fromHex(pub), head, anchor, base, close };
}
