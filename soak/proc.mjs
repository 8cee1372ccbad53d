/**
 * What the soak measures from the outside, through /proc and /sys (Linux): a host process's
 * resident memory and open descriptors, the processes a host left behind, run cgroups, and
 * files left in a directory. Read from the supervisor, so a host cannot hide its own leak.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Resident set size of `pid` in bytes (VmRSS), or undefined once it is gone. */
export function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Number of open file descriptors of `pid`, or undefined once it is gone. */
export function fdCountOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** What the open descriptors of `pid` point at, counted by kind (`socket`, `pipe`, a path's directory…): the detail a leak report needs. */
export function fdKinds(pid) {
  const kinds = {};
  let names;
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return kinds;
  }
  for (const fd of names) {
    let target;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = /^(socket|pipe|anon_inode):/.test(target) ? target.replace(/:.*$/, '') + (target.startsWith('anon_inode') ? target.slice(10) : '') : target.replace(/\/[^/]*$/, '/');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/**
 * Live processes (zombies excluded) that belong to a run: in process group `pgid` (a host is
 * started as a group leader, so its workers and children share it unless they start a new
 * session), or whose command line contains `marker` (native agents run in a new session, so
 * the soak marks their command lines). Each as `{ pid, cmd }`.
 */
export function leftoverProcesses({ pgids = [], marker } = {}) {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const s = stat(pid);
    if (!s || s.state === 'Z') continue;
    const cmd = cmdline(pid);
    if (pgids.includes(s.pgrp) || (marker && cmd.includes(marker))) found.push({ pid, cmd: cmd.slice(0, 160) });
  }
  return found;
}

/** Wait up to `ms` for {@link leftoverProcesses} to come back empty; returns what is still there. */
export async function waitNoLeftovers(query, ms) {
  const until = Date.now() + ms;
  for (;;) {
    const left = leftoverProcesses(query);
    if (left.length === 0 || Date.now() >= until) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every entry under `dir`, recursively, as paths relative to it (directories end in `/`). */
export function listTree(dir) {
  const out = [];
  const walk = (rel) => {
    let entries;
    try {
      entries = readdirSync(join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else out.push(p);
    }
  };
  walk('');
  return out.sort();
}
