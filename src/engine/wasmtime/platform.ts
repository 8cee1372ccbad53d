/**
 * Names of the prebuilt wasmtime addon packages, napi-rs style: one npm package per platform
 * triple (`@agent-os-sandbox/wasmtime-linux-x64-gnu`), holding `agentos-wasmtime.<triple>.node`.
 * `native/platform.mjs` computes the same names for `native/build.mjs` (which runs at install,
 * before `dist/` exists); a unit test keeps the two in agreement.
 *
 * @example
 * ```ts
 * addonPackageName(); // '@agent-os-sandbox/wasmtime-linux-x64-gnu' on glibc Linux on x64
 * ```
 */

/** The C library of this Linux process: `gnu` (glibc) or `musl`. */
function linuxLibc(): 'gnu' | 'musl' {
  // Node's diagnostic report names the glibc it runs on; musl builds have no such field.
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
}

let cached: string | undefined;

/** `<platform>-<arch>[-<libc>]`, the libc only on Linux: `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`, `win32-x64`. */
export function nativeTriple(): string {
  cached ??= process.platform === 'linux' ? `linux-${process.arch}-${linuxLibc()}` : `${process.platform}-${process.arch}`;
  return cached;
}

/** The npm package of the prebuilt addon for `triple`. */
export function addonPackageName(triple: string = nativeTriple()): string {
  return `@agent-os-sandbox/wasmtime-${triple}`;
}

/** The addon's file name inside that package. */
export function addonFileName(triple: string = nativeTriple()): string {
  return `agentos-wasmtime.${triple}.node`;
}
