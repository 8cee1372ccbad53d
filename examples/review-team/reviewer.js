// reviewer: a StarlingMonkey agent of type `code-reviewer` that serves review requests from
// other agents over agent-os:sandbox/messaging.
//
// Each request is a message `{ "review": [{ "path", "content" }] }`; the answer is a reply
// `{ "files": n, "findings": [{ path, line, rule, message }] }` (or `{ "error" }`). The rules
// are deterministic: TODO/FIXME markers, `console.log(`, `eval(`, lines over 120 characters.
// A message `{ "stop": true }` ends the loop, and so does an idle wait with nothing arriving.
//
// Task: JSON `{ "max"?: requests to serve (default 100), "idleMs"?: wait before giving up
// (default 15000) }`, or empty. Returns JSON `{ served, stoppedBy: "stop"|"idle"|"max" }`.
//
// The policy grants only `messaging`, with no peers: this agent can answer whoever asked it
// (a reply needs no `messaging.peers` entry) but cannot message anyone first.
import { receive as witReceive, reply as witReply } from 'agent-os:sandbox/messaging@0.1.0';
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

const messaging = {
  receive(timeoutMs = 0) {
    const m = call('messaging.receive', () => witReceive(timeoutMs));
    if (m === undefined || m === null) return null;
    const text = decoder.decode(m.body);
    return { id: m.id, sender: m.sender, senderType: m.senderType, replyTo: m.replyTo ?? null, text, json: () => JSON.parse(text) };
  },
  reply(id, body) {
    return call('messaging.reply', () => witReply(id, encoder.encode(typeof body === 'string' ? body : JSON.stringify(body))));
  },
};
// --- end of the helper.

const MAX_LINE = 120;
const RULES = [
  { rule: 'todo', test: (line) => /\b(TODO|FIXME)\b/.test(line), message: 'unresolved TODO/FIXME marker' },
  { rule: 'console-log', test: (line) => /\bconsole\.log\s*\(/.test(line), message: 'console.log left in the code' },
  { rule: 'eval', test: (line) => /\beval\s*\(/.test(line), message: 'eval() runs arbitrary code' },
  { rule: 'long-line', test: (line) => line.length > MAX_LINE, message: `line longer than ${MAX_LINE} characters` },
];

/** Findings of one file, in line order then rule order. */
function reviewFile(file) {
  const findings = [];
  String(file.content ?? '').split('\n').forEach((line, i) => {
    for (const r of RULES) if (r.test(line)) findings.push({ path: String(file.path), line: i + 1, rule: r.rule, message: r.message });
  });
  return findings;
}

function answer(request) {
  if (!Array.isArray(request.review)) return { error: 'expected { "review": [{ "path", "content" }] } or { "stop": true }' };
  return { files: request.review.length, findings: request.review.flatMap(reviewFile) };
}

function options(task) {
  try {
    const o = JSON.parse(task || '{}');
    return { max: Number(o.max ?? 100), idleMs: Number(o.idleMs ?? 15_000) };
  } catch {
    return { max: 100, idleMs: 15_000 };
  }
}

export function run(task) {
  const { max, idleMs } = options(task);
  let served = 0;
  let stoppedBy = 'max';
  while (served < max) {
    const m = messaging.receive(idleMs);
    if (m === null) {
      stoppedBy = 'idle';
      break;
    }
    let request;
    try {
      request = m.json();
    } catch {
      messaging.reply(m.id, { error: 'not JSON' });
      continue;
    }
    if (request && request.stop === true) {
      stoppedBy = 'stop';
      break;
    }
    const result = answer(request ?? {});
    emit('info', `reviewed ${result.files ?? 0} file(s) for ${m.sender}: ${result.findings?.length ?? 0} finding(s)`);
    messaging.reply(m.id, result);
    served++;
  }
  return JSON.stringify({ served, stoppedBy });
}
