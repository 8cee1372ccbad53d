/**
 * One suite, two engines: the same agents, policies and adversarial cases on the jco engine and
 * on the wasmtime addon (when it is built; `npm install` builds it wherever cargo exists). Each
 * case must end the same way on both: output, error code, gate decisions.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent, Sandbox } from '../../dist/index.js';
import { wasmtimeAddonPath } from '../../dist/engine/wasmtime/addon.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, tempDir } from '../helpers/sandbox.js';

const wasmtimeAvailable = existsSync(wasmtimeAddonPath()) || spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;
const ENGINES = wasmtimeAvailable ? (['jco', 'wasmtime'] as const) : (['jco'] as const);

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe.each(ENGINES)('engine %s', (engine) => {
  function sandbox(): { sandbox: Sandbox; audit: AuditEvent[] } {
    const s = recordingSandbox({ engine });
    open.push(s.sandbox);
    return s;
  }

  it('runs an agent and reports its errors', async () => {
    const { sandbox: s } = sandbox();
    expect((await (await s.load(fixturePath('echo'))).run('hello, engine')).output).toBe('hello, engine');
    await expect((await s.load(fixturePath('fail'))).run('x')).rejects.toMatchObject({ code: 'AGENT_ERROR' });
  });

  it('decides files, environment and tools through the gate, with the same answers', async () => {
    const ws = tempDir('engines-ws-');
    writeFileSync(join(ws.dir, 'a.txt'), 'hello');
    writeFileSync(join(ws.dir, 'secret.txt'), 'top secret');
    const { sandbox: s, audit } = sandbox();
    s.registerTool('probe', (input) => ({ echoed: input }));
    const agent = await s.load(fixturePath('fsprobe'), {
      policy: {
        version: 1,
        capabilities: { allowed: ['read_files', 'execute_tools'] },
        mounts: [{ guest: '/data', host: ws.dir, mode: 'ro' }],
        fileAccess: { readonly: ['/data/*.txt'], readwrite: [], forbidden: ['/data/secret.txt'] },
        toolAccess: { allow: ['probe'] },
      },
    });
    const out = (await agent.run('read /data/a.txt\nread /data/secret.txt\nls /data\nwrite /data/b.txt x\ntool probe {"a":1}\ntool nope {}')).output.split('\n');
    expect(out[0]).toBe('ok hello');
    expect(out[1]).toBe('err ENOENT');
    expect(out[2]).toBe('ok a.txt');
    expect(out[3]).toMatch(/^err E/);
    expect(out[4]).toBe('ok {"echoed":{"a":1}}');
    expect(out[5]).toMatch(/^err /);
    expect(existsSync(join(ws.dir, 'b.txt'))).toBe(false);
    const denied = audit.filter((e) => e.type === 'capability_denied').map((e) => e.target);
    expect(denied).toEqual(expect.arrayContaining(['/data/secret.txt']));
    ws.cleanup();
  });

  it('fuel: a loop in run, in the start function and in cabi_realloc ends with FUEL_EXHAUSTED; a neighbour is unaffected', async () => {
    const { sandbox: s } = sandbox();
    const other = await s.load(fixturePath('echo'));
    const FUEL = { version: 1, resourceLimits: { maxFuel: 5_000_000 } };
    const agent = await s.load(fixturePath('hostile'), { policy: FUEL });
    const [bad, good] = await Promise.allSettled([agent.run('L'), other.run('still here')]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'FUEL_EXHAUSTED', details: { limit: 'maxFuel', allowed: 5_000_000 } } });
    expect(good).toMatchObject({ status: 'fulfilled', value: { output: 'still here' } });
    expect((await agent.run('C10')).output).toBe('sum 285');
    await expect(s.load(fixturePath('start-loop'), { policy: FUEL })).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED', message: expect.stringMatching(/start function/) });
    await expect((await s.load(fixturePath('realloc-loop'), { policy: FUEL })).run('task')).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED' });
  });

  it('fuel is deterministic on each engine', async () => {
    const { sandbox: s } = sandbox();
    const a = await s.load(fixturePath('hostile'));
    const runs = [await a.run('C1000'), await a.run('C1000')];
    expect(runs[0]!.fuelUsed).toBeGreaterThan(1000);
    expect(runs[1]!.fuelUsed).toBe(runs[0]!.fuelUsed);
  });

  it('time: a loop without a fuel limit ends with TIMEOUT at maxExecutionTime', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxExecutionTime: '300ms' } } });
    await expect(agent.run('L')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect((await agent.run('C3')).output).toBe('sum 5');
  });

  it('memory: grow fails like an ordinary out-of-memory at the cap; a minimum over the cap is MEMORY_LIMIT at load', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxMemory: '16MiB' } } });
    expect((await agent.run('G')).output).toBe('pages 256');
    await expect(s.load(fixturePath('bigmem'))).rejects.toMatchObject({ code: 'MEMORY_LIMIT' });
  });

  it('deep recursion is AGENT_ERROR and the next run gets a fresh instance', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('hostile'));
    await expect(agent.run('R')).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringMatching(/stack/i) });
    expect((await agent.run('C3')).output).toBe('sum 5');
  });
});
