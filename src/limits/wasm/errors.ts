/**
 * The one error the instrumenter throws for a module it will not rewrite. It lives apart from
 * `instrument.ts` (which re-exports it) so that the section and body rewriters can throw it
 * without importing the public entry point, which imports them.
 */

/**
 * `MEMORY_LIMIT`: the module needs more than the caps allow. `COMPONENT_INVALID`: malformed or
 * too large. `UNSUPPORTED`: uses something the instrumenter cannot meter (unknown opcode, GC
 * types, memory64).
 */
export type InstrumentErrorCode = 'MEMORY_LIMIT' | 'COMPONENT_INVALID' | 'UNSUPPORTED';

/**
 * Why a module was refused.
 *
 * @example
 * ```ts
 * try { instrumentModule(bytes, { maxMemoryPages: 256 }) }
 * catch (e) { if (e instanceof InstrumentError && e.code === 'MEMORY_LIMIT') console.error(e.message) }
 * ```
 */
export class InstrumentError extends Error {
  readonly code: InstrumentErrorCode;
  /** For a cap: what the module asks for and what the cap allows (in the cap's unit: pages or elements). */
  readonly requested?: number;
  readonly allowed?: number;

  constructor(code: InstrumentErrorCode, message: string, options?: { cause?: unknown; requested?: number; allowed?: number }) {
    super(message, options);
    this.name = 'InstrumentError';
    this.code = code;
    if (options?.requested !== undefined) this.requested = options.requested;
    if (options?.allowed !== undefined) this.allowed = options.allowed;
  }
}
