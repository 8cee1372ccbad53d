// orchestrator: a StarlingMonkey agent of type `task-orchestrator` that splits a code review
// between `code-reviewer` agents over agent-os:sandbox/messaging and keeps its progress in
// agent-os:sandbox/kv.
//
// 1. Waits (up to `waitMs`, default 10 s) until `peers()` lists `reviewers` (default 2) agents
//    of type code-reviewer: agents of other processes appear once their announcement arrives.
// 2. Deals the files out round-robin (sorted by path) and sends each reviewer its share,
//    recording `progress/<reviewer>` = "pending" in kv.
// 3. Gathers the replies (`replyTo` = the request's id, sender = the reviewer asked), marking
//    `progress/<reviewer>` = "done", until all answered or `replyMs` (default 30 s) passed.
// 4. Writes `review/summary`, sends `{ "stop": true }` to the reviewers (unless `stop: false`)
//    and returns JSON `{ reviewers: [{ id, files }], findings: [...], progress: {...}, summary }`.
//
// Task: JSON `{ "files": [{ "path", "content" }], "reviewers"?, "waitMs"?, "replyMs"?, "stop"? }`,
// or any other text, reviewed as one file `task.txt`.
import { get as kvGet, set as kvSet, delete as kvDelete, listKeys } from 'agent-os:sandbox/kv@0.1.0';
import { peers as witPeers, send as witSend, receive as witReceive } from 'agent-os:sandbox/messaging@0.1.0';
import { emit } from 'agent-os:sandbox/log@0.1.0';

// --- The part of guest/js/agentos.js this agent uses: `agentos build` does not bundle
// relative imports, so the helper is copied in rather than imported.
const encoder = new TextEncoder();
const decoder = new TextDecoder();

class AgentOsError extends Error {
  constructor(kind, message, op) {
    super(`${op}: ${kind}: ${message}`);
    this.kind = kind;
  }
}

function call(op, fn) {
  try {
    return fn();
  } catch (e) {
    if (e && typeof e === 'object' && e.payload && typeof e.payload.tag === 'string') throw new AgentOsError(e.payload.tag, String(e.payload.val ?? ''), op);
    throw e;
  }
}

const toBytes = (value) => encoder.encode(typeof value === 'string' ? value : JSON.stringify(value));

const kv = {
  get(key) {
    const v = call('kv.get', () => kvGet(key));
    return v === undefined || v === null ? null : decoder.decode(v);
  },
  set(key, value) {
    call('kv.set', () => kvSet(key, toBytes(value), undefined));
  },
  delete(key) {
    return call('kv.delete', () => kvDelete(key));
  },
  list(prefix = '') {
    return [...call('kv.list', () => listKeys(prefix))];
  },
};

const messaging = {
  peers() {
    return witPeers().map((p) => ({ id: p.id, agentType: p.agentType, roles: [...p.roles] }));
  },
  send(to, body) {
    return call('messaging.send', () => witSend(to, toBytes(body)));
  },
  receive(timeoutMs = 0) {
    const m = call('messaging.receive', () => witReceive(timeoutMs));
    if (m === undefined || m === null) return null;
    const text = decoder.decode(m.body);
    return { id: m.id, sender: m.sender, senderType: m.senderType, replyTo: m.replyTo ?? null, text, json: () => JSON.parse(text) };
  },
};
// --- end of the helper.

function parseTask(task) {
  let t;
  try {
    t = JSON.parse(task);
  } catch {
    t = undefined;
  }
  if (!t || typeof t !== 'object' || !Array.isArray(t.files)) t = { files: [{ path: 'task.txt', content: String(task ?? '') }] };
  return {
    files: t.files.map((f) => ({ path: String(f.path), content: String(f.content ?? '') })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    wanted: Math.max(1, Number(t.reviewers ?? 2)),
    waitMs: Number(t.waitMs ?? 10_000),
    replyMs: Number(t.replyMs ?? 30_000),
    stop: t.stop !== false,
  };
}

function reviewersNow() {
  return messaging
    .peers()
    .filter((p) => p.agentType === 'code-reviewer')
    .map((p) => p.id)
    .sort();
}

// There is no sleep in the guest: an empty receive is the wait. Nothing should arrive before
// the requests go out; anything that does is not an answer to them and is dropped.
function findReviewers(wanted, waitMs) {
  const deadline = Date.now() + waitMs;
  let found = reviewersNow();
  while (found.length < wanted && Date.now() < deadline) {
    messaging.receive(Math.min(250, Math.max(1, deadline - Date.now())));
    found = reviewersNow();
  }
  return found.slice(0, wanted);
}

function clearProgress() {
  for (const key of kv.list('progress/')) kv.delete(key);
}

function byPosition(a, b) {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : a.line - b.line || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0);
}

// A WIT `err` must be a string: anything thrown becomes its message.
export function run(task) {
  try {
    return review(task);
  } catch (e) {
    throw e instanceof Error ? e.message : String(e);
  }
}

function review(task) {
  const { files, wanted, waitMs, replyMs, stop } = parseTask(task);
  const reviewers = findReviewers(wanted, waitMs);
  if (reviewers.length === 0) throw `no code-reviewer agent appeared within ${waitMs} ms`;
  emit('info', `${files.length} file(s) for ${reviewers.length} reviewer(s): ${reviewers.join(', ')}`);

  // Deal the files out; only reviewers with a share are asked.
  const shares = new Map(reviewers.map((id) => [id, []]));
  files.forEach((f, i) => shares.get(reviewers[i % reviewers.length]).push(f));
  clearProgress();
  const outstanding = new Map(); // request id → reviewer id
  for (const [id, share] of shares) {
    if (share.length === 0) continue;
    outstanding.set(messaging.send(id, { review: share }), id);
    kv.set(`progress/${id}`, 'pending');
  }

  const findings = [];
  const errors = [];
  const deadline = Date.now() + replyMs;
  while (outstanding.size > 0 && Date.now() < deadline) {
    const m = messaging.receive(Math.max(1, deadline - Date.now()));
    if (m === null) break;
    // Only the reviewer that was asked may answer a request: the sender is verified by the host.
    if (m.replyTo === null || outstanding.get(m.replyTo) !== m.sender) continue;
    outstanding.delete(m.replyTo);
    let answer;
    try {
      answer = m.json();
    } catch {
      answer = { error: 'reply is not JSON' };
    }
    if (answer.error) errors.push({ reviewer: m.sender, error: String(answer.error) });
    for (const f of answer.findings ?? []) findings.push({ path: f.path, line: f.line, rule: f.rule, message: f.message, reviewer: m.sender });
    kv.set(`progress/${m.sender}`, answer.error ? 'failed' : 'done');
    emit('info', `${m.sender} answered: ${(answer.findings ?? []).length} finding(s)`);
  }
  findings.sort(byPosition);

  const byRule = {};
  for (const f of findings) byRule[f.rule] = (byRule[f.rule] ?? 0) + 1;
  const summary = { files: files.length, findings: findings.length, byRule, unanswered: [...outstanding.values()].sort() };
  kv.set('review/summary', summary);

  if (stop) for (const id of reviewers) messaging.send(id, { stop: true });

  const progress = {};
  for (const key of kv.list('progress/')) progress[key.slice('progress/'.length)] = kv.get(key);
  return JSON.stringify({
    reviewers: [...shares].map(([id, share]) => ({ id, files: share.map((f) => f.path) })),
    findings,
    progress,
    summary,
    ...(errors.length ? { errors } : {}),
  });
}
