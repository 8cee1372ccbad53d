/**
 * `node --import` preload for the *build tool* process only (`jco componentize`): gives
 * preview2-shim a `/` preopen so wasm-tools and componentize-js can read the WIT directory and
 * the agent's source by absolute path. preview2-shim 0.26 has no default preopen. It also makes
 * every package in the process use this package's copy of the shim (`preview2-shim-hooks.ts`).
 *
 * Never load this in a process that runs guests: the preopen is process-global, and a guest
 * wired to the ambient shim would see the whole host file system.
 *
 * @example
 * ```sh
 * node --import ./dist/build/preopen-preload.js node_modules/@bytecodealliance/jco/dist/jco.js \
 *   componentize agent.js --wit wit --world-name agent -o agent.wasm
 * ```
 */
import * as nodeModule from 'node:module';
import * as filesystem from '@bytecodealliance/preview2-shim/filesystem';

// Every later import of the shim (jco's, componentize-js's) gets this same copy, so the preopen
// set below is the one they see (see preview2-shim-hooks.ts). `register` is Node >= 20.6.
const register = (nodeModule as { register?: (specifier: string, parentURL: string, options: { data: unknown }) => void }).register;
register?.('./preview2-shim-hooks.js', import.meta.url, { data: { parentURL: import.meta.url } });

// TypeScript picks the package's browser typings (its `types` condition comes first); under
// Node the module is the Node shim, whose `_setPreopens` maps guest paths to host paths.
const setPreopens = filesystem._setPreopens as unknown as (preopens: Record<string, string>) => void;
setPreopens({ '/': '/' });
