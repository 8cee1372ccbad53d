/**
 * Both engines run the same metered code: the jco engine meters a component's core modules with
 * the instrumenter's refuel hook, the wasmtime engine with its stop-flag mode (native/src/meter.rs),
 * and the charges are the same. So the same agent and task report the same `fuelUsed` on both,
 * run after run, and a budget runs out at the same point.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import type { LoadOptions, Sandbox } from '../../dist/index.js';
import { wasmtimeAddonPath } from '../../dist/engine/wasmtime/addon.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox } from '../helpers/sandbox.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';

const hasCargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;
const ready = existsSync(wasmtimeAddonPath()) || hasCargo;

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function sandbox(engine: 'jco' | 'wasmtime'): Sandbox {
  const { sandbox: s } = recordingSandbox({ engine });
  open.push(s);
  return s;
}

/** `fuelUsed` of each task in turn, on a fresh agent of `fixture` on `engine`. */
async function fuel(engine: 'jco' | 'wasmtime', fixture: string, tasks: string[], policy?: LoadOptions['policy']): Promise<number[]> {
  const agent = await sandbox(engine).load(fixturePath(fixture), policy ? { policy } : {});
  const out: number[] = [];
  for (const t of tasks) out.push((await agent.run(t)).fuelUsed);
  return out;
}

describeNeeds(ready ? [] : [needs.wasmtimeAddon()], 'the same fuel on both engines', () => {
  it('WAT and C agents report the same fuelUsed on jco and wasmtime, run after run', async () => {
    const echo = ['hello', 'hello', 'a longer task than the first one'];
    const [je, we] = await Promise.all([fuel('jco', 'echo', echo), fuel('wasmtime', 'echo', echo)]);
    expect(we).toEqual(je);
    expect(je[0]).toBeGreaterThan(0);
    const probe = ['print one', 'print one', 'printn 50'];
    const [jp, wp] = await Promise.all([fuel('jco', 'fsprobe', probe), fuel('wasmtime', 'fsprobe', probe)]);
    expect(wp).toEqual(jp);
    expect(jp[2]).toBeGreaterThan(jp[1]!);
  });

  it('a budget runs out at the same charge: FUEL_EXHAUSTED with the same fuel requested', async () => {
    const policy = { version: 1, resourceLimits: { maxFuel: 5_000_000 } };
    const requested = async (engine: 'jco' | 'wasmtime') => {
      const agent = await sandbox(engine).load(fixturePath('loop'), { policy });
      const e = (await agent.run('spin').catch((x: unknown) => x)) as { code: string; details: { requested: number } };
      expect(e.code).toBe('FUEL_EXHAUSTED');
      return e.details.requested;
    };
    const [j, w] = await Promise.all([requested('jco'), requested('wasmtime')]);
    expect(w).toBe(j);
    expect(j).toBeGreaterThan(5_000_000);
  });
});
