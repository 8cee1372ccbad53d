/**
 * Module resolution hooks for the build tool process only (registered by `preopen-preload.ts`):
 * every import of `@bytecodealliance/preview2-shim` resolves as it does from this package, so
 * jco, jco-transpile and componentize-js share one copy of the shim — the copy the preload
 * gives its `/` preopen.
 *
 * Why: in an installed agent-os-sandbox npm often cannot dedupe the shim (jco-std wants ^0.25,
 * jco and jco-transpile ^0.26, and componentize-js imports it without declaring it), so each
 * package would load its own copy, one without the preopen, and componentize fails reading the
 * WIT directory (`failed to get path metadata`). In this repository's own tree there is one copy
 * and the hooks change nothing.
 */

interface ResolveContext {
  parentURL?: string | undefined;
  conditions: string[];
  importAttributes: Record<string, string>;
}
type NextResolve = (specifier: string, context?: ResolveContext) => unknown;

const SHIM = '@bytecodealliance/preview2-shim';
let anchor: string | undefined;

/** `data.parentURL`: the module the shim is resolved from (the preload, inside this package). */
export function initialize(data: { parentURL: string }): void {
  anchor = data.parentURL;
}

export function resolve(specifier: string, context: ResolveContext, next: NextResolve): unknown {
  if (anchor && (specifier === SHIM || specifier.startsWith(`${SHIM}/`))) return next(specifier, { ...context, parentURL: anchor });
  return next(specifier, context);
}
