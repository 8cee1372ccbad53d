/**
 * `agentos build agent.py` and `agentos run` of the result, from the command line; and what a
 * user without componentize-py is told.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';
import { skipUnless } from '../helpers/skip.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-pycli-');
afterAll(() => tmp.cleanup());

function agentos(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 120_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('agentos build agent.py', () => {
  it('without componentize-py: exit 2, COMPONENT_INVALID, and the pinned install command', () => {
    const src = join(tmp.dir, 'lonely.py');
    writeFileSync(src, 'def run(task):\n    return task\n');
    // Nothing on PATH but node, and an empty cache: no componentize-py anywhere.
    const empty = join(tmp.dir, 'empty-cache');
    mkdirSync(empty);
    const r = agentos(['build', src, '-o', join(tmp.dir, 'lonely.wasm'), '--json'], { PATH: dirname(process.execPath), XDG_CACHE_HOME: empty, AGENTOS_COMPONENTIZE_PY: '' });
    expect(r.status, r.stderr).toBe(2);
    const body = JSON.parse(r.stdout.trim());
    expect(body.error.code).toBe('COMPONENT_INVALID');
    expect(body.error.message).toContain('python3 -m pip install componentize-py==0.25.1');
  });

  it('refuses a file name that is not a Python module name, saying how to rename it', () => {
    const src = join(tmp.dir, 'my-agent.py');
    writeFileSync(src, 'def run(task):\n    return task\n');
    const r = agentos(['build', src, '-o', join(tmp.dir, 'x.wasm'), '--json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout.trim()).error).toMatchObject({ code: 'USAGE', message: expect.stringContaining('my_agent.py') });
  });

  it('builds a Python agent that runs under a policy: output, a log line, an error as exit 1', (ctx) => {
    skipUnless(ctx, needs.componentizePy());
    const dir = join(tmp.dir, 'shout');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'word.txt'), 'quiet');
    writeFileSync(
      join(dir, 'shout.py'),
      'import agent_os\n\ndef run(task: str) -> str:\n    if task == "boom":\n        raise agent_os.AgentError("asked to fail")\n' +
        '    agent_os.info("shouting")\n    with open("/data/word.txt") as f:\n        return f.read().upper() + task\n',
    );
    const out = join(dir, 'shout.wasm');
    const built = agentos(['build', join(dir, 'shout.py'), '-o', out, '--json']);
    expect(built.status, built.stderr).toBe(0);
    expect(JSON.parse(built.stdout.trim())).toMatchObject({ ok: true, kind: 'python' });
    const env = { XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') };
    const ran = agentos(['run', out, '--mount', `/data=${join(dir, 'data')}`, '--task', '!', '--no-audit', '--json'], env);
    expect(ran.status, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout.trim())).toMatchObject({ ok: true, output: 'QUIET!' });
    const failed = agentos(['run', out, '--task', 'boom', '--no-audit', '--json'], env);
    expect(failed.status).toBe(1);
    expect(JSON.parse(failed.stdout.trim()).error).toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('asked to fail') });
  }, 180_000);
});
