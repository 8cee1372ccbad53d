/**
 * `wasi:filesystem/types.error-code` values and the mapping from Node's errno codes.
 */

/** The WIT `error-code` enum, as jco spells it. */
export type FsErrorCode =
  | 'access' | 'would-block' | 'already' | 'bad-descriptor' | 'busy' | 'deadlock' | 'quota' | 'exist'
  | 'file-too-large' | 'illegal-byte-sequence' | 'in-progress' | 'interrupted' | 'invalid' | 'io'
  | 'is-directory' | 'loop' | 'too-many-links' | 'message-size' | 'name-too-long' | 'no-device'
  | 'no-entry' | 'no-lock' | 'insufficient-memory' | 'insufficient-space' | 'not-directory'
  | 'not-empty' | 'not-recoverable' | 'unsupported' | 'no-tty' | 'no-such-device' | 'overflow'
  | 'not-permitted' | 'pipe' | 'read-only' | 'invalid-seek' | 'text-file-busy' | 'cross-device';

const CODES: ReadonlySet<string> = new Set([
  'access', 'would-block', 'already', 'bad-descriptor', 'busy', 'deadlock', 'quota', 'exist', 'file-too-large',
  'illegal-byte-sequence', 'in-progress', 'interrupted', 'invalid', 'io', 'is-directory', 'loop', 'too-many-links',
  'message-size', 'name-too-long', 'no-device', 'no-entry', 'no-lock', 'insufficient-memory', 'insufficient-space',
  'not-directory', 'not-empty', 'not-recoverable', 'unsupported', 'no-tty', 'no-such-device', 'overflow',
  'not-permitted', 'pipe', 'read-only', 'invalid-seek', 'text-file-busy', 'cross-device',
]);

/** Whether `s` is one of the `error-code` values. */
export function isFsErrorCode(s: string): s is FsErrorCode {
  return CODES.has(s);
}

const ERRNO: Readonly<Record<string, FsErrorCode>> = Object.freeze({
  EACCES: 'access',
  EPERM: 'not-permitted',
  ENOENT: 'no-entry',
  EEXIST: 'exist',
  ENOTDIR: 'not-directory',
  EISDIR: 'is-directory',
  ENOTEMPTY: 'not-empty',
  ELOOP: 'loop',
  ENAMETOOLONG: 'name-too-long',
  EROFS: 'read-only',
  EXDEV: 'cross-device',
  ENOSPC: 'insufficient-space',
  EDQUOT: 'quota',
  EBADF: 'bad-descriptor',
  EINVAL: 'invalid',
  EFBIG: 'file-too-large',
  EBUSY: 'busy',
  EMLINK: 'too-many-links',
  ESPIPE: 'invalid-seek',
  ETXTBSY: 'text-file-busy',
  EAGAIN: 'would-block',
  EINTR: 'interrupted',
  ENOMEM: 'insufficient-memory',
  EMFILE: 'insufficient-memory',
  ENFILE: 'insufficient-memory',
  EOVERFLOW: 'overflow',
  EPIPE: 'pipe',
  ENXIO: 'no-such-device',
  ENODEV: 'no-device',
  ENOTSUP: 'unsupported',
  EOPNOTSUPP: 'unsupported',
});

/** Map a Node fs exception to an error code (`io` for anything unexpected). */
export function fsErrorCode(e: unknown): FsErrorCode {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(ERRNO, code) ? ERRNO[code]! : 'io';
}

/** Thrown inside the filesystem implementation to abort an operation with a WIT error code. */
export class FsFailure {
  constructor(readonly code: FsErrorCode) {}
}
