/**
 * The durable revocation list of the token service: revoked token ids (`jti`) and revoked token
 * families (`fam`, every token descended from one login), each kept until the tokens it kills
 * have expired anyway.
 *
 * Storage: an append-only JSON Lines file, one entry per line, loaded into in-memory maps on
 * open so that {@link RevocationStore.has} is a map lookup. Each add is written with `O_APPEND`
 * and fsynced before it resolves (adds that arrive together share one fsync). A plain file rather
 * than LevelDB because several processes must add to it at once — `agentos token revoke` while
 * a gate is running — and LevelDB admits one process at a time; the set is small and lives in
 * memory anyway, and the file is readable with `cat`. Other processes' additions are picked up by
 * {@link RevocationStore.refresh} (polled every `pollMs`).
 *
 * A torn final line (a crash in the middle of a write) is dropped on open; any other bad line
 * stops the open with an `INTERNAL` error naming the file and line — silently skipping it could
 * re-admit a revoked token. {@link RevocationStore.compact} rewrites the file without the
 * entries past their expiry (under a lock file; concurrent appenders notice the swap and
 * re-append to the new file).
 *
 * @example
 * ```ts
 * const store = await RevocationStore.open('.agentos/tokens/revoked.jsonl');
 * await store.add(jti, expiresAt, 'logged out');
 * store.has(jti); // true, also after a restart
 * ```
 */
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SandboxError, UsageError } from '../errors.js';

/** One revocation. */
export interface Revocation {
  /** When the revoked tokens are expired anyway (epoch ms); the entry may be dropped after it. */
  readonly expiresAt: number;
  readonly reason: string;
  /** When it was revoked (epoch ms). */
  readonly at: number;
}

/** Options of {@link RevocationStore.open}. */
export interface RevocationStoreOptions {
  /** Re-read entries appended by other processes this often (ms); 0 = never. Default 1000. */
  readonly pollMs?: number;
  /** Compact on open: `true`, `false`, or `'auto'` (default: when ≥ 256 lines and half are expired). */
  readonly compact?: boolean | 'auto';
  /** Clock (epoch ms). Default `Date.now`. */
  readonly now?: () => number;
  /** Where background poll failures go. Default `process.emitWarning`. */
  readonly onError?: (e: unknown) => void;
}

type Kind = 'jti' | 'fam';
interface Line extends Revocation {
  readonly k: Kind;
  readonly id: string;
}

const FILE_NAME = 'revoked.jsonl';
const MAX_ID = 512;
const MAX_REASON = 1000;
const STALE_LOCK_MS = 30_000;

/** The revocation list. Create with {@link RevocationStore.open}. */
export class RevocationStore {
  private readonly maps: Record<Kind, Map<string, Revocation>> = { jti: new Map(), fam: new Map() };
  private queue: { text: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Bytes of the current file consumed so far (always at a line boundary). */
  private offset = 0;
  /** Lines of the current file consumed so far. */
  private lineNo = 0;
  private ino = 0;
  /** Bytes of a torn final line dropped when the store was opened (0 normally). */
  tornBytesDropped = 0;

  private constructor(
    /** The file. */
    readonly file: string,
    private handle: FileHandle,
    private readonly now: () => number,
    private readonly onError: (e: unknown) => void,
  ) {}

  /**
   * Open (creating if needed) the list at `path`: a file, or a directory (existing, or written
   * with a trailing `/`) that holds `revoked.jsonl`.
   */
  static async open(path: string, options: RevocationStoreOptions = {}): Promise<RevocationStore> {
    if (typeof path !== 'string' || path === '') throw new UsageError('RevocationStore.open: a file or directory path is required');
    const isDir = /[\\/]$/.test(path) || (await stat(path).then((s) => s.isDirectory(), () => false));
    const file = isDir ? join(path, FILE_NAME) : path;
    await mkdir(dirname(file), { recursive: true });
    const created = !(await stat(file).then(() => true, () => false));
    const handle = await open(file, 'a+', 0o644);
    if (created) await fsyncDir(dirname(file));
    const store = new RevocationStore(file, handle, options.now ?? Date.now, options.onError ?? ((e) => process.emitWarning(`revocation list ${file}: ${(e as Error).message}`)));
    try {
      store.ino = (await handle.stat()).ino;
      const { lines, dead } = await store.readNew(true);
      const mode = options.compact ?? 'auto';
      if (mode === true || (mode === 'auto' && lines >= 256 && dead * 2 >= lines)) await store.compact();
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
    const pollMs = options.pollMs ?? 1000;
    if (pollMs > 0) {
      store.timer = setInterval(() => void store.refresh().catch(store.onError), pollMs);
      store.timer.unref();
    }
    return store;
  }

  /** Whether token id `jti` is revoked. */
  has(jti: string): boolean {
    return this.maps.jti.has(jti);
  }

  /** Whether token family `fam` is revoked. */
  hasFamily(fam: string): boolean {
    return this.maps.fam.has(fam);
  }

  /** The revocation of `jti` (or of family `fam` with `kind: 'fam'`), if any. */
  get(id: string, kind: Kind = 'jti'): Revocation | undefined {
    return this.maps[kind].get(id);
  }

  /** Number of live entries in memory. */
  get size(): { jti: number; fam: number } {
    return { jti: this.maps.jti.size, fam: this.maps.fam.size };
  }

  /**
   * Revoke token id `jti` until `expiresAt` (epoch ms). {@link has} answers `true` as soon as
   * this returns (before the promise settles); the promise resolves once the entry is fsynced,
   * to `false` if it was already revoked.
   */
  add(jti: string, expiresAt: number, reason: string): Promise<boolean> {
    return this.put('jti', jti, expiresAt, reason);
  }

  /** Revoke every token of family `fam`; like {@link add}. */
  addFamily(fam: string, expiresAt: number, reason: string): Promise<boolean> {
    return this.put('fam', fam, expiresAt, reason);
  }

  private put(k: Kind, id: string, expiresAt: number, reason: string): Promise<boolean> {
    if (this.closed) return Promise.reject(new UsageError(`revocation list ${this.file} is closed`));
    if (typeof id !== 'string' || id === '' || id.length > MAX_ID) return Promise.reject(new UsageError(`revocation: the ${k} must be a non-empty string of at most ${MAX_ID} characters`));
    if (!Number.isSafeInteger(expiresAt)) return Promise.reject(new UsageError('revocation: expiresAt must be epoch milliseconds'));
    if (this.maps[k].has(id)) return Promise.resolve(false);
    const entry: Line = { k, id, expiresAt, reason: String(reason ?? '').slice(0, MAX_REASON), at: this.now() };
    this.maps[k].set(id, { expiresAt: entry.expiresAt, reason: entry.reason, at: entry.at });
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ text: JSON.stringify(entry) + '\n', resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        void this.exclusive(() => this.flush()).catch(() => undefined);
      }
    }).then(() => true);
  }

  /** Write queued lines in batches: one write and one fsync per batch. */
  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        try {
          await this.appendDurably(batch.map((b) => b.text).join(''));
          for (const b of batch) b.resolve();
        } catch (e) {
          const err = new SandboxError('INTERNAL', `revocation list ${this.file}: cannot write: ${(e as Error).message}`, { file: this.file }, { cause: e });
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async appendDurably(text: string): Promise<void> {
    await this.handle.appendFile(text);
    await this.handle.datasync();
    // A compaction in another process may have replaced the file under us: append again there.
    const ino = await stat(this.file).then((s) => s.ino, () => 0);
    if (ino !== this.ino) {
      await this.reopen();
      await this.handle.appendFile(text);
      await this.handle.datasync();
    }
  }

  /** Switch to the file now at the path (after another process compacted it) and read it. */
  private async reopen(): Promise<void> {
    const old = this.handle;
    this.handle = await open(this.file, 'a+', 0o644);
    this.ino = (await this.handle.stat()).ino;
    this.offset = 0;
    this.lineNo = 0;
    await old.close().catch(() => undefined);
    await this.readNew(false);
  }

  /**
   * Read lines appended since the last read (`atOpen`: the whole file, where a torn final line
   * is cut off). Returns how many lines were read and how many had expired.
   */
  private async readNew(atOpen: boolean): Promise<{ lines: number; dead: number }> {
    const size = (await this.handle.stat()).size;
    if (size <= this.offset) return { lines: 0, dead: 0 };
    const buf = Buffer.alloc(size - this.offset);
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, this.offset);
    const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a) + 1;
    if (atOpen && end < bytesRead) {
      // A torn final write: the line was never acknowledged, so drop it.
      await this.handle.truncate(this.offset + end);
      await this.handle.datasync();
      this.tornBytesDropped = bytesRead - end;
    }
    const lines = buf.subarray(0, end).toString('utf8').split('\n');
    lines.pop(); // after the final newline
    let dead = 0;
    const now = this.now();
    let no = this.lineNo;
    for (const raw of lines) {
      no++;
      if (raw.trim() === '') continue;
      const line = parseLine(raw);
      if (typeof line === 'string') {
        throw new SandboxError('INTERNAL', `revocation list ${this.file} is corrupt at line ${no}: ${line}. This is not a torn final write, so it is not skipped (dropping revocations would re-admit revoked tokens): restore the file, or remove the line by hand`, { file: this.file, line: no });
      }
      if (line.expiresAt <= now) dead++;
      const m = this.maps[line.k];
      const had = m.get(line.id);
      if (!had || had.expiresAt < line.expiresAt) m.set(line.id, { expiresAt: line.expiresAt, reason: line.reason, at: line.at });
    }
    this.offset += end;
    this.lineNo = no;
    return { lines: lines.length, dead };
  }

  /**
   * Pick up entries that other processes appended (and follow a compaction they did). Returns
   * the number of lines read.
   */
  refresh(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    return this.exclusive(async () => {
      const ino = await stat(this.file).then((s) => s.ino, () => 0);
      if (ino !== 0 && ino !== this.ino) await this.reopen();
      return (await this.readNew(false)).lines;
    });
  }

  /**
   * Rewrite the file with only the entries not yet expired, and forget the expired ones.
   * Skipped (`skipped: true`) while another process is compacting.
   */
  compact(): Promise<{ kept: number; dropped: number; skipped?: boolean }> {
    return this.exclusive(async () => {
      const lockFile = `${this.file}.lock`;
      const lock = await takeLock(lockFile);
      if (!lock) return { kept: this.maps.jti.size + this.maps.fam.size, dropped: 0, skipped: true };
      try {
        const ino = await stat(this.file).then((s) => s.ino, () => 0);
        if (ino !== this.ino) await this.reopen();
        await this.readNew(false);
        const now = this.now();
        let dropped = 0;
        const lines: string[] = [];
        for (const k of ['jti', 'fam'] as const) {
          for (const [id, r] of this.maps[k]) {
            if (r.expiresAt <= now) {
              this.maps[k].delete(id);
              dropped++;
            } else lines.push(JSON.stringify({ k, id, expiresAt: r.expiresAt, reason: r.reason, at: r.at }) + '\n');
          }
        }
        const tmp = `${this.file}.tmp-${process.pid}`;
        const out = await open(tmp, 'w', 0o644);
        try {
          await out.writeFile(lines.join(''));
          await out.sync();
        } finally {
          await out.close();
        }
        await rename(tmp, this.file);
        await fsyncDir(dirname(this.file));
        // Lines appended to the old file after the read above: carry them over.
        const old = this.handle;
        const size = (await old.stat()).size;
        const tail = Buffer.alloc(Math.max(0, size - this.offset));
        if (tail.length > 0) await old.read(tail, 0, tail.length, this.offset);
        const carried = tail.subarray(0, tail.lastIndexOf(0x0a) + 1);
        this.handle = await open(this.file, 'a+', 0o644);
        this.ino = (await this.handle.stat()).ino;
        this.offset = 0;
        this.lineNo = 0;
        await old.close().catch(() => undefined);
        if (carried.length > 0) {
          await this.handle.appendFile(carried);
          await this.handle.datasync();
        }
        await this.readNew(false);
        return { kept: lines.length, dropped };
      } finally {
        await lock.close().catch(() => undefined);
        await unlink(lockFile).catch(() => undefined);
      }
    });
  }

  /** Wait for pending writes, stop polling and close the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.exclusive(async () => undefined);
    await this.handle.close();
  }

  /** Run `fn` after every earlier file operation of this store. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** A parsed line, or why it is not one. */
function parseLine(raw: string): Line | string {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  const o = v as Partial<Line> | null;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return 'not a JSON object';
  if (o.k !== 'jti' && o.k !== 'fam') return `unknown entry kind ${JSON.stringify(o.k)}`;
  if (typeof o.id !== 'string' || o.id === '') return 'missing id';
  if (!Number.isSafeInteger(o.expiresAt) || !Number.isSafeInteger(o.at)) return 'expiresAt/at must be epoch milliseconds';
  return { k: o.k, id: o.id, expiresAt: o.expiresAt!, at: o.at!, reason: typeof o.reason === 'string' ? o.reason : '' };
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r').catch(() => undefined);
  if (!h) return;
  await h.sync().catch(() => undefined); // not supported on every platform
  await h.close();
}

/** Create `file` exclusively (removing one older than {@link STALE_LOCK_MS}); undefined if held. */
async function takeLock(file: string): Promise<FileHandle | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await open(file, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await stat(file).then((s) => Date.now() - s.mtimeMs, () => STALE_LOCK_MS);
      if (age < STALE_LOCK_MS) return undefined;
      await unlink(file).catch(() => undefined);
    }
  }
  return undefined;
}
