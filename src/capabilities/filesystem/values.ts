/**
 * The `wasi:filesystem/types` values the descriptor hands out: types, stats, timestamps, the
 * metadata hash and the directory-entry stream.
 */
import type * as fs from 'node:fs';
import { ok, type Result } from '../io.js';
import type { FsErrorCode } from './errors.js';

export type DescriptorType = 'unknown' | 'block-device' | 'character-device' | 'directory' | 'fifo' | 'symbolic-link' | 'regular-file' | 'socket';
export interface Datetime {
  seconds: bigint;
  nanoseconds: number;
}
export type NewTimestamp = { tag: 'no-change' } | { tag: 'now' } | { tag: 'timestamp'; val: Datetime };
export interface PathFlags {
  symlinkFollow?: boolean;
}
export interface OpenFlags {
  create?: boolean;
  directory?: boolean;
  exclusive?: boolean;
  truncate?: boolean;
}
export interface DescriptorFlags {
  read?: boolean;
  write?: boolean;
  fileIntegritySync?: boolean;
  dataIntegritySync?: boolean;
  requestedWriteSync?: boolean;
  mutateDirectory?: boolean;
}

export function typeOf(st: fs.Stats | fs.BigIntStats | fs.Dirent): DescriptorType {
  if (st.isFile()) return 'regular-file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic-link';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'unknown';
}

export function datetime(ns: bigint): Datetime {
  return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
}

export function statOf(st: fs.BigIntStats) {
  return {
    type: typeOf(st),
    linkCount: st.nlink,
    size: st.size,
    dataAccessTimestamp: datetime(st.atimeNs),
    dataModificationTimestamp: datetime(st.mtimeNs),
    statusChangeTimestamp: datetime(st.ctimeNs),
  };
}

export function toTime(t: NewTimestamp, current: bigint): number | Date {
  if (t.tag === 'now') return new Date();
  if (t.tag === 'timestamp') return Number(t.val.seconds) + t.val.nanoseconds / 1e9;
  return Number(current) / 1e9;
}

export function hashOf(st: fs.BigIntStats): { lower: bigint; upper: bigint } {
  const mask = (1n << 64n) - 1n;
  return { lower: (st.ino ^ (st.mtimeNs << 7n)) & mask, upper: (st.dev ^ st.size ^ (st.ctimeNs << 3n)) & mask };
}

/** `directory-entry-stream` */
export class DirectoryEntryStream {
  private index = 0;
  constructor(private readonly entries: { type: DescriptorType; name: string }[]) {}
  readDirectoryEntry(): Result<{ type: DescriptorType; name: string } | undefined, FsErrorCode> {
    return ok(this.entries[this.index++]);
  }
}
