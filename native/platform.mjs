// The platform triple and names of the prebuilt addon packages, napi-rs style
// (`@agent-os-sandbox/wasmtime-linux-x64-gnu` holding `agentos-wasmtime.linux-x64-gnu.node`, and on
// Linux the exec helper `agentos-exec.linux-x64-gnu`).
// The same names as src/engine/wasmtime/platform.ts, which the loader uses; this copy exists
// because native/build.mjs runs at install time, before (or without) dist/. A unit test keeps
// the two in agreement.

/** `gnu` (glibc) or `musl`: Node's diagnostic report names the glibc it runs on, musl has none. */
function linuxLibc() {
  return process.report?.getReport()?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
}

/** `<platform>-<arch>[-<libc>]`, the libc only on Linux (it is what npm's `libc` field checks). */
export function nativeTriple() {
  return process.platform === 'linux' ? `linux-${process.arch}-${linuxLibc()}` : `${process.platform}-${process.arch}`;
}

/** @param {string} triple */
export const addonPackageName = (triple) => `@agent-os-sandbox/wasmtime-${triple}`;

/** @param {string} triple */
export const addonFileName = (triple) => `agentos-wasmtime.${triple}.node`;

/** The exec helper's file name in that package (src/container/exec-helper.ts has the same). @param {string} triple */
export const execHelperFileName = (triple) => `agentos-exec.${triple}`;
