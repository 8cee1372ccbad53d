import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentError, UsageError } from '../errors.js';
import { fixturePath } from '../../test/helpers/fixtures.js';
import { needs } from '../../test/helpers/requirements.js';
import { skipUnless } from '../../test/helpers/skip.js';
import { buildAgent, bundleWit, toolchainVersions, watToComponent } from './index.js';

// A component starts with the wasm magic and layer 1 (core modules have layer 0).
function isComponent(bytes: Uint8Array): boolean {
  return bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d && bytes[6] === 0x01;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentos-build-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bundleWit', () => {
  it('nests the WASI packages after our package', () => {
    const source = bundleWit();
    expect(source.startsWith('package agent-os:sandbox@0.1.0;')).toBe(true);
    expect(source).toContain('package wasi:io@0.2.12 {');
    expect(source).toContain('package wasi:http@0.2.12 {');
  });
});

describe('watToComponent', () => {
  it('turns a canonical-ABI core module into a component', async () => {
    const wat = await readFile(new URL('../../test/fixtures/agents/echo.wat', import.meta.url), 'utf8');
    expect(isComponent(await watToComponent(wat))).toBe(true);
  });

  it('reports WAT that does not parse as ComponentError', async () => {
    await expect(watToComponent('(module (func (i32.bogus)))')).rejects.toBeInstanceOf(ComponentError);
  });

  it('reports a module that does not fit the world as ComponentError', async () => {
    const err = await watToComponent('(module (memory (export "memory") 1))').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComponentError);
    expect((err as ComponentError).message).toMatch(/run/);
  });
});

describe('buildAgent', () => {
  it('refuses unsupported extensions and missing files with UsageError', async () => {
    await expect(buildAgent(join(dir, 'agent.py'), join(dir, 'out.wasm'))).rejects.toBeInstanceOf(UsageError);
    await expect(buildAgent(join(dir, 'missing.wat'), join(dir, 'out.wasm'))).rejects.toBeInstanceOf(UsageError);
  });

  it('builds a .wat file and reports kind and size', async () => {
    const source = join(dir, 'tiny.wat');
    await writeFile(source, await readFile(new URL('../../test/fixtures/agents/trap.wat', import.meta.url), 'utf8'));
    const result = await buildAgent(source, join(dir, 'nested', 'tiny.wasm'));
    expect(result.kind).toBe('wat');
    expect(result.bytes).toBe((await readFile(result.output)).length);
  });

  it('builds C and reports compiler errors with their output', async (ctx) => {
    skipUnless(ctx, needs.clang());
    const source = join(dir, 'broken.c');
    await writeFile(source, 'int run(void) { return missing_symbol; }\n');
    const err = await buildAgent(source, join(dir, 'broken.wasm')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComponentError);
    expect((err as ComponentError).message).toContain('missing_symbol');
  });

  it('without clang, a C build fails with ComponentError naming the packages to install', async () => {
    const source = join(dir, 'fine.c');
    await writeFile(source, 'int x;\n');
    const saved = process.env['AGENTOS_CLANG'];
    process.env['AGENTOS_CLANG'] = 'agentos-no-such-clang';
    try {
      const err = await buildAgent(source, join(dir, 'fine.wasm')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ComponentError);
      expect((err as ComponentError).message).toMatch(/agentos-no-such-clang not found: .*apt-get install clang-22 lld-22 wasi-libc libclang-rt-22-dev-wasm32/);
    } finally {
      if (saved === undefined) delete process.env['AGENTOS_CLANG'];
      else process.env['AGENTOS_CLANG'] = saved;
    }
  });

  it('names the toolchain versions used for build caches', () => {
    const versions = toolchainVersions();
    expect(versions.jco).toMatch(/^\d+\.\d+\.\d+/);
    expect(versions['componentize-js']).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('built fixtures', () => {
  it.each(['echo', 'fail', 'trap', 'loop', 'log', 'start-loop', 'fsprobe', 'fetchprobe'])('%s is a component', async (name) => {
    expect(isComponent(await readFile(fixturePath(name)))).toBe(true);
  });
});
