/**
 * The guest helpers for `agent-os:sandbox/kv` and `messaging`, end to end in real sandboxes:
 * the C header `guest/c/agentos.h` (fixture `commsc`, hand-written canonical-ABI layouts) and
 * the Python package `agent_os` (fixture `pyprobe`, componentize-py bindings). Each agent runs
 * the same script and must print the same lines: values (binary ones too) set, read, listed,
 * deleted and expired; a refusal without `storage`; a message to a StarlingMonkey `commsprobe`
 * serving echoes, and its reply matched by `replyTo`; a message received and answered; an
 * unknown recipient.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent, Sandbox } from '../../dist/index.js';
import { FIXTURE_BUILD_DIR, fixturePath } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';
import { recordingSandbox, tempDir } from '../helpers/sandbox.js';

const open: Sandbox[] = [];
const dirs: Array<() => void> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  for (const cleanup of dirs.splice(0)) cleanup();
});

/** A recording sandbox with its own key-value store. */
function sandbox() {
  const kv = tempDir('agentos-guest-kv-');
  const s = recordingSandbox({ kv: { dir: join(kv.dir, 'kv') } });
  open.push(s.sandbox);
  dirs.push(kv.cleanup, () => rmSync(s.auditDir, { recursive: true, force: true }));
  return s;
}

const policy = (type: string, allowed = ['messaging', 'storage']) => ({ version: 1, agent: { type }, capabilities: { allowed }, messaging: { peers: ['*'] } });

/** Run a script (one command a line) and return its output lines. */
async function lines(agent: Agent, ...script: string[]): Promise<string[]> {
  return (await agent.run(script.join('\n'))).output.split('\n');
}

/** The StarlingMonkey agent on the other side: JSON steps (see `commsprobe.js`). */
function commsprobe(s: Sandbox, id: string, type: string): Promise<Agent> {
  return s.load(fixturePath('commsprobe'), { agentId: id, policy: policy(type), isolation: 'thread' });
}

async function steps(agent: Agent, list: Array<Record<string, unknown>>): Promise<Array<{ ok?: unknown; err?: { tag: string; val: string } }>> {
  return JSON.parse((await agent.run(JSON.stringify(list))).output) as Array<{ ok?: unknown; err?: { tag: string; val: string } }>;
}

/** The same cases for each helper: `component()` is the built probe (resolved when a test runs). */
function helperCases(component: () => string): void {
  const probe = (s: Sandbox, allowed?: string[]) => s.load(component(), { agentId: 'probe', policy: policy('prober', allowed) });

  it('sets, reads, lists, deletes and expires values, binary ones included', async () => {
    const { sandbox: s, audit } = sandbox();
    const agent = await probe(s);
    expect(
      await lines(
        agent,
        'kvset notes/1 first\\tline',
        'kvset notes/2 two',
        'kvset other x',
        'kvset bin a\\x00\\x01b\\\\',
        'kvset empty ',
        'kvget notes/1',
        'kvget bin',
        'kvget empty',
        'kvget missing',
        'kvlist notes/',
        'kvdel notes/2',
        'kvdel notes/2',
        'kvlist notes/',
        'kvlist',
        'kvttl brief 1 soon gone',
        'kvttl lasting 600000 stays',
      ),
    ).toEqual([
      'ok', 'ok', 'ok', 'ok', 'ok',
      'ok first\\tline',
      'ok a\\x00\\x01b\\\\',
      'ok ',
      'none',
      'ok notes/1 notes/2',
      'ok true',
      'ok false',
      'ok notes/1',
      'ok bin empty notes/1 other',
      'ok',
      'ok',
    ]);
    await new Promise((r) => setTimeout(r, 50));
    expect(await lines(agent, 'kvget brief', 'kvget lasting', 'kvlist')).toEqual(['none', 'ok stays', 'ok bin empty lasting notes/1 other']);
    const kv = audit.filter((e) => e.agentId === 'probe' && e.capability === 'storage').map((e) => `${e.action} ${e.target} ${e.outcome}`);
    expect(kv).toEqual(expect.arrayContaining(['write kv/notes/1 allowed', 'read kv/notes/1 allowed', 'delete kv/notes/2 allowed', 'read kv/notes/* allowed']));
  });

  it('is refused without the storage capability', async () => {
    const { sandbox: s, audit } = sandbox();
    const agent = await probe(s, ['messaging']);
    const out = await lines(agent, 'kvset k v', 'kvget k', 'kvlist');
    for (const line of out) expect(line).toMatch(/^err denied .*storage/);
    expect(audit.some((e) => e.agentId === 'probe' && e.target === 'kv/k' && e.outcome === 'denied')).toBe(true);
  });

  it('sends to an echoing agent and receives its reply, matched by replyTo', async () => {
    const { sandbox: s, audit } = sandbox();
    const echo = await commsprobe(s, 'echo', 'echoer');
    const agent = await probe(s);
    const served = steps(echo, [{ op: 'echo-serve', count: 1, timeout: 10_000 }]);
    const [peers, sent, got, none] = await lines(agent, 'peers', 'send echo hello\\tworld', 'recv 10000', 'recv 0');
    expect(peers!.split(' ')).toEqual(expect.arrayContaining(['ok', 'echo:echoer']));
    const id = /^ok (\S+)$/.exec(sent!)?.[1];
    expect(id, sent).toBeDefined();
    // ok <id> <sender> <sender-type> <reply-to> <topic> <body>
    expect(got).toMatch(new RegExp(`^ok \\S+ echo echoer ${id} - echo:hello\\\\tworld$`));
    expect(none).toBe('none');
    expect(await served).toEqual([{ ok: 1 }]);
    expect(audit.some((e) => e.agentId === 'probe' && e.action === 'send' && e.target === 'agent:echo' && e.outcome === 'allowed')).toBe(true);
  });

  it('receives a message and answers it', async () => {
    const { sandbox: s } = sandbox();
    const other = await commsprobe(s, 'asker', 'asker');
    const agent = await probe(s);
    const asked = steps(other, [{ op: 'send', to: 'probe', body: 'ping' }, { op: 'receive', timeout: 10_000 }]);
    const [got, replied] = await lines(agent, 'recv 10000', 'reply - pong\\x21');
    const m = /^ok (\S+) asker asker - - ping$/.exec(got!);
    expect(m, got).not.toBeNull();
    const replyId = /^ok (\S+)$/.exec(replied!)?.[1];
    expect(replyId, replied).toBeDefined();
    const [sent, answer] = await asked;
    expect(answer!.ok).toMatchObject({ id: replyId, sender: 'probe', senderType: 'prober', replyTo: sent!.ok, body: 'pong!' });
  });

  it('says not-found for an unknown recipient, and invalid for a reply to nothing received', async () => {
    const { sandbox: s } = sandbox();
    const agent = await probe(s);
    const [unknown, bogus] = await lines(agent, 'send nobody hi', 'reply 00000000-0000-4000-8000-000000000000 x');
    expect(unknown).toMatch(/^err not-found \S/);
    expect(bogus).toMatch(/^err invalid \S/);
  });
}

describe('the C helper (guest/c/agentos.h, fixture commsc)', () => {
  helperCases(() => fixturePath('commsc'));
});

describeNeeds(needs.componentizePy(), 'the Python helper (agent_os, fixture pyprobe)', () => {
  helperCases(() => join(FIXTURE_BUILD_DIR, 'pyprobe.wasm'));
});
