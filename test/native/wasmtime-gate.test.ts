/**
 * The wasmtime addon behind our gate: the C fsprobe agent runs on wasmtime with the very same
 * host capabilities the jco engine uses (`buildHostImports`), bridged by `nativeHost`, so every
 * file, environment and tool access is decided by the real Gate under a real policy, and each
 * decision is an audit event. This is the path the wasmtime engine will take.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DEFAULT_CAPS, type HostContext, type InstanceEvent } from '../../dist/capabilities/context.js';
import { buildHostImports } from '../../dist/engine/jco/host.js';
import { loadWasmtimeAddon } from '../../dist/engine/wasmtime/addon.js';
import { nativeHost, ResourceTable } from '../../dist/engine/wasmtime/dispatch.js';
import { Gate } from '../../dist/gate/gate.js';
import { createSandbox } from '../../dist/index.js';
import type { AuditEvent } from '../../dist/gate/types.js';
import { resolvePolicy } from '../../dist/sandbox/policy-input.js';
import { fixturePath } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';

const hasCargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;

describeNeeds(hasCargo ? [] : [needs.wasmtimeAddon()], 'wasmtime addon behind the gate', () => {
  it('runs fsprobe on wasmtime with the same gated host: allowed, denied and audited like on jco', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'agentos-wt-ws-'));
    writeFileSync(join(ws, 'a.txt'), 'hello');
    writeFileSync(join(ws, 'secret.txt'), 'top secret');
    const policyInput = {
      version: 1,
      capabilities: { allowed: ['read_files', 'read_env', 'execute_tools'] },
      mounts: [{ guest: '/data', host: ws, mode: 'ro' as const }],
      fileAccess: { readonly: ['/data/*.txt'], readwrite: [], forbidden: ['/data/secret.txt'] },
      env: { allow: ['GREETING'] },
    };
    const policy = await resolvePolicy(policyInput);
    const audit: AuditEvent[] = [];
    const events: InstanceEvent[] = [];
    const gate = new Gate(policy as never, 'agent-wt', (e) => {
      audit.push(e);
      return true;
    });
    const ctx: HostContext = { agentId: 'agent-wt', gate, caps: DEFAULT_CAPS, env: [['GREETING', 'hi']], rpc: undefined, emit: (e) => events.push(e), flush: () => {}, count: () => {} };
    const host = buildHostImports(ctx, []);
    const table = new ResourceTable();
    const { Engine } = loadWasmtimeAddon();
    // No epoch ticker thread in the test runner's own process (the run is bounded by its fuel).
    const engine = new Engine({ epochTickMs: 0, maxInstances: 8, maxMemoryBytes: 64 << 20 });
    const component = engine.compileComponent(readFileSync(fixturePath('fsprobe')), mkdtempSync(join(tmpdir(), 'agentos-wt-cache-')));
    const inst = engine.instantiateWithHost(component, { fuel: 10_000_000_000 }, nativeHost(host.imports, table), { jcoResults: true });
    const script = 'read /data/a.txt\nread /data/secret.txt\nls /data\nwrite /data/new.txt x\nstat /data/a.txt\ngetenv GREETING\ngetenv HOME\nprint to stdout';
    const r = engine.run(inst, script);
    host.stdio.end();
    expect('ok' in r, JSON.stringify(r)).toBe(true);
    const lines = ('ok' in r ? r.ok : '').split('\n');
    expect(lines[0]).toBe('ok hello');
    expect(lines[1]).toBe('err ENOENT'); // forbidden files are hidden, as on jco
    expect(lines[5]).toBe('ok hi');

    // The same agent, script and policy on the jco engine: the same answers and the same decisions.
    const sandbox = createSandbox({ audit: false, prewarmWorkers: 0, hostEnv: { GREETING: 'hi' } });
    const jcoAudit: AuditEvent[] = [];
    sandbox.on('audit', (e) => jcoAudit.push(e));
    try {
      const agent = await sandbox.load(fixturePath('fsprobe'), { policy: policyInput });
      expect((await agent.run(script)).output.split('\n')).toEqual(lines);
    } finally {
      await sandbox.close();
    }
    const decisions = (events: AuditEvent[]) => events.filter((e) => e.type === 'capability_used' || e.type === 'capability_denied').map((e) => [e.type, e.api, e.target, e.reason]);
    expect(decisions(audit).length).toBeGreaterThan(3);
    expect(decisions(audit)).toEqual(decisions(jcoAudit));
    expect(audit.filter((e) => e.type === 'capability_denied').map((e) => e.target)).toEqual(expect.arrayContaining(['/data/secret.txt']));
    expect(readFileSync(join(ws, 'a.txt'), 'utf8')).toBe('hello');
    expect(existsSync(join(ws, 'new.txt'))).toBe(false);
    inst.dispose();
    table.clear();
    host.close();
  }, 120_000);
});
