/**
 * The review-team example (`examples/review-team/run.mjs`) run as a user runs it: an
 * orchestrator agent splits the sample sources between two reviewer agents over messaging and
 * records progress in its key-value store, first with all three agents in one process, then
 * with the orchestrator and the reviewers in two processes that meet through a real
 * `nats-server` started here.
 *
 * The example builds its two components itself (into `examples/review-team/build/`, skipped
 * when up to date): `beforeAll` does that once with `--build-only`, so the runs below are not
 * timed with a StarlingMonkey build in them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { TEST_CACHE_DIR } from '../helpers/sandbox.js';
import { skipUnless } from '../helpers/skip.js';
import { startNats } from '../helpers/nats.js';

const RUN = join(REPO_ROOT, 'examples', 'review-team', 'run.mjs');

interface Finding { path: string; line: number; rule: string; message: string; reviewer: string }
interface Report {
  reviewers: { id: string; files: string[] }[];
  findings: Finding[];
  progress: Record<string, string>;
  summary: { files: number; findings: number; byRule: Record<string, number>; unanswered: string[] };
  served?: { id: string; served: number; stoppedBy: string }[];
}

/** What the reviewers must flag in `examples/review-team/sample/src` (see its README). */
const EXPECTED = [
  ['src/config.js', 3, 'todo'],
  ['src/config.js', 4, 'eval'],
  ['src/routes.js', 5, 'console-log'],
  ['src/server.js', 4, 'todo'],
  ['src/server.js', 7, 'console-log'],
  ['src/server.js', 9, 'long-line'],
];

/** Round-robin over the files sorted by path. */
const SHARES = { 'reviewer-1': ['src/config.js', 'src/routes.js'], 'reviewer-2': ['src/math.js', 'src/server.js'] };

interface Exit { code: number | null; stdout: string; stderr: string }

/** Run `node run.mjs args…`; resolves when it exits (killed after `timeoutMs`). */
function runExample(args: string[], timeoutMs = 90_000): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(process.execPath, [RUN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The sandbox's compiled-code cache goes beside the suite's, not into the user's home.
    env: { ...process.env, XDG_CACHE_HOME: TEST_CACHE_DIR },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Exit>((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

function reportOf(exit: Exit): Report {
  expect(exit.code, `run.mjs failed:\n${exit.stderr}`).toBe(0);
  return JSON.parse(exit.stdout) as Report;
}

function checkReport(report: Report): void {
  expect(report.reviewers).toEqual(Object.entries(SHARES).map(([id, files]) => ({ id, files })));
  expect(report.findings.map((f) => [f.path, f.line, f.rule])).toEqual(EXPECTED);
  // Each finding comes from the reviewer that was given its file (the sender the host verified).
  for (const f of report.findings) expect(SHARES[f.reviewer as keyof typeof SHARES]).toContain(f.path);
  expect(report.progress).toEqual({ 'reviewer-1': 'done', 'reviewer-2': 'done' });
  expect(report.summary).toEqual({ files: 4, findings: 6, byRule: { todo: 2, eval: 1, 'console-log': 2, 'long-line': 1 }, unanswered: [] });
}

beforeAll(async () => {
  const exit = await runExample(['--build-only'], 170_000).done;
  expect(exit.code, `building the review team failed:\n${exit.stderr}`).toBe(0);
}, 180_000);

describe('examples/review-team', () => {
  it('reviews the sample with an orchestrator and two reviewers in one process', async () => {
    const report = reportOf(await runExample(['--json']).done);
    checkReport(report);
    expect(report.served).toEqual([
      { id: 'reviewer-1', served: 1, stoppedBy: 'stop' },
      { id: 'reviewer-2', served: 1, stoppedBy: 'stop' },
    ]);
  }, 120_000);

  it('makes one team of two processes meeting through a NATS server', async (ctx) => {
    skipUnless(ctx, needs.natsServer());
    const nats = await startNats();
    try {
      const url = nats.url;
      const reviewers = runExample(['--nats', url, '--part', 'reviewers', '--json', '--idle', '30000']);
      const orchestrator = runExample(['--nats', url, '--part', 'orchestrator', '--json', '--wait', '20000']);
      const [orc, rev] = await Promise.all([orchestrator.done, reviewers.done]);
      checkReport(reportOf(orc));
      expect(reportOf(rev)).toEqual({
        reviewers: [
          { id: 'reviewer-1', served: 1, stoppedBy: 'stop' },
          { id: 'reviewer-2', served: 1, stoppedBy: 'stop' },
        ],
      });
    } finally {
      await nats.stop();
    }
  }, 150_000);
});
