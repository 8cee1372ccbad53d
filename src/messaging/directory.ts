/**
 * The messaging directory: who can be messaged, with the keys that make a message to them
 * private and a message from them verifiable. Local agents are entered by their sandbox;
 * agents of other processes arrive as signed announcements over the transport.
 *
 * An announcement is signed with the announcing instance's Ed25519 identity key, carries its
 * X25519 key signed by that identity key, and (when the sandboxes share a CA) its agent
 * certificate, which must validate against the CA and name the same agent id, type and key.
 * Announcements count up per agent: an older one (replayed) never replaces a newer one, and an
 * agent's key is pinned until that agent withdraws (a later claim of the same id with another key
 * is ignored). A withdrawal (closed, revoked, quarantined) is signed by the same key.
 */
import { b64u, fromB64u, signBytes, verifyBytes } from '../identity/keys.js';
import { validateAgentCertificate, type CaState } from '../identity/ca.js';
import { verifyKexKey } from './channel.js';

/** An agent as the directory knows it. */
export interface DirectoryEntry {
  readonly id: string;
  /** Its policy's `agent.type` ('' when none). */
  readonly type: string;
  readonly roles: readonly string[];
  /** Raw Ed25519 identity public key. */
  readonly signingKey: Uint8Array;
  /** Raw X25519 public key messages to it are encrypted to. */
  readonly kexKey: Uint8Array;
  /** The identity key's signature over the X25519 key. */
  readonly kexSig: Uint8Array;
  /** Topics it subscribes to. */
  readonly topics: readonly string[];
  /** Its agent certificate (PEM), when the CA is in use. */
  readonly certificate?: string;
  /** Counts up with each announcement of this agent. */
  readonly seq: number;
  /** Whether it lives in this process. */
  readonly local: boolean;
}

/** What crosses the transport on the directory subject. */
export type DirectoryMessage =
  | { readonly kind: 'announce'; readonly from: string; readonly entry: WireEntry; readonly sig: string }
  | { readonly kind: 'withdraw'; readonly from: string; readonly id: string; readonly seq: number; readonly reason: string; readonly sig: string }
  | { readonly kind: 'query'; readonly from: string };

interface WireEntry {
  readonly id: string;
  readonly type: string;
  readonly roles: readonly string[];
  readonly signingKey: string;
  readonly kexKey: string;
  readonly kexSig: string;
  readonly topics: readonly string[];
  readonly certificate?: string;
  readonly seq: number;
}

const ANNOUNCE = 'agentos-dir-announce/1\0';
const WITHDRAW = 'agentos-dir-withdraw/1\0';
const enc = new TextEncoder();
const MAX_LIST = 256;

function wireOf(e: DirectoryEntry): WireEntry {
  return {
    id: e.id,
    type: e.type,
    roles: [...e.roles],
    signingKey: b64u(e.signingKey),
    kexKey: b64u(e.kexKey),
    kexSig: b64u(e.kexSig),
    topics: [...e.topics],
    ...(e.certificate !== undefined ? { certificate: e.certificate } : {}),
    seq: e.seq,
  };
}

/** The bytes an announcement signs: the entry's fields in a fixed order. */
function announceBytes(w: WireEntry): Uint8Array {
  return enc.encode(ANNOUNCE + JSON.stringify([w.id, w.type, w.roles, w.signingKey, w.kexKey, w.kexSig, w.topics, w.certificate ?? null, w.seq]));
}

function withdrawBytes(id: string, seq: number, reason: string): Uint8Array {
  return enc.encode(WITHDRAW + JSON.stringify([id, seq, reason]));
}

/** A signed announcement of a local entry. */
export function announcement(from: string, e: DirectoryEntry, signingSeed: Uint8Array): DirectoryMessage {
  const entry = wireOf(e);
  return { kind: 'announce', from, entry, sig: b64u(signBytes(signingSeed, announceBytes(entry))) };
}

/** A signed withdrawal of a local entry. */
export function withdrawal(from: string, e: DirectoryEntry, reason: string, signingSeed: Uint8Array): DirectoryMessage {
  const seq = e.seq + 1;
  return { kind: 'withdraw', from, id: e.id, seq, reason, sig: b64u(signBytes(signingSeed, withdrawBytes(e.id, seq, reason))) };
}

const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.length <= MAX_LIST && v.every((x) => isStr(x));

/** Parse a directory message; undefined when it is not one (never throws). */
export function parseDirectoryMessage(bytes: Uint8Array): DirectoryMessage | undefined {
  if (bytes.length > 64 * 1024) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  if (!isStr(o['from'], 64)) return undefined;
  if (o['kind'] === 'query') return { kind: 'query', from: o['from'] };
  if (o['kind'] === 'withdraw') {
    if (!isStr(o['id']) || !Number.isSafeInteger(o['seq']) || typeof o['reason'] !== 'string' || !isStr(o['sig'], 128)) return undefined;
    return { kind: 'withdraw', from: o['from'], id: o['id'], seq: o['seq'] as number, reason: String(o['reason']).slice(0, 256), sig: o['sig'] };
  }
  if (o['kind'] !== 'announce' || typeof o['entry'] !== 'object' || o['entry'] === null || !isStr(o['sig'], 128)) return undefined;
  const e = o['entry'] as Record<string, unknown>;
  const ok =
    isStr(e['id']) && typeof e['type'] === 'string' && e['type'].length <= 256 && isStrList(e['roles']) && isStrList(e['topics']) &&
    isStr(e['signingKey'], 64) && isStr(e['kexKey'], 64) && isStr(e['kexSig'], 128) && Number.isSafeInteger(e['seq']) &&
    (e['certificate'] === undefined || isStr(e['certificate'], 16 * 1024));
  if (!ok) return undefined;
  const entry: WireEntry = {
    id: e['id'] as string,
    type: e['type'] as string,
    roles: e['roles'] as string[],
    signingKey: e['signingKey'] as string,
    kexKey: e['kexKey'] as string,
    kexSig: e['kexSig'] as string,
    topics: e['topics'] as string[],
    ...(e['certificate'] !== undefined ? { certificate: e['certificate'] as string } : {}),
    seq: e['seq'] as number,
  };
  return { kind: 'announce', from: o['from'], entry, sig: o['sig'] };
}

/**
 * Verify an announcement (signature, X25519 binding, certificate when `ca` is given) and turn
 * it into a remote entry; a string says why it is refused.
 */
export async function verifyAnnouncement(m: Extract<DirectoryMessage, { kind: 'announce' }>, ca: CaState | undefined): Promise<DirectoryEntry | string> {
  const w = m.entry;
  let signingKey: Uint8Array, kexKey: Uint8Array, kexSig: Uint8Array;
  try {
    signingKey = fromB64u(w.signingKey);
    kexKey = fromB64u(w.kexKey);
    kexSig = fromB64u(w.kexSig);
  } catch {
    return 'malformed keys';
  }
  if (signingKey.length !== 32 || kexKey.length !== 32) return 'malformed keys';
  if (!verifyBytes(signingKey, announceBytes(w), fromB64u(m.sig))) return 'bad announcement signature';
  if (!verifyKexKey(w.id, signingKey, kexKey, kexSig)) return 'the X25519 key is not signed by the identity key';
  if (ca) {
    if (w.certificate === undefined) return 'no agent certificate, and the CA is in use';
    const v = await validateAgentCertificate(w.certificate, ca);
    if (!v.ok) return `certificate refused: ${v.code}: ${v.reason}`;
    if (v.agentId !== w.id.toLowerCase() || v.agentType !== w.type || !Buffer.from(v.publicKey).equals(Buffer.from(signingKey))) return 'the certificate names another agent, type or key';
  }
  return { id: w.id, type: w.type, roles: w.roles, signingKey, kexKey, kexSig, topics: w.topics, ...(w.certificate !== undefined ? { certificate: w.certificate } : {}), seq: w.seq, local: false };
}

/** Whether a withdrawal is signed by the key of the entry it withdraws. */
export function verifyWithdrawal(m: Extract<DirectoryMessage, { kind: 'withdraw' }>, entry: DirectoryEntry): boolean {
  try {
    return m.seq > entry.seq && verifyBytes(entry.signingKey, withdrawBytes(m.id, m.seq, m.reason), fromB64u(m.sig));
  } catch {
    return false;
  }
}
