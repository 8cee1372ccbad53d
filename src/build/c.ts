/**
 * C agents: clang-22 → wasm32-wasi reactor core module (Debian's wasi-libc) → component with
 * the WASI preview1 reactor adapter. The agent implements the canonical ABI of `run` by hand
 * (see `test/fixtures/agents/fsprobe.c`).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ComponentError } from '../errors.js';
import { run } from './process.js';
import { coreToComponent, type WorldOptions } from './wat.js';

/** The apt packages that provide the C toolchain on Debian bookworm. */
export const C_TOOLCHAIN_PACKAGES = 'clang-22 lld-22 wasi-libc libclang-rt-22-dev-wasm32';

/** The clang binary (override with `AGENTOS_CLANG`). */
export function clangCommand(): string {
  return process.env.AGENTOS_CLANG ?? 'clang-22';
}

/**
 * The compiler flags. `--target=wasm32-wasi` (not `wasm32-wasip1`) because Debian's wasi-libc
 * installs its headers under `include/wasm32-wasi`; `-Wno-deprecated` silences clang's notice
 * about that name. The sysroot defaults to `/usr` (override with `AGENTOS_WASI_SYSROOT`).
 * `--no-wasm-opt`: clang runs any `wasm-opt` found on PATH after linking, and `npm`/`npx` put
 * binaryen's (a jco dependency) there — builds would differ between a shell and `npm test`.
 */
export function clangArgs(input: string, output: string): string[] {
  return [
    '--target=wasm32-wasi',
    '-Wno-deprecated',
    `--sysroot=${process.env.AGENTOS_WASI_SYSROOT ?? '/usr'}`,
    '-mexec-model=reactor',
    '-O2',
    '--no-wasm-opt',
    '-Wall',
    '-Wl,--strip-debug',
    '-o',
    output,
    input,
  ];
}

function installHint(): string {
  return `install the C toolchain with: apt-get install ${C_TOOLCHAIN_PACKAGES}`;
}

/**
 * Compile one C file into a component of our world.
 *
 * @throws {ComponentError} when clang-22 is missing (the message names the apt packages) or
 *   fails (the message ends with its stderr), or when the module does not fit the world.
 */
export async function cToComponent(
  input: string,
  opts: WorldOptions & { onLog?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'agentos-cc-'));
  try {
    const core = join(dir, 'agent.core.wasm');
    const clang = clangCommand();
    const args = clangArgs(input, core);
    opts.onLog?.(`${clang} ${args.join(' ')}`);
    let result;
    try {
      result = await run(clang, args, { onLog: opts.onLog, signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new ComponentError(
        code === 'ENOENT'
          ? `${clang} not found: ${installHint()}`
          : `could not start ${clang}: ${(e as Error).message}`,
        { step: 'clang', packages: C_TOOLCHAIN_PACKAGES },
        { cause: e },
      );
    }
    if (result.code !== 0) {
      // Missing headers, libc or builtins mean an incomplete toolchain rather than a bad agent.
      const incomplete = /file not found|cannot find|unable to find library|libclang_rt|wasm-ld/i.test(result.tail);
      throw new ComponentError(
        `${clang} failed on ${input} (exit ${result.code ?? result.signal})` +
          (incomplete ? `; is the toolchain complete? ${installHint()}` : '') +
          `:\n${result.tail}`,
        { step: 'clang', input },
      );
    }
    return await coreToComponent(await readFile(core), opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
