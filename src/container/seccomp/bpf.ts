/**
 * Classic BPF as seccomp uses it: the few instructions the generator emits, the seccomp return
 * values, the `seccomp_data` layout, and the byte encoding the kernel (and `bwrap --seccomp FD`)
 * reads: an array of `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }`, 8 bytes each, in
 * the host's byte order (little-endian on both architectures we support).
 *
 * Only what seccomp filters need is here: load a 32-bit word of `seccomp_data`, compare the
 * accumulator with a constant, jump forward, return a constant. Jumps are relative and forward
 * only: `jt`/`jf` reach at most 255 instructions, `ja` up to 2^32.
 *
 * @example
 * ```ts
 * const prog = [ldAbs(SECCOMP_DATA.nr), jeq(39, 0, 1), ret(SECCOMP_RET.ALLOW), ret(SECCOMP_RET.KILL_PROCESS)];
 * encodeProgram(prog).length; // 32
 * ```
 */

/** One `struct sock_filter`. */
export interface SockFilter {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

/** Instruction codes (linux/filter.h: class | size | mode, class | op | src). */
export const BPF = Object.freeze({
  /** BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k of seccomp_data. */
  LD_W_ABS: 0x20,
  /** BPF_JMP | BPF_JA: pc += k. */
  JA: 0x05,
  /** BPF_JMP | BPF_JEQ | BPF_K. */
  JEQ: 0x15,
  /** BPF_JMP | BPF_JGT | BPF_K (unsigned). */
  JGT: 0x25,
  /** BPF_JMP | BPF_JGE | BPF_K (unsigned). */
  JGE: 0x35,
  /** BPF_JMP | BPF_JSET | BPF_K: A & k != 0. */
  JSET: 0x45,
  /** BPF_RET | BPF_K. */
  RET: 0x06,
});

/** seccomp return values (linux/seccomp.h). The low 16 bits of ERRNO carry the errno. */
export const SECCOMP_RET = Object.freeze({
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
});

/** `SECCOMP_RET_ERRNO | errno`. */
export function retErrno(errno: number): number {
  return (SECCOMP_RET.ERRNO | (errno & 0xffff)) >>> 0;
}

/**
 * Offsets in `struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }`.
 * `argLow(i)` is the low 32 bits of args[i] on a little-endian machine: the half that holds an
 * `int` or `unsigned int` argument, which the kernel truncates to exactly those bits.
 */
export const SECCOMP_DATA = Object.freeze({ nr: 0, arch: 4, size: 64 });

/** Offset of the low 32 bits of args[i] (little-endian). */
export function argLow(i: number): number {
  return 16 + 8 * i;
}

/** `AUDIT_ARCH_*` values (linux/audit.h) that `seccomp_data.arch` holds. */
export const AUDIT_ARCH = Object.freeze({
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
  i386: 0x40000003,
  arm: 0x40000028,
});

/** Kernel limit on a filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** A = word at `offset` of seccomp_data. */
export function ldAbs(offset: number): SockFilter {
  return { code: BPF.LD_W_ABS, jt: 0, jf: 0, k: offset };
}

function jump(code: number, k: number, jt: number, jf: number): SockFilter {
  if (jt < 0 || jt > 255 || jf < 0 || jf > 255) throw new RangeError(`BPF conditional jump out of range (jt ${jt}, jf ${jf}; at most 255)`);
  return { code, jt, jf, k: k >>> 0 };
}

/** if (A == k) skip jt else skip jf. */
export function jeq(k: number, jt: number, jf: number): SockFilter {
  return jump(BPF.JEQ, k, jt, jf);
}

/** if (A >= k) skip jt else skip jf (unsigned). */
export function jge(k: number, jt: number, jf: number): SockFilter {
  return jump(BPF.JGE, k, jt, jf);
}

/** if (A > k) skip jt else skip jf (unsigned). */
export function jgt(k: number, jt: number, jf: number): SockFilter {
  return jump(BPF.JGT, k, jt, jf);
}

/** if (A & k) skip jt else skip jf. */
export function jset(k: number, jt: number, jf: number): SockFilter {
  return jump(BPF.JSET, k, jt, jf);
}

/** Skip k instructions unconditionally. */
export function ja(k: number): SockFilter {
  return { code: BPF.JA, jt: 0, jf: 0, k: k >>> 0 };
}

/** Return k (a SECCOMP_RET value). */
export function ret(k: number): SockFilter {
  return { code: BPF.RET, jt: 0, jf: 0, k: k >>> 0 };
}

/** The program as `struct sock_filter[]` bytes (little-endian), ready for `bwrap --seccomp FD`. */
export function encodeProgram(prog: readonly SockFilter[]): Buffer {
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach((ins, i) => {
    out.writeUInt16LE(ins.code, i * 8);
    out.writeUInt8(ins.jt, i * 8 + 2);
    out.writeUInt8(ins.jf, i * 8 + 3);
    out.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return out;
}

/** The inverse of {@link encodeProgram} (for tests and inspection). */
export function decodeProgram(bytes: Uint8Array): SockFilter[] {
  if (bytes.length % 8 !== 0) throw new RangeError(`a BPF program is a multiple of 8 bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const prog: SockFilter[] = [];
  for (let o = 0; o < b.length; o += 8) prog.push({ code: b.readUInt16LE(o), jt: b.readUInt8(o + 2), jf: b.readUInt8(o + 3), k: b.readUInt32LE(o + 4) });
  return prog;
}
