#!/usr/bin/env node
/**
 * Identity: what authentication costs the gate and the loader, each figure beside an
 * alternative measured in the same run (see bench/README.md, section 7):
 *
 *   1. Ed25519 sign/verify of a mutual-auth challenge: node:crypto (what we use) vs
 *      @noble/ed25519; verifying the signature of the StarlingMonkey component (~17 MB: SHA-256 of
 *      every byte before the signature section + one Ed25519 verification): ours
 *      (`verifyComponent`) vs the same check with @noble/ed25519 doing the Ed25519 part;
 *   2. access-token validation (`TokenService.validate`, JWT EdDSA through jose): uncached
 *      (`cacheSize: 0`) vs bare `jose.jwtVerify` of the same tokens, and the verified-token cache
 *      vs uncached; p50 / p99 against the issue's targets (p50 ≤ 50 µs uncached, ≤ 5 µs cached);
 *   3. agent certificate validation (`validateAgentCertificate`: chain, expiry, CRL): first sight
 *      of a certificate, a certificate seen before (its leaf cache) and nothing cached (a new
 *      CRL), vs node:crypto `X509Certificate#verify` + validity dates (a lower bound) and
 *      @peculiar/x509 `X509Certificate#verify({ publicKey, date })`.
 *
 * The keys live in a real `KeyStore` (encrypted at rest) and revocations in a real
 * `RevocationStore`, both in a temporary directory removed at the end.
 *
 * Run alone with `node bench/identity.mjs` (after `npm run build`); `bench/run.mjs` runs it.
 * BENCH_QUICK=1 cuts the sample counts 10× (a smoke run, not for reporting).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as noble from '@noble/ed25519';
import { X509Certificate, createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importJWK, jwtVerify } from 'jose';
import { createCa, issueAgentCertificate, refreshCrl, validateAgentCertificate } from '../dist/identity/ca.js';
import { b64u, fingerprint, fromB64u, generateKeyPair, publicJwk, publicKeyObject, signBytes, verifyBytes } from '../dist/identity/keys.js';
import { KeyStore } from '../dist/identity/keystore.js';
import { challengeMessage } from '../dist/identity/mutual-auth.js';
import { RevocationStore } from '../dist/identity/revocations.js';
import { signComponent, unsignedBytes, verifyComponent } from '../dist/identity/signature.js';
import { TOKEN_AUDIENCES, TOKEN_TYPES, TokenService } from '../dist/identity/tokens.js';
import { jsAgent } from './lib/agents.mjs';
import { fmtMs, fmtRatio, median, percentile, sampleSync, table } from './lib/stats.mjs';

const JOSE_VERSION = JSON.parse(readFileSync(fileURLToPath(new URL('../node_modules/jose/package.json', import.meta.url)), 'utf8')).version;

/** Targets from the agent-identity issue (ms). */
const TARGET_TOKEN_UNCACHED = 0.05;
const TARGET_TOKEN_CACHED = 0.005;

const HEADER = ['operation', 'n', 'p50', 'p99', 'target p50', 'alternative', 'alt n', 'alt p50', 'alt p99', 'ours/alt'];
const verdict = (xs, target) => `≤ ${fmtMs(target)} ${median(xs) <= target ? 'met' : 'MISSED'}`;

/** ours/alt, with two significant digits below 0.01× (fmtRatio would print 0.00×). */
const ratio = (a, b) => (a / b < 0.01 ? `${(a / b).toPrecision(2)}×` : fmtRatio(a, b));

/** A table row: ours (p99 only with ≥ 100 samples), an optional target, an optional alternative and the ratio of the medians. */
function row(label, xs, alt, target) {
  const p99 = (s) => (s && s.length >= 100 ? fmtMs(percentile(s, 99)) : '—');
  return [
    label, String(xs.length), fmtMs(median(xs)), p99(xs), target ? verdict(xs, target) : '—',
    alt ? alt.label : '—', alt ? String(alt.xs.length) : '', alt ? fmtMs(median(alt.xs)) : '', alt ? p99(alt.xs) : '', alt ? ratio(median(xs), median(alt.xs)) : '',
  ];
}

/**
 * Time each function of `fns` `n` times, in `rounds` blocks of n/rounds consecutive calls; the
 * order of the functions rotates from round to round, so load drifting on a shared machine hits
 * them alike, while each runs in a steady loop of its own (calling a 3 µs function between
 * thread-pool jobs of another one inflates it several times). `warmup` untimed calls precede
 * each function's first block. The function gets its call number (warm-up calls first: 0, 1, …);
 * returns one array of ms samples per function.
 */
async function rotating(n, fns, { warmup = 0, rounds = 5 } = {}) {
  const out = fns.map(() => []);
  const next = fns.map(() => 0);
  const per = Math.ceil(n / rounds);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < fns.length; j++) {
      const f = (r + j) % fns.length;
      if (r === 0) for (let w = 0; w < warmup; w++) await fns[f](next[f]++);
      for (let k = 0; k < per && out[f].length < n; k++) {
        const i = next[f]++;
        const t0 = performance.now();
        await fns[f](i);
        out[f].push(performance.now() - t0);
      }
    }
  }
  return out;
}

// ---- 1. signatures ---------------------------------------------------------------------------

/** A trust provider over one in-memory key (what `verifyComponent` asks: `trust(kid)`). */
function trustOf(pair) {
  const fp = fingerprint(pair.publicKey);
  const key = { kid: fp.slice(0, 16), name: 'issuer', publicKey: b64u(pair.publicKey), fingerprint: fp, created: 0, status: 'active' };
  return { kid: key.kid, trust: (kid) => (kid === key.kid ? { ok: true, key } : { ok: false, reason: 'unknown' }) };
}

function uleb(b, at) {
  let v = 0;
  for (let shift = 0; ; shift += 7, at++) {
    v += (b[at] & 0x7f) * 2 ** shift;
    if ((b[at] & 0x80) === 0) return [v, at + 1];
  }
}

/**
 * The check `verifyComponent` makes, with @noble/ed25519 for the signature: find the signature
 * section (the same section walk, `unsignedBytes`), parse it, rebuild the signed message (the
 * claims in their fixed member order), verify, hash the bytes before the section, compare, check
 * the validity period.
 */
function nobleVerifyComponent(bytes, publicKey, now = Date.now()) {
  const body = unsignedBytes(bytes);
  const [, afterSize] = uleb(bytes, body.length + 1);
  const [nameLen, nameAt] = uleb(bytes, afterSize);
  const env = JSON.parse(Buffer.from(bytes.subarray(nameAt + nameLen)).toString('utf8'));
  const c = env.claims;
  const ordered = { iss: c.iss, kid: c.kid, sub: c.sub, hash: c.hash, agentType: c.agentType, capabilities: [...c.capabilities], iat: c.iat, nbf: c.nbf, exp: c.exp, jti: c.jti };
  const message = Buffer.from(`agentos-component-signature/v1\n${JSON.stringify(ordered)}`);
  if (!noble.verify(fromB64u(env.sig), message, publicKey)) return false;
  if (createHash('sha256').update(body).digest('hex') !== c.hash) return false;
  return now >= c.nbf && now < c.exp;
}

async function signatureSection({ q, progress }) {
  const lines = [];
  const pair = generateKeyPair();
  // The bytes an agent signs to answer a mutual-auth challenge (verifier id, 32-byte nonce, expiry).
  const msg = challengeMessage({ verifierId: randomUUID(), nonce: b64u(randomBytes(32)), expiresAt: Date.now() + 30_000 });
  const sig = signBytes(pair.privateKey, msg);
  // @noble's synchronous API needs a SHA-512: node's, so the columns differ only in the curve arithmetic.
  noble.hashes.sha512 ??= (m) => new Uint8Array(createHash('sha512').update(m).digest());
  if (!noble.verify(sig, msg, pair.publicKey) || !verifyBytes(pair.publicKey, msg, noble.sign(msg, pair.privateKey))) throw new Error('node:crypto and @noble/ed25519 disagree');

  progress('identity: Ed25519, node:crypto vs @noble/ed25519');
  const N = q(5000, 500);
  const signOurs = sampleSync(N, () => signBytes(pair.privateKey, msg), { warmup: 200 });
  const signNoble = sampleSync(q(1000, 100), () => noble.sign(msg, pair.privateKey), { warmup: 50 });
  const verOurs = sampleSync(N, () => verifyBytes(pair.publicKey, msg, sig), { warmup: 200 });
  const verNoble = sampleSync(q(1000, 100), () => noble.verify(sig, msg, pair.publicKey), { warmup: 50 });

  progress('identity: verifying the signature of the StarlingMonkey component');
  const js = await jsAgent(progress);
  const big = new Uint8Array(await readFile(js.path));
  const trust = trustOf(pair);
  const signed = signComponent(big, pair.privateKey, { iss: 'bench', kid: trust.kid, sub: 'code-review', agentType: 'code-reviewer', capabilities: ['read_files'] });
  if (!verifyComponent(signed, trust).ok || !nobleVerifyComponent(signed, pair.publicKey)) throw new Error('the signed component does not verify');
  const tampered = signed.slice();
  tampered[1000] ^= 1;
  if (verifyComponent(tampered, trust).ok || nobleVerifyComponent(tampered, pair.publicKey)) throw new Error('a tampered component verified');
  const body = unsignedBytes(signed);
  const reps = q(21, 3);
  const [compOurs, compNoble, hashOnly] = await rotating(
    reps,
    [
      () => {
        if (!verifyComponent(signed, trust).ok) throw new Error('signature did not verify');
      },
      () => {
        if (!nobleVerifyComponent(signed, pair.publicKey)) throw new Error('noble: signature did not verify');
      },
      () => createHash('sha256').update(body).digest('hex'),
    ],
    { warmup: 2, rounds: reps },
  );

  const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  lines.push(`## identity — signatures (Ed25519): node:crypto vs @noble/ed25519 · component of ${mib(signed.length)} (${signed.length.toLocaleString('en-US')} bytes, signed)`);
  lines.push(
    table(
      HEADER,
      [
        row(`Ed25519 sign, mutual-auth challenge (${msg.length} B) — node:crypto`, signOurs, { label: '@noble/ed25519', xs: signNoble }),
        row(`Ed25519 verify, mutual-auth challenge (${msg.length} B) — node:crypto`, verOurs, { label: '@noble/ed25519', xs: verNoble }),
        row(`verifyComponent, ${mib(signed.length)} StarlingMonkey component`, compOurs, { label: 'same check, @noble verify', xs: compNoble }),
        row(`  of which SHA-256 of the ${mib(body.length)} before the signature`, hashOnly, { label: 'verifyComponent', xs: compOurs }),
      ],
      ['l', 'r', 'r', 'r', 'l', 'l'],
    ),
  );
  lines.push(`sign/verify: one back-to-back run each; component rows: ${reps} rounds of one call of each, in rotating order, after 2 warm-up; @noble gets node's SHA-512 and SHA-256, so only the curve arithmetic differs`);
  return lines.join('\n');
}

// ---- 2. tokens -------------------------------------------------------------------------------

async function tokenSection({ q, progress, keys, revocations }) {
  const lines = [];
  progress('identity: access-token validation, uncached vs cached vs bare jose');
  const opts = { keys, issuerKey: 'tokens', revocations };
  const uncached = new TokenService({ ...opts, cacheSize: 0 });
  const cached = new TokenService(opts);
  // A working set of agents, each with its own key and access token (all fit in the cache).
  const AGENTS = 256;
  const agents = [];
  for (let i = 0; i < AGENTS; i++) {
    const pair = generateKeyPair();
    const subject = { agentId: randomUUID(), agentType: 'code-reviewer', publicKey: pair.publicKey };
    const token = await uncached.issue(subject, 'access', { scope: ['fs:read', 'net:fetch'] });
    agents.push({ token, expect: { kind: 'access', agentPublicKey: pair.publicKey, agentId: subject.agentId } });
  }
  // Bare jose: the same verification a caller without our service would write (signature,
  // alg, typ, iss, aud, time claims), with the issuer's public key imported once.
  const issuer = keys.get('tokens');
  const joseKey = await importJWK(publicJwk(fromB64u(issuer.publicKey)), 'EdDSA');
  const joseOpts = { algorithms: ['EdDSA'], issuer: 'agentos', audience: TOKEN_AUDIENCES.access, typ: TOKEN_TYPES.access, clockTolerance: 5, requiredClaims: ['iat', 'nbf', 'exp', 'jti', 'sub'] };
  const check = (r) => {
    if (!r.ok) throw new Error(`token refused: ${r.code}: ${r.reason}`);
  };

  const N = q(10_000, 1000);
  const [unc, jose, hit] = await rotating(
    N,
    [
      async (i) => check(await uncached.validate(agents[i % AGENTS].token, agents[i % AGENTS].expect)),
      async (i) => {
        const { payload } = await jwtVerify(agents[i % AGENTS].token, joseKey, joseOpts);
        if (typeof payload.sub !== 'string') throw new Error('jose: no sub');
      },
      async (i) => check(await cached.validate(agents[i % AGENTS].token, agents[i % AGENTS].expect)),
    ],
    { warmup: AGENTS },
  );
  // Reference floors, each timed alone: one synchronous node:crypto Ed25519 verification of a
  // token's signing input (no JOSE, no claims), and the key-store lookups a cache hit still makes.
  const issuerKeyObject = publicKeyObject(fromB64u(issuer.publicKey));
  const jws = agents.map(({ token }) => {
    const dot = token.lastIndexOf('.');
    return { input: Buffer.from(token.slice(0, dot)), sig: Buffer.from(token.slice(dot + 1), 'base64url') };
  });
  const rawVerify = sampleSync(N, (i) => {
    if (!verifyBytes(issuerKeyObject, jws[i % AGENTS].input, jws[i % AGENTS].sig)) throw new Error('raw verify failed');
  }, { warmup: AGENTS });
  const lookup = sampleSync(N, () => {
    if (!keys.get(issuer.kid) || !keys.trust(issuer.kid, Date.now()).ok) throw new Error('issuer key not trusted');
  }, { warmup: AGENTS });
  if (cached.stats.misses !== AGENTS || cached.stats.hits !== N) throw new Error(`cache: expected ${AGENTS} misses and ${N} hits, got ${JSON.stringify(cached.stats)}`);
  if (uncached.stats.hits !== 0) throw new Error('cacheSize 0 still hit a cache');

  lines.push(`## identity — access-token validation (TokenService.validate, EdDSA JWT through jose ${JOSE_VERSION}): ${AGENTS} agents' tokens in turn, each bound to its agent's key`);
  lines.push(
    table(
      HEADER,
      [
        row('validate, uncached (cacheSize: 0)', unc, { label: 'bare jose.jwtVerify', xs: jose }, TARGET_TOKEN_UNCACHED),
        row('  (same samples)', unc, { label: 'node:crypto verify only', xs: rawVerify }),
        row('validate, verified-token cache hit', hit, { label: 'ours, uncached', xs: unc }, TARGET_TOKEN_CACHED),
        row('  of which key-store get + trust of the issuer key', lookup, { label: 'cache hit', xs: hit }),
      ],
      ['l', 'r', 'r', 'r', 'l', 'l'],
    ),
  );
  const over = median(unc) - median(jose);
  lines.push(
    `${N.toLocaleString('en-US')} validations each, in 5 rotating blocks after ${AGENTS} warm-up (the cache filled during warm-up: ${cached.stats.misses} misses, then ${cached.stats.hits.toLocaleString('en-US')} hits); ` +
      `our uncached overhead over bare jose: ${fmtMs(over)} per token (header pre-check, key-store trust, revocation lookups, claim shape, cnf.jkt thumbprint); ` +
      'jose verifies through WebCrypto (asynchronous, on the libuv thread pool); "node:crypto verify only" is the synchronous Ed25519 check of the same signature, timed alone',
  );
  return { text: lines.join('\n'), unc, hit };
}

// ---- 3. certificates -------------------------------------------------------------------------

async function certificateSection({ q, progress, keys }) {
  const lines = [];
  let ca = await createCa(keys, { keyName: 'ca' });
  const M = q(1000, 100); // ≤ the CA's leaf cache (1024), so a second pass over them all hits
  const W = 20;
  progress(`identity: issuing ${M + W} agent certificates`);
  const certs = [];
  for (let i = 0; i < M + W; i++) {
    const { pem } = await issueAgentCertificate(ca, keys, { agentId: randomUUID(), agentType: 'code-reviewer', publicKey: generateKeyPair().publicKey });
    certs.push(pem);
  }
  const caNode = new X509Certificate(ca.certificatePem);
  const caKey = caNode.publicKey;
  const caPeculiar = new x509.X509Certificate(ca.certificatePem);
  const ok = (r) => {
    if (!r.ok) throw new Error(`certificate refused: ${r.code}: ${r.reason}`);
  };
  const nodeCheck = (pem) => {
    const c = new X509Certificate(pem);
    const now = Date.now();
    if (!c.verify(caKey) || now < Date.parse(c.validFrom) || now > Date.parse(c.validTo)) throw new Error('node:crypto: refused');
  };
  const peculiarCheck = async (pem) => {
    const c = new x509.X509Certificate(pem);
    if (!(await c.verify({ publicKey: caPeculiar, date: new Date() }))) throw new Error('@peculiar/x509: refused');
  };
  // The alternatives refuse what ours refuses on signature: a certificate of another CA.
  const other = await createCa(keys, { keyName: 'ca-other' });
  const foreign = (await issueAgentCertificate(other, keys, { agentId: randomUUID(), agentType: 'x', publicKey: generateKeyPair().publicKey })).pem;
  if ((await validateAgentCertificate(foreign, ca)).ok || new X509Certificate(foreign).verify(caKey) || (await new x509.X509Certificate(foreign).verify({ publicKey: caPeculiar, date: new Date() }))) {
    throw new Error('a certificate of another CA was accepted');
  }

  progress('identity: certificate validation, ours vs node:crypto vs @peculiar/x509');
  // First sight: each round takes a certificate none of the three has seen (the CA certificate
  // and its CRL are parsed and checked already, as they are after the first validation).
  const [first, nodeFirst, peculiarFirst] = await rotating(
    M,
    [async (i) => ok(await validateAgentCertificate(certs[i], ca)), (i) => nodeCheck(certs[i]), (i) => peculiarCheck(certs[i])],
    { warmup: W },
  );
  // Seen before: every certificate again, in turn (the leaf cache holds them all).
  const N = q(10_000, 1000);
  const [seen, nodeSeen] = await rotating(N, [async (i) => ok(await validateAgentCertificate(certs[W + (i % M)], ca)), (i) => nodeCheck(certs[W + (i % M)])], { warmup: 100 });
  // Nothing cached: a freshly signed CRL before each sample (untimed) makes a new trust anchor,
  // so the validation parses and checks the CA certificate and the CRL too.
  const C = q(200, 20);
  const cold = [];
  for (let i = 0; i < C + 5; i++) {
    ca = await refreshCrl(ca, keys);
    const t0 = performance.now();
    ok(await validateAgentCertificate(certs[W + (i % M)], ca));
    const dt = performance.now() - t0;
    if (i >= 5) cold.push(dt);
  }

  lines.push('## identity — agent certificate validation (validateAgentCertificate: CA signature over the exact bytes, names, extensions, identity, expiry, CRL)');
  lines.push(
    table(
      HEADER,
      [
        row('validate, first sight of the certificate', first, { label: 'node:crypto verify + dates', xs: nodeFirst }),
        row('  (same samples)', first, { label: '@peculiar/x509 verify(date)', xs: peculiarFirst }),
        row('validate, certificate seen before (leaf cache)', seen, { label: 'node:crypto verify + dates', xs: nodeSeen }),
        row('  (same samples)', seen, { label: 'ours, first sight', xs: first }),
        row('validate, nothing cached (new CRL each time)', cold, { label: 'ours, first sight', xs: first }),
      ],
      ['l', 'r', 'r', 'r', 'l', 'l'],
    ),
  );
  lines.push(
    `first sight: ${M} distinct certificates, each validated once by each of the three (5 rotating blocks, after ${W} warm-up on other certificates); seen before: ${N.toLocaleString('en-US')} validations by each over the same ${M} (5 rotating blocks, after 100 warm-up); nothing cached: ${C} samples, a CRL re-signed before each (untimed). ` +
      'node:crypto checks only the signature and the dates (no CRL, names, extensions or identity): a lower bound; @peculiar/x509 checks the signature through WebCrypto and the dates',
  );
  return lines.join('\n');
}

// ---- the section -----------------------------------------------------------------------------

/** Run the section; returns the text to print. */
export async function identityBench({ quick = false, progress = () => {} } = {}) {
  const q = (n, min = 1) => (quick ? Math.max(min, Math.ceil(n / 10)) : n);
  const out = [await signatureSection({ q, progress })];
  const dir = await mkdtemp(join(tmpdir(), 'agentos-bench-identity-'));
  let revocations;
  try {
    progress('identity: key store (scrypt-encrypted keys) and revocation list in a temporary directory');
    const keys = await KeyStore.open(join(dir, 'keys'), { passphrase: 'bench passphrase' });
    for (const name of ['tokens', 'ca', 'ca-other']) await keys.generate(name);
    revocations = await RevocationStore.open(join(dir, 'revoked.jsonl'), { pollMs: 0 });
    // A revocation list that is not empty: 100 revoked tokens of other agents.
    await Promise.all(Array.from({ length: 100 }, () => revocations.add(randomBytes(16).toString('base64url'), Date.now() + 3_600_000, 'bench')));
    const tokens = await tokenSection({ q, progress, keys, revocations });
    out.push('', tokens.text);
    out.push('', await certificateSection({ q, progress, keys }));
    const u = median(tokens.unc);
    const h = median(tokens.hit);
    const all = u <= TARGET_TOKEN_UNCACHED && h <= TARGET_TOKEN_CACHED;
    out.push(
      '',
      `identity targets: token validation p50 uncached ${fmtMs(u)} (≤ ${fmtMs(TARGET_TOKEN_UNCACHED)} ${u <= TARGET_TOKEN_UNCACHED ? 'met' : 'MISSED'}), ` +
        `cached ${fmtMs(h)} (≤ ${fmtMs(TARGET_TOKEN_CACHED)} ${h <= TARGET_TOKEN_CACHED ? 'met' : 'MISSED'}) — ${all ? 'all met' : 'not all met'}`,
    );
  } finally {
    await revocations?.close();
    await rm(dir, { recursive: true, force: true });
  }
  return out.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.env.BENCH_QUICK === '1';
  process.stdout.write(`identity benchmark · command: node bench/identity.mjs${quick ? ' · BENCH_QUICK=1 (smoke run: sample counts cut 10×)' : ''}\n`);
  process.stdout.write((await identityBench({ quick, progress: (l) => process.stderr.write(`  … ${l}\n`) })) + '\n');
  process.exit(0);
}
