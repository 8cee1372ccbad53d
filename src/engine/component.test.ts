import { describe, expect, it } from 'vitest';
import { checkComponentBytes, checkComponentStructure } from './component.js';
import { writeUleb } from '../util/leb128.js';

const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

const leb = writeUleb;

/** A component with `depth` components nested in one another, the innermost holding `modules` (empty) core modules. */
function nested(depth: number, modules = 0): Uint8Array {
  let inner = [...PREAMBLE];
  for (let i = 0; i < modules; i++) {
    const core = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    inner.push(1, ...leb(core.length), ...core);
  }
  for (let d = 0; d < depth; d++) inner = [...PREAMBLE, 4, ...leb(inner.length), ...inner];
  return Uint8Array.from(inner);
}

describe('component structure caps', () => {
  it('accepts shallow nesting and refuses deep nesting, too many core modules and cut-off sections', () => {
    expect(() => checkComponentStructure(nested(3, 2), 'x')).not.toThrow();
    expect(() => checkComponentStructure(nested(9), 'x')).toThrow(/nested 9 deep/);
    expect(() => checkComponentStructure(nested(0, 300), 'x')).toThrow(/more than 256 core modules/);
    const cut = nested(2, 1).slice(0, -3);
    expect(() => checkComponentBytes(cut, 'x')).toThrow(/runs past the end|cut off/);
    try {
      checkComponentBytes(nested(12), 'x');
    } catch (e) {
      expect((e as { code: string }).code).toBe('COMPONENT_INVALID');
    }
  });
});
