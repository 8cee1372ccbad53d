/* global fetch, TextDecoder */
// code-review: a StarlingMonkey agent that reviews the TypeScript under /workspace.
//
// It walks the `/workspace` preopen with the wasi:filesystem imports directly (every open,
// read and directory listing is a gated host call), counts TODO markers in every `.ts` file,
// flags committed `.env` files (the policy forbids reading them, so they show up under
// `refused`), optionally fetches one URL, logs progress through agent-os:sandbox/log and
// returns a JSON report.
//
// Task: JSON { "url": "https://..." } or plain text (the first http(s) URL in it is fetched);
// without a URL nothing is fetched.
import { emit } from 'agent-os:sandbox/log@0.1.0';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const ROOT = '/workspace';
const MAX_FILE_BYTES = 1 << 20;

function describe(e) {
  // WIT errors arrive as thrown values carrying the error-code (e.g. "access", "no-entry").
  if (e && typeof e === 'object' && 'payload' in e) return String(e.payload);
  if (e instanceof Error) return e.message;
  return String(e);
}

function findRoot() {
  for (const [descriptor, path] of getDirectories()) {
    if (path === ROOT || path === ROOT + '/') return descriptor;
  }
  return undefined;
}

function readAll(dir, path) {
  const file = dir.openAt({}, path, {}, { read: true });
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [bytes, eof] = file.read(65536n, offset);
    chunks.push(bytes);
    offset += BigInt(bytes.length);
    if (eof || bytes.length === 0 || offset > BigInt(MAX_FILE_BYTES)) break;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

function todosIn(text) {
  const lines = [];
  text.split('\n').forEach((line, i) => {
    if (/\bTODO\b/.test(line)) lines.push(i + 1);
  });
  return lines;
}

// Depth-first walk; `path` is relative to the preopen. Returns nothing, fills `report`.
function walk(root, path, report) {
  let entries;
  try {
    // Open the directory (the preopen itself as '.', like wasi-libc's opendir) and list it.
    const dir = root.openAt({}, path === '' ? '.' : path, { directory: true }, { read: true });
    const stream = dir.readDirectory();
    entries = [];
    for (let e = stream.readDirectoryEntry(); e; e = stream.readDirectoryEntry()) entries.push(e);
  } catch (e) {
    report.refused.push({ path: `${ROOT}/${path}`, error: describe(e) });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = path === '' ? entry.name : `${path}/${entry.name}`;
    if (entry.type === 'directory') {
      if (entry.name === '.git' || entry.name === 'node_modules') continue;
      walk(root, rel, report);
    } else if (entry.name.endsWith('.ts') || entry.name === '.env' || entry.name.startsWith('.env.')) {
      try {
        const text = readAll(root, rel);
        if (entry.name.endsWith('.ts')) {
          const todoLines = todosIn(text);
          report.files.push({ path: `${ROOT}/${rel}`, lines: text.split('\n').length, todos: todoLines.length, todoLines });
          report.totalTodos += todoLines.length;
          emit('debug', `${rel}: ${todoLines.length} TODO(s)`);
        } else {
          report.findings.push({ path: `${ROOT}/${rel}`, finding: 'committed environment file is readable' });
        }
      } catch (e) {
        report.refused.push({ path: `${ROOT}/${rel}`, error: describe(e) });
        emit('warn', `cannot read ${rel}: ${describe(e)}`);
      }
    }
  }
}

function urlOf(task) {
  try {
    const parsed = JSON.parse(task);
    if (parsed && typeof parsed.url === 'string') return parsed.url;
  } catch {
    // plain text
  }
  const m = /https?:\/\/[^\s"'<>]+/.exec(task);
  return m ? m[0] : undefined;
}

async function fetchOne(url) {
  emit('info', `fetching ${url}`);
  try {
    const res = await fetch(url);
    const body = await res.text();
    return { url, status: res.status, bytes: body.length, excerpt: body.slice(0, 200) };
  } catch (e) {
    emit('warn', `fetch ${url} failed: ${describe(e)}`);
    return { url, error: describe(e) };
  }
}

export async function run(task) {
  const report = { root: ROOT, files: [], totalTodos: 0, findings: [], refused: [], fetch: null };
  const root = findRoot();
  if (root === undefined) {
    emit('error', `${ROOT} is not mounted`);
    throw `${ROOT} is not mounted: give the agent a mount for it`;
  }
  emit('info', `scanning ${ROOT}`);
  walk(root, '', report);
  emit('info', `${report.files.length} TypeScript file(s), ${report.totalTodos} TODO(s)`);
  const url = urlOf(task ?? '');
  if (url !== undefined) report.fetch = await fetchOne(url);
  return JSON.stringify(report, null, 2);
}
