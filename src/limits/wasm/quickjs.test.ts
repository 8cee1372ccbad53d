/**
 * The instrumenter against what componentize-js's QuickJS backend emits (it only builds for
 * worlds without wasi:http, so this uses a small world of its own).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { componentizeJs } from '../../build/js.js';
import { instrumentModule } from './instrument.js';

describe('QuickJS backend output', () => {
  it('every core module of a QuickJS component is metered and still validates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qjs-'));
    const wit = join(dir, 'wit');
    mkdirSync(wit);
    writeFileSync(join(wit, 'world.wit'), 'package test:qjs;\n\nworld agent {\n  export run: func(task: string) -> string;\n}\n');
    const src = join(dir, 'agent.js');
    writeFileSync(src, 'export function run(task) { let s = 0; for (let i = 0; i < 1000; i++) s += i * task.length; return String(s); }\n');
    const out = join(dir, 'agent.wasm');
    await componentizeJs(src, out, { backend: 'quickjs', world: 'agent', witDir: wit });
    const { transpile } = await import('@bytecodealliance/jco');
    const t = await transpile(readFileSync(out), { name: 'agent', instantiation: 'async' });
    const files = (Array.isArray(t.files) ? t.files : Object.entries(t.files)) as [string, Uint8Array][];
    const cores = files.filter(([name]) => name.endsWith('.wasm'));
    expect(cores.length).toBeGreaterThan(0);
    let loops = 0;
    const written: string[] = [];
    for (const [name, bytes] of cores) {
      const r = instrumentModule(bytes, { fuel: true, maxMemoryPages: 16384 });
      // QuickJS's main module uses extended constant expressions, which Node 20 validates
      // only behind a flag: in this process output and input must agree, and below, with
      // the flag, every output must validate.
      expect(WebAssembly.validate(r.bytes), name).toBe(WebAssembly.validate(bytes));
      const f = join(dir, `${name}.metered`);
      writeFileSync(f, r.bytes);
      written.push(f);
      loops += r.stats.loops;
    }
    expect(loops).toBeGreaterThan(10); // the interpreter's loops are charged
    const check = spawnSync(
      process.execPath,
      ['--experimental-wasm-extended-const', '-e', 'const fs = require("node:fs"); for (const f of process.argv.slice(1)) if (!WebAssembly.validate(fs.readFileSync(f))) { console.log("invalid " + f); process.exit(1); }', ...written],
      { encoding: 'utf8' },
    );
    expect(check.status, check.stdout + check.stderr).toBe(0);
  }, 120_000);
});
