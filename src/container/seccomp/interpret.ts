/**
 * A small interpreter of seccomp classic BPF, for tests and for explaining a filter: it runs a
 * program against one `seccomp_data` as the kernel would and returns the SECCOMP_RET value.
 * It also checks what the kernel's verifier checks for the instructions we emit (known opcodes,
 * aligned in-bounds loads, jumps inside the program, a RET at the end of every path), so a
 * malformed program fails here before it fails in `bwrap`.
 *
 * @example
 * ```ts
 * const r = runSeccomp(seccompProgram({ arch: 'x86_64' }), { nr: 101, arch: AUDIT_ARCH.x86_64 });
 * describeRet(r); // 'ERRNO(1)'  (ptrace)
 * ```
 */
import { BPF, BPF_MAXINSNS, SECCOMP_DATA, SECCOMP_RET, type SockFilter } from './bpf.js';

/** One system call as the filter sees it. Args are 64-bit (bigint or a number below 2^53). */
export interface SeccompCall {
  readonly nr: number;
  readonly arch: number;
  readonly ip?: bigint | number;
  readonly args?: readonly (bigint | number)[];
}

/** The 32-bit word at `offset` of `struct seccomp_data` for `call` (little-endian). */
function word(call: SeccompCall, offset: number): number {
  if (offset % 4 !== 0 || offset < 0 || offset + 4 > SECCOMP_DATA.size) throw new RangeError(`BPF load at offset ${offset} outside seccomp_data`);
  if (offset === 0) return call.nr >>> 0;
  if (offset === 4) return call.arch >>> 0;
  const slot = (offset - 8) >> 3; // 0 = instruction pointer, 1..6 = args
  const v = BigInt.asUintN(64, BigInt(slot === 0 ? (call.ip ?? 0) : (call.args?.[slot - 1] ?? 0)));
  return Number((offset % 8 === 0 ? v : v >> 32n) & 0xffffffffn);
}

/**
 * Run `prog` on `call`; returns the 32-bit SECCOMP_RET value.
 *
 * @throws RangeError for what the kernel would refuse (unknown opcode, jump out of range, a
 *   load outside seccomp_data, falling off the end, more than 4096 instructions).
 */
export function runSeccomp(prog: readonly SockFilter[], call: SeccompCall): number {
  if (prog.length === 0 || prog.length > BPF_MAXINSNS) throw new RangeError(`a filter has 1..${BPF_MAXINSNS} instructions, got ${prog.length}`);
  let a = 0;
  let pc = 0;
  for (;;) {
    const ins = prog[pc];
    if (!ins) throw new RangeError(`BPF ran off the end of the program (pc ${pc})`);
    let skip = 0;
    switch (ins.code) {
      case BPF.LD_W_ABS: a = word(call, ins.k); break;
      case BPF.RET: return ins.k >>> 0;
      case BPF.JA: skip = ins.k; break;
      case BPF.JEQ: skip = a === ins.k >>> 0 ? ins.jt : ins.jf; break;
      case BPF.JGT: skip = a > ins.k >>> 0 ? ins.jt : ins.jf; break;
      case BPF.JGE: skip = a >= ins.k >>> 0 ? ins.jt : ins.jf; break;
      case BPF.JSET: skip = (a & ins.k) !== 0 ? ins.jt : ins.jf; break;
      default: throw new RangeError(`unsupported BPF opcode 0x${ins.code.toString(16)} at ${pc}`);
    }
    pc += 1 + skip;
    if (pc >= prog.length) throw new RangeError(`BPF jump past the end of the program (to ${pc})`);
  }
}

/** A SECCOMP_RET value for people: `ALLOW`, `KILL_PROCESS`, `ERRNO(1)`, … */
export function describeRet(r: number): string {
  const action = (r & 0xffff0000) >>> 0;
  if (action === SECCOMP_RET.ERRNO) return `ERRNO(${r & 0xffff})`;
  const name = Object.entries(SECCOMP_RET).find(([, v]) => v === action)?.[0];
  return name ?? `0x${r.toString(16)}`;
}
