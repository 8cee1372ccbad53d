/**
 * Signed components: claims about a component (who issued it, what it is, what it may ask
 * for, until when), signed with an issuer's Ed25519 key and carried inside the component as its
 * last custom section, `agentos-signature`.
 *
 * The signature covers the claims; the claims name the SHA-256 of every byte of the component
 * before that section. So flipping any byte of the component changes the hash (`TAMPERED`),
 * and changing the claims breaks the signature (`BAD_SIGNATURE`). The section must be the
 * component's last: nothing can be appended after signing.
 *
 * Payload (UTF-8 JSON): `{"v":1,"alg":"EdDSA","kid":…,"claims":{…},"sig":"<base64url>"}`;
 * the signed bytes are `agentos-component-signature/v1\n` followed by the claims as JSON with
 * members in the order of {@link ComponentClaims}.
 *
 * @example
 * ```ts
 * const signed = signComponent(bytes, seed, { iss: 'acme', kid, sub: 'code-reviewer', agentType: 'code-reviewer', capabilities: ['read_files'], validityMs: 90 * 86400_000 });
 * const r = verifyComponent(signed, keyStore);   // { ok: true, claims } or { ok: false, code, reason }
 * ```
 */
import { createHash, randomUUID } from 'node:crypto';
import { b64u, fromB64u, signBytes, verifyBytes } from './keys.js';
import type { KeyProvider } from './types.js';
import { readUleb, writeUleb } from '../util/leb128.js';

/** Name of the custom section that carries the signature. */
export const SIGNATURE_SECTION = 'agentos-signature';
const DOMAIN = 'agentos-component-signature/v1\n';
const PREAMBLE = 8;
/** `\0asm`, then version 0x0d and layer 1: a component (a core module has layer 0). */
const COMPONENT_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/** What an issuer asserts about a component. */
export interface ComponentClaims {
  /** The issuer (a name). */
  readonly iss: string;
  /** The issuer key's id. */
  readonly kid: string;
  /** The subject: what the component is (an agent name). */
  readonly sub: string;
  /** SHA-256 (hex) of the component's bytes before the signature section. */
  readonly hash: string;
  readonly agentType: string;
  /** The capabilities the component may be granted (the policy is intersected with them). */
  readonly capabilities: readonly string[];
  /** Issued at, not before, expires (epoch ms). */
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  /** A unique id of this signature. */
  readonly jti: string;
}

/** Why a component signature is refused. */
export type SignatureProblem = 'UNSIGNED' | 'MALFORMED' | 'TAMPERED' | 'BAD_SIGNATURE' | 'UNTRUSTED_ISSUER' | 'EXPIRED' | 'NOT_YET_VALID';

/** The outcome of {@link verifyComponent}. */
export type SignatureCheck = { readonly ok: true; readonly claims: ComponentClaims } | { readonly ok: false; readonly code: SignatureProblem; readonly reason: string; readonly claims?: ComponentClaims };


const leb = writeUleb;

/** Where the component's top-level signature section is, if it has one (throws on a malformed component). */
function findSignature(bytes: Uint8Array): { start: number; payload: Uint8Array } | undefined {
  if (bytes.length < PREAMBLE || !COMPONENT_PREAMBLE.every((x, i) => bytes[i] === x)) {
    throw new RangeError('not a WebAssembly component (its first 8 bytes are not the component preamble \\0asm 0d 00 01 00)');
  }
  let at = PREAMBLE;
  let found: { start: number; payload: Uint8Array; end: number } | undefined;
  while (at < bytes.length) {
    const start = at;
    const id = bytes[at]!;
    const [size, body] = readUleb(bytes, at + 1);
    const end = body + size;
    if (end > bytes.length) throw new RangeError('a section runs past the end of the component');
    if (id === 0) {
      const [nameLen, nameAt] = readUleb(bytes, body);
      const name = Buffer.from(bytes.subarray(nameAt, nameAt + nameLen)).toString('utf8');
      if (name === SIGNATURE_SECTION) {
        if (found) throw new RangeError('more than one signature section');
        found = { start, payload: bytes.subarray(nameAt + nameLen, end), end };
      }
    }
    at = end;
  }
  if (found && found.end !== bytes.length) throw new RangeError('the signature section is not the last section (something was appended after signing)');
  return found;
}

/** The component without its signature section (the bytes the claims' hash covers). */
export function unsignedBytes(bytes: Uint8Array): Uint8Array {
  const s = findSignature(bytes);
  return s ? bytes.subarray(0, s.start) : bytes;
}

function signedMessage(c: ComponentClaims): Buffer {
  // Members in a fixed order: the signed bytes do not depend on how the claims were built.
  const ordered = { iss: c.iss, kid: c.kid, sub: c.sub, hash: c.hash, agentType: c.agentType, capabilities: [...c.capabilities], iat: c.iat, nbf: c.nbf, exp: c.exp, jti: c.jti };
  return Buffer.from(DOMAIN + JSON.stringify(ordered));
}

/** What {@link signComponent} needs besides the component and key. */
export interface SignOptions {
  readonly iss: string;
  readonly kid: string;
  readonly sub: string;
  readonly agentType: string;
  readonly capabilities: readonly string[];
  /** How long the signature is valid. Default 90 days. */
  readonly validityMs?: number;
  /** Default now. */
  readonly notBefore?: number;
  readonly now?: number;
}

/**
 * Sign a component: returns its bytes (without any earlier signature) followed by a new
 * signature section. Throws `RangeError` when the bytes are not a component.
 */
export function signComponent(bytes: Uint8Array, issuerSeed: Uint8Array, o: SignOptions): Uint8Array {
  const body = unsignedBytes(bytes);
  const now = o.now ?? Date.now();
  const claims: ComponentClaims = {
    iss: o.iss,
    kid: o.kid,
    sub: o.sub,
    hash: createHash('sha256').update(body).digest('hex'),
    agentType: o.agentType,
    capabilities: [...new Set(o.capabilities)].sort(),
    iat: now,
    nbf: o.notBefore ?? now,
    exp: (o.notBefore ?? now) + (o.validityMs ?? 90 * 86_400_000),
    jti: randomUUID(),
  };
  const sig = signBytes(issuerSeed, signedMessage(claims));
  const payload = Buffer.from(JSON.stringify({ v: 1, alg: 'EdDSA', kid: o.kid, claims, sig: b64u(sig) }));
  const name = Buffer.from(SIGNATURE_SECTION);
  const content = [...leb(name.length), ...name, ...payload];
  const section = Uint8Array.from([0, ...leb(content.length), ...content]);
  const out = new Uint8Array(body.length + section.length);
  out.set(body, 0);
  out.set(section, body.length);
  return out;
}

/** Read the claims without checking them (for display). */
export function readClaims(bytes: Uint8Array): ComponentClaims | undefined {
  try {
    const s = findSignature(bytes);
    return s ? (JSON.parse(Buffer.from(s.payload).toString('utf8')) as { claims: ComponentClaims }).claims : undefined;
  } catch {
    return undefined;
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 1024;
const isTime = (v: unknown): v is number => Number.isSafeInteger(v);

function wellFormed(c: unknown): c is ComponentClaims {
  const x = c as Record<string, unknown> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    isStr(x['iss']) &&
    isStr(x['kid']) &&
    isStr(x['sub']) &&
    typeof x['hash'] === 'string' &&
    /^[0-9a-f]{64}$/.test(x['hash']) &&
    isStr(x['agentType']) &&
    Array.isArray(x['capabilities']) &&
    x['capabilities'].length <= 64 &&
    x['capabilities'].every(isStr) &&
    isTime(x['iat']) &&
    isTime(x['nbf']) &&
    isTime(x['exp']) &&
    isStr(x['jti'])
  );
}

/**
 * Check a component's signature against the issuers `keys` trusts (`trust(kid)`: active, or
 * rotated within its overlap; never revoked or expired keys), its hash and its validity period.
 * Never throws for bad input. `allowIssuers`, when given, further limits which key ids count.
 */
export function verifyComponent(bytes: Uint8Array, keys: Pick<KeyProvider, 'trust'>, options: { now?: number; allowIssuers?: readonly string[] } = {}): SignatureCheck {
  const now = options.now ?? Date.now();
  let s: ReturnType<typeof findSignature>;
  try {
    s = findSignature(bytes);
  } catch (e) {
    return { ok: false, code: 'MALFORMED', reason: `component structure: ${(e as Error).message}` };
  }
  if (!s) return { ok: false, code: 'UNSIGNED', reason: `the component has no ${SIGNATURE_SECTION} section; sign it with \`agentos sign\`` };
  let env: { v?: unknown; alg?: unknown; kid?: unknown; claims?: unknown; sig?: unknown };
  try {
    env = JSON.parse(Buffer.from(s.payload).toString('utf8')) as typeof env;
  } catch {
    return { ok: false, code: 'MALFORMED', reason: 'the signature section is not JSON' };
  }
  if (env?.v !== 1 || env.alg !== 'EdDSA' || !isStr(env.kid) || !isStr(env.sig) || !wellFormed(env.claims) || env.claims.kid !== env.kid) {
    return { ok: false, code: 'MALFORMED', reason: 'the signature section is not a version-1 EdDSA signature with well-formed claims' };
  }
  const claims = env.claims;
  if (options.allowIssuers && !options.allowIssuers.includes(claims.kid)) {
    return { ok: false, code: 'UNTRUSTED_ISSUER', reason: `issuer key ${claims.kid} is not among the trusted issuers`, claims };
  }
  const trust = keys.trust(claims.kid, now);
  if (!trust.ok) return { ok: false, code: 'UNTRUSTED_ISSUER', reason: `issuer key ${claims.kid}: ${trust.reason}`, claims };
  let sig: Uint8Array;
  try {
    sig = fromB64u(env.sig);
  } catch {
    return { ok: false, code: 'MALFORMED', reason: 'the signature is not base64url', claims };
  }
  if (!verifyBytes(fromB64u(trust.key.publicKey), signedMessage(claims), sig)) {
    return { ok: false, code: 'BAD_SIGNATURE', reason: `the claims are not signed by issuer key ${claims.kid}`, claims };
  }
  const hash = createHash('sha256').update(bytes.subarray(0, s.start)).digest('hex');
  if (hash !== claims.hash) return { ok: false, code: 'TAMPERED', reason: 'the component was changed after it was signed (its hash does not match the signed claims)', claims };
  if (now < claims.nbf) return { ok: false, code: 'NOT_YET_VALID', reason: `the signature is valid from ${new Date(claims.nbf).toISOString()}`, claims };
  if (now >= claims.exp) return { ok: false, code: 'EXPIRED', reason: `the signature expired at ${new Date(claims.exp).toISOString()}`, claims };
  return { ok: true, claims };
}
