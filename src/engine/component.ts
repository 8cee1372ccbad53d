/**
 * Reading and validating component bytes before anything compiles them.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ComponentError } from '../errors.js';
import { readUleb } from '../util/leb128.js';

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
  checkComponentStructure(bytes, origin);
}

/** Caps on a component's structure, checked before jco sees it. */
export const COMPONENT_STRUCTURE_LIMITS = Object.freeze({
  /** Components nested inside components. */
  maxNesting: 8,
  /** Core modules in the whole component tree. */
  maxCoreModules: 256,
});


/**
 * Walk the component's sections (component-model binary format: an id byte and a LEB128 size
 * each; id 1 is a core module, id 4 a nested component) to refuse a component nested too
 * deeply or holding too many core modules, and one whose sections run past its end.
 */
export function checkComponentStructure(bytes: Uint8Array, origin: string, limits = COMPONENT_STRUCTURE_LIMITS): void {
  let modules = 0;
  const walk = (start: number, end: number, depth: number): void => {
    if (depth > limits.maxNesting) {
      throw new ComponentError(`${origin}: components nested ${depth} deep; at most ${limits.maxNesting} are accepted`, { nesting: depth });
    }
    let at = start + 8;
    while (at < end) {
      const id = bytes[at]!;
      let size: number;
      let body: number;
      try {
        [size, body] = readUleb(bytes, at + 1);
      } catch {
        throw new ComponentError(`${origin}: malformed component (a section header is cut off)`);
      }
      if (body + size > end) throw new ComponentError(`${origin}: malformed component (a section runs past the end)`);
      if (id === 1 && ++modules > limits.maxCoreModules) {
        throw new ComponentError(`${origin}: more than ${limits.maxCoreModules} core modules`, { coreModules: modules });
      }
      if (id === 4) walk(body, body + size, depth + 1);
      at = body + size;
    }
  };
  walk(0, bytes.length, 0);
}

/** Read and check a component from a path or bytes. */
export async function readComponent(
  input: string | Uint8Array,
  maxBytes = DEFAULT_MAX_COMPONENT_BYTES,
  /** Runs on the bytes before the component checks (a signature check: any flipped byte is a bad signature first). */
  before?: (bytes: Uint8Array, origin: string) => void,
): Promise<ComponentSource> {
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
  if (bytes.length <= maxBytes) before?.(bytes, origin);
  checkComponentBytes(bytes, origin, maxBytes);
  return { bytes, hash: createHash('sha256').update(bytes).digest('hex'), origin };
}
