/**
 * Reading and validating component bytes before anything compiles them.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ComponentError } from '../errors.js';

/** Default cap on a component's size: 128 MiB (a StarlingMonkey agent is ~17 MiB). */
export const DEFAULT_MAX_COMPONENT_BYTES = 128 * 1024 * 1024;

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const COMPONENT_LAYER = [0x0d, 0x00, 0x01, 0x00];
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00];

/** Component bytes with their content hash. */
export interface ComponentSource {
  readonly bytes: Uint8Array;
  /** sha256, hex. */
  readonly hash: string;
  /** Where it came from (a path, or `<bytes>`). */
  readonly origin: string;
}

function startsWith(bytes: Uint8Array, at: number, expect: readonly number[]): boolean {
  return expect.every((b, i) => bytes[at + i] === b);
}

/** Check the header and size; throws `COMPONENT_INVALID` with a message saying what to do. */
export function checkComponentBytes(bytes: Uint8Array, origin: string, maxBytes = DEFAULT_MAX_COMPONENT_BYTES): void {
  if (bytes.length > maxBytes) {
    throw new ComponentError(`${origin}: ${bytes.length} bytes is over the component size cap of ${maxBytes} bytes; raise maxComponentBytes if this is expected`, {
      size: bytes.length,
      maxBytes,
    });
  }
  if (bytes.length < 8 || !startsWith(bytes, 0, MAGIC)) {
    throw new ComponentError(`${origin}: not a WebAssembly file (bad magic number); build the agent with \`agentos build\``);
  }
  if (startsWith(bytes, 4, CORE_VERSION)) {
    throw new ComponentError(
      `${origin}: this is a core WebAssembly module, not a component; wrap it with \`jco new\` (add --wasi-reactor for WASI modules) or build it with \`agentos build\``,
    );
  }
  if (!startsWith(bytes, 4, COMPONENT_LAYER)) {
    throw new ComponentError(`${origin}: unsupported WebAssembly version/layer; expected a WASI 0.2 component`);
  }
}

/** Read and check a component from a path or bytes. */
export async function readComponent(input: string | Uint8Array, maxBytes = DEFAULT_MAX_COMPONENT_BYTES): Promise<ComponentSource> {
  let bytes: Uint8Array;
  let origin: string;
  if (typeof input === 'string') {
    origin = input;
    let size: number;
    try {
      const st = await stat(input);
      if (!st.isFile()) throw new ComponentError(`${input}: not a regular file`);
      size = st.size;
    } catch (e) {
      if (e instanceof ComponentError) throw e;
      throw new ComponentError(`${input}: cannot read component (${(e as NodeJS.ErrnoException).code ?? String(e)}); check the path`, { path: input });
    }
    if (size > maxBytes) checkComponentBytes(new Uint8Array(size), input, maxBytes);
    bytes = new Uint8Array(await readFile(input));
  } else if (input instanceof Uint8Array) {
    origin = '<bytes>';
    bytes = input;
  } else {
    throw new ComponentError('load() takes a file path or a Uint8Array of component bytes');
  }
  checkComponentBytes(bytes, origin, maxBytes);
  return { bytes, hash: createHash('sha256').update(bytes).digest('hex'), origin };
}
