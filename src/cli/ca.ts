/**
 * `agentos ca`: the local certificate authority for agents (`src/identity/ca.ts`): create it,
 * issue agent certificates, revoke them, verify them, publish the CRL and show the CA. The CA
 * key lives in the key store (`src/identity/keystore.ts`); the passphrase never comes from the
 * command line.
 *
 * @example
 * ```ts
 * process.exitCode = await caCommand(['issue', '--agent-type', 'worker', '--agent-key-file', 'agent.pub', '-o', 'agent.pem']);
 * ```
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomUUID, X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { createCa, issueAgentCertificate, loadCa, normalizeSerial, refreshCrl, revokeCertificate, saveCa, validateAgentCertificate, type CaState } from '../identity/ca.js';
import { b64u } from '../identity/keys.js';
import { PASSPHRASE_ENV } from '../identity/keystore.js';
import { durationArg, parse, reportError, safeText, type ExitStatus } from './common.js';
import { ALLOWED, CA_COMMAND_HELP, CA_HELP, CA_OPTIONS, COMMON_FLAGS, DEFAULT_CA_VALID, DEFAULT_CERT_VALID, DEFAULT_KEY, type CaFlag as Flag, type CaValues as Values } from './ca-options.js';
import { agentKey, caFacts, crlStale, isDir, iso, openCa, out, readCertificate, signingStore, withCaLock, withPassphraseHint, writeOutput } from './ca-support.js';
import { DEFAULT_CA_DIR } from './flags.js';

async function init(v: Values, dir: string): Promise<ExitStatus> {
  return (await isDir(dir)) ? withCaLock(dir, () => initLocked(v, dir)) : initLocked(v, dir);
}

async function initLocked(v: Values, dir: string): Promise<ExitStatus> {
  const keyName = v.key ?? DEFAULT_KEY;
  if (v.subject !== undefined && v.subject.trim() === '') throw new UsageError('--subject: give a non-empty name such as "CN=build CA, O=example"');
  const validityMs = durationArg(v.valid ?? DEFAULT_CA_VALID, '--valid');
  const crlValidityMs = v['crl-valid'] !== undefined ? durationArg(v['crl-valid'], '--crl-valid') : undefined;
  const exists = await stat(join(dir, 'ca.json')).then(() => true, () => false);
  if (exists && !v.force) throw new UsageError(`a CA already exists in ${dir}; give --force to replace it (see \`agentos ca init --help\`), or another --ca DIR`);
  // The previous CA, when readable: its revocations are kept whatever the key. Serials are random
  // 128-bit numbers, so listing another CA's serials costs nothing, and a CA made again with an
  // earlier key (A, then B, then A) must not resurrect the certificates revoked under it.
  const previous = exists ? await loadCa(dir).catch(() => undefined) : undefined;
  const store = await signingStore(v, undefined);
  let generated = false;
  if (!store.get(keyName)) {
    await withPassphraseHint(v, () => store.generate(keyName));
    generated = true;
  }
  let ca = await withPassphraseHint(v, () => createCa(store, { keyName, validityMs, ...(v.subject !== undefined ? { subject: v.subject } : {}), ...(crlValidityMs !== undefined ? { crlValidityMs } : {}) }));
  const kept = previous?.revoked ?? [];
  if (kept.length > 0) {
    ca = await withPassphraseHint(v, () => refreshCrl({ ...ca, revoked: kept, crlNumber: Math.max(ca.crlNumber, previous!.crlNumber) }, store));
  }
  await saveCa(dir, ca);
  const f = caFacts(ca, dir);
  const key = store.get(ca.kid)!;
  const text = [
    `created CA in ${dir}${exists ? (previous ? ' (replacing the previous one)' : ' (replacing an unreadable ca.json: its revocations, if any, are lost)') : ''}`,
    `  subject      ${safeText(f.subject)}`,
    `  key          "${safeText(key.name)}" kid ${key.kid}${generated ? ` (generated in ${store.dir})` : ''}`,
    `  valid        ${iso(f.notBefore)} to ${iso(f.notAfter)}`,
    `  fingerprint  ${f.fingerprint}`,
    `  CRL          next update ${iso(f.crl?.nextUpdate)}${kept.length > 0 ? `; kept ${kept.length} revocation(s) of the previous CA` : ''}`,
    `  certificate  ${join(dir, 'ca.pem')} (give it to whoever verifies agent certificates)`,
  ].join('\n');
  return out(v.json ?? false, {
    ok: true, dir, subject: f.subject, keyName: key.name, kid: key.kid, keyGenerated: generated, serial: f.serial, fingerprint: f.fingerprint,
    notBefore: iso(f.notBefore), notAfter: iso(f.notAfter), crlNextUpdate: f.crl?.nextUpdate !== undefined ? iso(f.crl.nextUpdate) : null,
    revoked: ca.revoked.length, replaced: exists, certificatePem: ca.certificatePem,
  }, text);
}

async function issue(v: Values, dir: string): Promise<ExitStatus> {
  const agentType = v['agent-type'];
  if (agentType === undefined) throw new UsageError('--agent-type TYPE is required (e.g. worker); see `agentos ca issue --help`');
  const agentId = v['agent-id'] ?? randomUUID();
  const publicKey = await agentKey(v);
  const validityMs = durationArg(v.valid ?? DEFAULT_CERT_VALID, '--valid');
  let ca = await openCa(dir);
  const store = await signingStore(v, { keyName: ca.keyName, kid: ca.kid });
  const now = Date.now();
  // A stale CRL fails every certificate: re-sign it while the CA key is unlocked anyway.
  const needsCrl = (state: CaState) => {
    const f = caFacts(state, dir);
    return f.crl === undefined || crlStale(f, now);
  };
  let crlRefreshed = false;
  if (needsCrl(ca)) {
    ca = await withCaLock(dir, async () => {
      const current = await openCa(dir);
      if (!needsCrl(current)) return current;
      const next = await withPassphraseHint(v, () => refreshCrl(current, store));
      await saveCa(dir, next);
      crlRefreshed = true;
      return next;
    });
  }
  const { pem, serial } = await withPassphraseHint(v, () => issueAgentCertificate(ca, store, { agentId, agentType, publicKey, validityMs }));
  // Checked at `now`, the instant the CRL was found fresh: a short-lived CRL cannot go stale in between.
  const r = await validateAgentCertificate(pem, ca, now);
  if (!r.ok) throw new UsageError(`the certificate just issued does not validate: ${r.code}: ${r.reason}${r.code === 'UNTRUSTED' ? '; see `agentos ca verify --help`' : ''}`);
  const notBefore = new x509.X509Certificate(pem).notBefore.getTime();
  const capped = r.notAfter < now + validityMs - 1000;
  const summary = `certificate for agent ${r.agentId} (type ${safeText(r.agentType)}), serial ${serial}, valid ${iso(notBefore)} to ${iso(r.notAfter)}${capped ? ' (cut to the CA certificate\'s expiry)' : ''}${crlRefreshed ? `; the stale CRL was re-signed (number ${ca.crlNumber})` : ''}`;
  if (v.out !== undefined) await writeOutput(v.out, pem);
  const json = { ok: true, agentId: r.agentId, agentType: r.agentType, serial, publicKey: b64u(publicKey), notBefore: iso(notBefore), notAfter: iso(r.notAfter), crlRefreshed, ...(v.out !== undefined ? { file: v.out } : { pem }) };
  if (v.json) return out(true, json, '');
  if (v.out !== undefined) return out(false, json, `wrote ${v.out}: ${summary}`);
  process.stdout.write(pem);
  process.stderr.write(summary + '\n');
  return 0;
}

/** The serial to revoke: an argument that is a serial, or the serial of a certificate this CA issued. */
async function revokeTarget(arg: string, ca: CaState, dir: string): Promise<{ serial: string; from?: string }> {
  let serial: string | undefined;
  try {
    serial = normalizeSerial(arg);
  } catch {
    serial = undefined;
  }
  const pathLike = arg === '-' || /[/\\]/.test(arg) || /\.(pem|crt|cer|der)$/i.test(arg);
  const exists = !pathLike && (await stat(arg).then(() => true, () => false));
  if (serial !== undefined && !pathLike) {
    if (exists) throw new UsageError(`${JSON.stringify(arg)} is both a serial and a file: write ./${arg} to revoke the certificate in the file, or 0x${arg} for the serial`);
    return { serial };
  }
  if (!pathLike && !exists) throw new UsageError(`${JSON.stringify(arg)}: neither a serial (1–40 hex digits) nor a certificate file`);
  const what = arg === '-' ? 'the certificate on standard input' : arg;
  const { bytes } = await readCertificate(arg);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(bytes);
  } catch {
    throw new UsageError(`${what}: not a PEM or DER certificate`);
  }
  const caCert = new X509Certificate(ca.certificatePem);
  if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) throw new UsageError(`${what} was not issued by the CA in ${dir}; nothing revoked (give --ca DIR for its CA)`);
  return { serial: normalizeSerial(cert.serialNumber), from: what };
}

async function revoke(v: Values, dir: string, positionals: string[]): Promise<ExitStatus> {
  if (v.reason === undefined || v.reason.trim() === '') throw new UsageError('ca revoke needs --reason TEXT (why the certificate is no longer trusted; kept in the CA state)');
  // The argument is read before taking the lock (it may be standard input, which may take its time).
  const { serial, from } = await revokeTarget(positionals[0]!, await openCa(dir), dir);
  return withCaLock(dir, () => revokeLocked(v, dir, serial, from));
}

async function revokeLocked(v: Values, dir: string, serial: string, from: string | undefined): Promise<ExitStatus> {
  const ca = await openCa(dir);
  const listed = ca.revoked.find((r) => r.serial === serial);
  if (listed) {
    const text = `serial ${serial} was already revoked at ${iso(listed.revokedAt)}: ${safeText(listed.reason)}`;
    return out(v.json ?? false, { ok: true, serial, alreadyRevoked: true, revokedAt: iso(listed.revokedAt), reason: listed.reason }, text);
  }
  const store = await signingStore(v, { keyName: ca.keyName, kid: ca.kid });
  const next = await withPassphraseHint(v, () => revokeCertificate(ca, store, serial, v.reason!));
  await saveCa(dir, next);
  const entry = next.revoked.find((r) => r.serial === serial)!;
  const f = caFacts(next, dir);
  const text = `revoked serial ${serial}${from ? ` (${from})` : ''} at ${iso(entry.revokedAt)}: ${safeText(entry.reason)}\n  CRL number ${next.crlNumber} re-signed, ${next.revoked.length} revoked, next update ${iso(f.crl?.nextUpdate)}`;
  return out(v.json ?? false, { ok: true, serial, alreadyRevoked: false, revokedAt: iso(entry.revokedAt), reason: entry.reason, crlNumber: next.crlNumber, revoked: next.revoked.length }, text);
}

async function verify(v: Values, dir: string, positionals: string[]): Promise<ExitStatus> {
  let at = Date.now();
  if (v.at !== undefined) {
    at = /^\d{4}-\d{2}-\d{2}/.test(v.at) ? Date.parse(v.at) : NaN;
    if (!Number.isFinite(at)) throw new UsageError(`--at ${JSON.stringify(v.at)}: expected an ISO 8601 time such as 2030-01-01T00:00:00Z`);
  }
  const ca = await openCa(dir);
  const { pem } = await readCertificate(positionals[0]!);
  const r = await validateAgentCertificate(pem, ca, at);
  if (v.json) {
    process.stdout.write(JSON.stringify(r.ok ? { ok: true, agentId: r.agentId, agentType: r.agentType, serial: r.serial, publicKey: b64u(r.publicKey), notAfter: iso(r.notAfter) } : r) + '\n');
  } else if (r.ok) {
    process.stdout.write(safeText(`valid: agent ${r.agentId} (type ${r.agentType}), key ${b64u(r.publicKey)}, serial ${r.serial}, valid until ${iso(r.notAfter)}`) + '\n');
  } else {
    const facts = r.code === 'UNTRUSTED' && /\bCRL\b/.test(r.reason) ? caFacts(ca, dir) : undefined;
    const hint = facts && crlStale(facts, at) && v.at === undefined ? '; run `agentos ca crl --refresh` (needs the passphrase)' : '';
    process.stdout.write(safeText(`invalid: ${r.code}: ${r.reason}${hint}`) + '\n');
  }
  return r.ok ? 0 : 1;
}

async function crl(v: Values, dir: string): Promise<ExitStatus> {
  let ca = await openCa(dir);
  const now = Date.now();
  const before = caFacts(ca, dir);
  const stale = crlStale(before, now) || before.crl === undefined;
  let refreshed = false;
  if (stale || v.refresh) {
    if (v['passphrase-file'] === undefined && !process.env[PASSPHRASE_ENV]) {
      const why = before.crl === undefined ? 'the CRL in the CA state is unreadable' : stale ? `the CRL went stale at ${iso(before.crl.nextUpdate)}` : '--refresh was given';
      throw new UsageError(`${why}; re-signing it needs the key passphrase: set ${PASSPHRASE_ENV} or give --passphrase-file FILE`);
    }
    const store = await signingStore(v, { keyName: ca.keyName, kid: ca.kid });
    ca = await withCaLock(dir, async () => {
      const next = await withPassphraseHint(v, async () => refreshCrl(await openCa(dir), store));
      await saveCa(dir, next);
      return next;
    });
    refreshed = true;
  }
  const f = caFacts(ca, dir);
  const summary = `CRL number ${ca.crlNumber}${refreshed ? ' (re-signed now)' : ''}, ${ca.revoked.length} revoked, this update ${iso(f.crl?.thisUpdate)}, next update ${iso(f.crl?.nextUpdate)}`;
  if (v.out !== undefined) await writeOutput(v.out, ca.crlPem);
  const json = { ok: true, crlNumber: ca.crlNumber, refreshed, revoked: ca.revoked.length, thisUpdate: iso(f.crl?.thisUpdate), nextUpdate: f.crl?.nextUpdate !== undefined ? iso(f.crl.nextUpdate) : null, ...(v.out !== undefined ? { file: v.out } : { crlPem: ca.crlPem }) };
  if (v.json) return out(true, json, '');
  if (v.out !== undefined) return out(false, json, `wrote ${v.out}: ${summary}`);
  process.stdout.write(ca.crlPem);
  process.stderr.write(summary + '\n');
  return 0;
}

async function show(v: Values, dir: string): Promise<ExitStatus> {
  const ca = await openCa(dir);
  const f = caFacts(ca, dir);
  const now = Date.now();
  const status = now > f.notAfter ? 'expired' : now < f.notBefore ? 'not yet valid' : 'valid';
  const crlState = f.crl === undefined ? 'unreadable' : crlStale(f, now) ? `stale since ${iso(f.crl.nextUpdate)} (re-sign: agentos ca crl --refresh)` : `next update ${iso(f.crl.nextUpdate)}`;
  const text = [
    `CA in ${dir}`,
    `  subject      ${safeText(f.subject)}`,
    `  key          "${safeText(ca.keyName)}" kid ${ca.kid}`,
    `  serial       ${f.serial}`,
    `  fingerprint  ${f.fingerprint}`,
    `  valid        ${iso(f.notBefore)} to ${iso(f.notAfter)} (${status})`,
    `  CRL          number ${ca.crlNumber}, ${crlState}`,
    `  revoked      ${ca.revoked.length} certificate(s)`,
  ].join('\n');
  return out(v.json ?? false, {
    ok: true, dir, subject: f.subject, keyName: ca.keyName, kid: ca.kid, serial: f.serial, fingerprint: f.fingerprint,
    notBefore: iso(f.notBefore), notAfter: iso(f.notAfter), status,
    crl: { number: ca.crlNumber, thisUpdate: f.crl ? iso(f.crl.thisUpdate) : null, nextUpdate: f.crl?.nextUpdate !== undefined ? iso(f.crl.nextUpdate) : null, stale: crlStale(f, now) },
    revoked: ca.revoked.length,
    revocations: ca.revoked.map((r) => ({ serial: r.serial, revokedAt: iso(r.revokedAt), reason: r.reason })),
  }, text);
}

async function run(sub: string, argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, CA_OPTIONS, `ca ${sub}`);
  if (values.help) {
    process.stdout.write((CA_COMMAND_HELP[sub] ?? CA_HELP) + '\n');
    return 0;
  }
  for (const flag of Object.keys(CA_OPTIONS) as Flag[]) {
    if (values[flag] !== undefined && !COMMON_FLAGS.includes(flag) && !ALLOWED[sub]?.includes(flag)) {
      throw new UsageError(`ca ${sub} has no --${flag} option; see \`agentos ca ${sub} --help\``);
    }
  }
  const wanted = sub === 'revoke' ? '<serial|cert-file>' : sub === 'verify' ? '<cert-file|->' : undefined;
  if (positionals.length !== (wanted ? 1 : 0)) {
    throw new UsageError(`ca ${sub} takes ${wanted ? `one argument (${wanted})` : 'no arguments'}; see \`agentos ca ${sub} --help\``);
  }
  const dir = values.ca ?? DEFAULT_CA_DIR;
  switch (sub) {
    case 'init':
      return init(values, dir);
    case 'issue':
      return issue(values, dir);
    case 'revoke':
      return revoke(values, dir, positionals);
    case 'verify':
      return verify(values, dir, positionals);
    case 'crl':
      return crl(values, dir);
    default:
      return show(values, dir);
  }
}

/**
 * Run `agentos ca …`; returns the exit status (0 ok, 1 verify: not valid, 2 bad input, 5 internal error).
 *
 * @example
 * ```ts
 * const status = await caCommand(['verify', 'agent.pem', '--json']);
 * ```
 */
export async function caCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    switch (sub) {
      case 'init':
      case 'issue':
      case 'revoke':
      case 'verify':
      case 'crl':
      case 'show':
        return await run(sub, rest);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(CA_HELP + '\n');
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown ca command ${JSON.stringify(sub)}; see \`agentos ca --help\``);
    }
  } catch (e) {
    return reportError(e, json);
  }
}
