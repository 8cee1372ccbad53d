// The review team: an orchestrator agent splits a code review between two reviewer agents over
// agent-os:sandbox/messaging and keeps its progress in agent-os:sandbox/kv.
//
//   node examples/review-team/run.mjs                      # all three agents in this process
//   node examples/review-team/run.mjs --json               # print only the report (JSON)
//   nats-server -p 4222 &                                  # or two processes, over NATS:
//   node examples/review-team/run.mjs --nats nats://127.0.0.1:4222 --part reviewers &
//   node examples/review-team/run.mjs --nats nats://127.0.0.1:4222 --part orchestrator
//
// Other options: --task TEXT|@FILE (default: the files under sample/src), --state DIR (the
// process's audit chain and key-value store; default a fresh temporary directory, removed at
// the end), --wait MS (how long the orchestrator waits for reviewers, default 10000), --idle MS
// (how long a reviewer waits for a request, default 15000, or 60000 with --part reviewers),
// --build-only. The components are built on first use into build/ (StarlingMonkey, ~20 s each).
// Needs dist/ (npm run build).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildAgent, createSandbox } from 'agent-os-sandbox';

const here = fileURLToPath(new URL('.', import.meta.url));
const REVIEWERS = ['reviewer-1', 'reviewer-2'];

function usage(message) {
  console.error(`run.mjs: ${message}\nusage: node run.mjs [--json] [--nats URL --part orchestrator|reviewers] [--task TEXT|@FILE] [--state DIR] [--wait MS] [--idle MS] [--build-only]`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      nats: { type: 'string' },
      part: { type: 'string', default: 'all' },
      task: { type: 'string' },
      state: { type: 'string' },
      wait: { type: 'string', default: '10000' },
      idle: { type: 'string' },
      'build-only': { type: 'boolean', default: false },
    },
  }).values;
} catch (e) {
  usage(e.message);
}
if (!['all', 'orchestrator', 'reviewers'].includes(args.part)) usage(`--part must be orchestrator or reviewers, not ${args.part}`);
if (args.part !== 'all' && !args.nats) usage('--part needs --nats: the other part runs in another process, reached through the broker');
const say = args.json ? () => {} : (line) => console.error(line);

// --- Components: built when missing or when the source or the world changed (a key file
// beside each records what it was built from). Written under a temporary name and renamed,
// so two processes starting together never load a half-written component.
async function ensureBuilt(name) {
  const source = join(here, `${name}.js`);
  const output = join(here, 'build', `${name}.wasm`);
  const key = createHash('sha256').update(readFileSync(source)).update(readFileSync(join(here, '..', '..', 'wit', 'world.wit'))).digest('hex');
  if (existsSync(output) && existsSync(`${output}.key`) && readFileSync(`${output}.key`, 'utf8').trim() === key) return output;
  say(`building ${relative(process.cwd(), output)} (StarlingMonkey, ~20 s)`);
  mkdirSync(join(here, 'build'), { recursive: true });
  const partial = `${output}.${process.pid}.tmp`;
  await buildAgent(source, partial);
  renameSync(partial, output);
  writeFileSync(`${output}.key`, `${key}\n`);
  return output;
}

const [orchestratorWasm, reviewerWasm] = await Promise.all([ensureBuilt('orchestrator'), ensureBuilt('reviewer')]);
if (args['build-only']) process.exit(0);

// --- The task: the sample sources by default.
function sampleTask() {
  const root = join(here, 'sample');
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push({ path: relative(root, path).split('\\').join('/'), content: readFileSync(path, 'utf8') });
    }
  };
  walk(join(root, 'src'));
  return files;
}

function taskText(wait) {
  if (args.task === undefined) return JSON.stringify({ files: sampleTask(), reviewers: REVIEWERS.length, waitMs: wait });
  const text = args.task.startsWith('@') ? readFileSync(args.task.slice(1), 'utf8') : args.task;
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return JSON.stringify({ waitMs: wait, ...parsed });
  } catch {
    // plain text: the orchestrator reviews it as one file
  }
  return text;
}

// --- The sandbox: each process has its own state directory (one LevelDB per process).
const ownState = args.state === undefined;
const state = args.state ?? mkdtempSync(join(tmpdir(), 'agentos-review-team-'));
const sandbox = createSandbox({
  audit: { dir: join(state, 'audit') },
  kv: { dir: join(state, 'kv') },
  messaging: args.nats ? { nats: args.nats } : {},
});
sandbox.on('log', (e) => {
  if (e.stream === 'log') say(`[${e.agentId}] ${e.message}`);
});

let closed = false;
async function finish(code) {
  if (!closed) {
    closed = true;
    await sandbox.close().catch((e) => console.error(`closing the sandbox: ${e.message}`));
    if (ownState) rmSync(state, { recursive: true, force: true });
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void finish(130));

// Every agent blocks in `receive`: each gets a thread of its own, so a wait holds up no other.
const load = (wasm, id, policy) => sandbox.load(wasm, { agentId: id, policy: join(here, policy), isolation: 'thread' });

/** Load the reviewers and start their serve loops; `runs` settles when both loops have ended. */
async function startReviewers() {
  const idleMs = Number(args.idle ?? (args.part === 'reviewers' ? 60_000 : 15_000));
  const agents = await Promise.all(REVIEWERS.map((id) => load(reviewerWasm, id, 'reviewer.yaml')));
  say(`${REVIEWERS.join(' and ')} are serving (idle timeout ${idleMs} ms)`);
  const runs = Promise.all(
    agents.map(async (agent, i) => ({ id: REVIEWERS[i], ...JSON.parse((await agent.run(JSON.stringify({ idleMs }))).output) })),
  );
  // Closing the sandbox on an error ends these runs with a rejection nobody may await.
  runs.catch(() => undefined);
  return { runs };
}

async function orchestrate() {
  const orchestrator = await load(orchestratorWasm, 'orchestrator', 'orchestrator.yaml');
  return JSON.parse((await orchestrator.run(taskText(Number(args.wait)))).output);
}

function printReport(report) {
  console.log(`reviewers: ${report.reviewers.map((r) => `${r.id} (${r.files.join(', ') || 'nothing'})`).join('; ')}`);
  for (const f of report.findings) console.log(`  ${f.path}:${f.line}  ${f.rule.padEnd(11)} ${f.message}  [${f.reviewer}]`);
  console.log(`progress: ${Object.entries(report.progress).map(([id, s]) => `${id} ${s}`).join(', ')}`);
  console.log(`${report.summary.findings} finding(s) in ${report.summary.files} file(s)`);
}

try {
  if (args.part === 'reviewers') {
    const served = await (await startReviewers()).runs;
    if (args.json) console.log(JSON.stringify({ reviewers: served }));
    else for (const r of served) console.log(`${r.id}: served ${r.served} request(s), stopped by ${r.stoppedBy}`);
    await finish(0);
  }
  // One process: the reviewers are loaded (and serving) before the orchestrator looks for them.
  const serving = args.part === 'all' ? (await startReviewers()).runs : undefined;
  const report = await orchestrate();
  if (serving) report.served = await serving;
  if (args.json) console.log(JSON.stringify(report));
  else printReport(report);
  const complete = Object.values(report.progress).every((s) => s === 'done') && report.summary.unanswered.length === 0;
  await finish(complete ? 0 : 1);
} catch (e) {
  console.error(`review-team: ${e?.message ?? e}`);
  await finish(1);
}
