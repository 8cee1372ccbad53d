/**
 * A short-lived worker thread that meters a component again and hands it to the wasmtime
 * engine, so that its optimized tier gets compiled in the background (native/src/tiers.rs):
 * for a load that found only the baseline artifact (left by a process that ended before the
 * optimized one was done). Metering takes ~0.7 s of JavaScript for a StarlingMonkey agent;
 * here it does not hold up the loading thread. The background compile outlives this thread.
 *
 * workerData: `{ bytes: Uint8Array, cacheDir: string }`.
 */
import { workerData } from 'node:worker_threads';
import { readComponent } from '../component.js';
import { optimizeNative } from './prepare.js';

const { bytes, cacheDir } = workerData as { bytes: Uint8Array; cacheDir: string };
await optimizeNative(await readComponent(bytes), cacheDir).catch(() => undefined);
