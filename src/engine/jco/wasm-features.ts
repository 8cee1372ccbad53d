/**
 * WebAssembly features that toolchains emit and Node 20's V8 keeps behind a flag.
 *
 * CPython built by componentize-py uses extended constant expressions (`i32.add` in a global
 * initializer or a data segment offset). V8 11.3 (Node 20) implements them behind
 * `--experimental-wasm-extended-const`; later V8s ship them. V8 flags are per process, so
 * setting it once here covers the worker threads that instantiate the same modules.
 * Feature-detected: nothing is set where the feature already validates.
 */
import { setFlagsFromString } from 'node:v8';

// (module (global i32 (i32.add (i32.const 1) (i32.const 2))))
const EXTENDED_CONST_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x06, 0x09, 0x01, 0x7f, 0x00, 0x41, 0x01, 0x41, 0x02, 0x6a, 0x0b,
]);

let checked = false;

/** V8 `major.minor` of this process, e.g. 11.3. */
function v8Version(): number {
  const [major = '0', minor = '0'] = process.versions.v8.split('.');
  return Number(major) + Number(minor) / 100;
}

/**
 * Make sure the engine validates modules that use extended-const, and reads branch hints:
 * the fuel instrumentation marks every branch to its refuel call unlikely
 * (`metadata.code.branch_hint`), which V8 before 13.7 applies only behind
 * `--experimental-wasm-branch-hinting` (without it the hints are ignored and metering costs a
 * few percent more). Must run before modules are compiled. Idempotent and cheap.
 */
export function enableWasmFeatures(): void {
  if (checked) return;
  checked = true;
  if (v8Version() < 13.07) setFlagsFromString('--experimental-wasm-branch-hinting');
  if (WebAssembly.validate(EXTENDED_CONST_PROBE)) return;
  setFlagsFromString('--experimental-wasm-extended-const');
}
