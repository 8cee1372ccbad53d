/**
 * Which table files a LevelDB MANIFEST says are live: what a reader's snapshot may hard-link.
 *
 * A snapshot must link only the tables its copy of the MANIFEST references. LevelDB creates a
 * table file before it records it in the MANIFEST, and the snapshot's own LevelDB numbers the
 * table it writes (replaying the copied write-ahead log) from the MANIFEST's next file number.
 * A file the live store was still writing, linked into the snapshot under that number, would be
 * opened with `O_TRUNC` there and overwritten: the live store's table, through the shared inode.
 *
 * The format (LevelDB's `db/log_format.md` and `db/version_edit.cc`): 32 KiB blocks of records,
 * each with a 7-byte header (masked CRC-32C, little-endian length, type: full, first, middle,
 * last); a record holds one version edit, a sequence of varint-tagged fields.
 *
 * @example
 * ```ts
 * const { tables } = liveTables(readFileSync('db/MANIFEST-000004')); // Set { 5, 7 }
 * ```
 */

const BLOCK = 32 * 1024;
const HEADER = 7;
const RecordType = { Full: 1, First: 2, Middle: 3, Last: 4 } as const;
const Tag = { Comparator: 1, LogNumber: 2, NextFileNumber: 3, LastSequence: 4, CompactPointer: 5, DeletedFile: 6, NewFile: 7, PrevLogNumber: 9 } as const;

/** The live state a MANIFEST describes, as far as a snapshot needs it. */
export interface ManifestState {
  /** Numbers of the table files in the current version. */
  readonly tables: ReadonlySet<number>;
  /** The next file number the store will use; every table in `tables` is below it. */
  readonly nextFile: number;
}

/** The MANIFEST cannot be read (damaged, or a format this reader does not know). */
export class ManifestError extends Error {}

/** The logical records of a LevelDB log file; a torn record at the end (a copy taken mid-write) ends it. */
function* records(bytes: Uint8Array): Generator<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pending: Uint8Array[] | undefined;
  let pos = 0;
  while (pos < bytes.length) {
    const left = BLOCK - (pos % BLOCK);
    if (left < HEADER) {
      pos += left; // the block's zero trailer
      continue;
    }
    if (pos + HEADER > bytes.length) return;
    const length = view.getUint16(pos + 4, true);
    const type = bytes[pos + 6]!;
    const start = pos + HEADER;
    if (start + length > bytes.length) return;
    if (type === 0 && length === 0) {
      pos = start; // preallocated zeros
      continue;
    }
    const fragment = bytes.subarray(start, start + length);
    pos = start + length;
    if (type === RecordType.Full) {
      pending = undefined;
      yield fragment;
    } else if (type === RecordType.First) {
      pending = [fragment];
    } else if (type === RecordType.Middle && pending) {
      pending.push(fragment);
    } else if (type === RecordType.Last && pending) {
      pending.push(fragment);
      yield Buffer.concat(pending);
      pending = undefined;
    } else {
      throw new ManifestError(`MANIFEST record of type ${type} at byte ${pos - length - HEADER} is out of place`);
    }
  }
}

/** A cursor over one version edit's fields. */
class Fields {
  private pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  varint(): number {
    let value = 0;
    for (let scale = 1; scale <= 2 ** 63; scale *= 128) {
      const b = this.bytes[this.pos++];
      if (b === undefined) throw new ManifestError('a version edit ends inside a number');
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new ManifestError('a version edit holds a number too large to be a file number');
        return value;
      }
    }
    throw new ManifestError('a version edit holds a number longer than 10 bytes');
  }

  skipSlice(): void {
    const length = this.varint();
    if (this.pos + length > this.bytes.length) throw new ManifestError('a version edit ends inside a key');
    this.pos += length;
  }
}

/**
 * Replay a MANIFEST's version edits: the tables added and not deleted since, and the next file
 * number.
 *
 * @throws ManifestError for a field LevelDB would refuse or a record out of place
 */
export function liveTables(manifest: Uint8Array): ManifestState {
  const tables = new Set<number>();
  let nextFile = 0;
  for (const record of records(manifest)) {
    const f = new Fields(record);
    while (!f.done) {
      const tag = f.varint();
      switch (tag) {
        case Tag.Comparator:
          f.skipSlice();
          break;
        case Tag.LogNumber:
        case Tag.PrevLogNumber:
        case Tag.LastSequence:
          f.varint();
          break;
        case Tag.NextFileNumber:
          nextFile = f.varint();
          break;
        case Tag.CompactPointer:
          f.varint();
          f.skipSlice();
          break;
        case Tag.DeletedFile:
          f.varint();
          tables.delete(f.varint());
          break;
        case Tag.NewFile: {
          f.varint(); // level
          tables.add(f.varint());
          f.varint(); // size
          f.skipSlice(); // smallest key
          f.skipSlice(); // largest key
          break;
        }
        default:
          throw new ManifestError(`unknown version-edit field ${tag}`);
      }
    }
  }
  for (const t of tables) if (t >= nextFile) throw new ManifestError(`table ${t} is not below the next file number ${nextFile}`);
  return { tables, nextFile };
}
