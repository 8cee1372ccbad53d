/**
 * `agentos sign` and `agentos verify`: signed components.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { SandboxError, UsageError } from '../errors.js';
import { KeyStore } from '../identity/keystore.js';
import { readClaims, signComponent, verifyComponent } from '../identity/signature.js';
import { durationArg, parse, readPassphraseFile, reportError, safeText, type ExitStatus } from './common.js';
import { KNOWN_CAPABILITIES } from '../policy/schema.js';
import { DEFAULT_KEY_STORE, FLAGS, flagLine, withAliases } from './flags.js';

/** The options of `agentos sign`. */
export const SIGN_OPTIONS = {
  key: FLAGS.key,
  keys: FLAGS.keys,
  'passphrase-file': FLAGS['passphrase-file'],
  issuer: FLAGS.issuer,
  sub: { type: 'string' },
  'agent-type': FLAGS['agent-type'],
  capabilities: { type: 'string' },
  valid: FLAGS.valid,
  out: FLAGS.out,
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

/** The options of `agentos verify`. */
export const VERIFY_OPTIONS = {
  keys: FLAGS.keys,
  // --issuer KID was the first name; elsewhere --issuer NAME is the iss claim, not a key id.
  kid: withAliases({ name: 'kid', type: 'string', multiple: true, arg: 'KID', help: 'only signatures by this key id count (repeatable)' }, 'issuer'),
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

export const SIGN_HELP = `Usage: agentos sign <agent.wasm> --key NAME [options]

Sign a component: embed claims (issuer, subject, the SHA-256 of the component, agent type,
the capabilities it may be granted, validity) signed with an Ed25519 key from the key store,
as the component's last custom section (agentos-signature). A sandbox that trusts the key
refuses the component if any byte changes, and grants it no capability the claims do not name.

Options:
${flagLine(SIGN_OPTIONS.key, "the issuer key in the key store (see 'agentos keys generate')")}
${flagLine(SIGN_OPTIONS.keys)}
${flagLine(SIGN_OPTIONS['passphrase-file'])}
${flagLine(SIGN_OPTIONS.issuer, "the issuer's name in the claims (default: the key's name)")}
  --sub NAME             what the component is (default: the file name without .wasm)
${flagLine(SIGN_OPTIONS['agent-type'], 'the agent type it is signed for (required)')}
  --capabilities LIST    comma-separated capabilities it may be granted (required; e.g.
                         read_files,network_access)
${flagLine(SIGN_OPTIONS.valid, 'how long the signature is valid (default 90d)')}
${flagLine(SIGN_OPTIONS.out, 'where to write the signed component (default: replace the input)')}
${flagLine(SIGN_OPTIONS.json)}
${flagLine(SIGN_OPTIONS.help)}`;

export const VERIFY_HELP = `Usage: agentos verify <agent.wasm> [--keys DIR] [--kid KID]... [--json]

Check a component's signature: present, well formed, by a key the key store trusts (active,
or rotated within its overlap; not revoked or expired), over exactly these bytes, and within
its validity. Prints the claims. Exit status 0 valid, 1 not valid, 2 bad input.

Options:
${flagLine(VERIFY_OPTIONS.keys, `the key store whose keys are trusted (default ${DEFAULT_KEY_STORE}); needs no passphrase`, 17)}
${flagLine(VERIFY_OPTIONS.kid, undefined, 17)}
${flagLine(VERIFY_OPTIONS.json, undefined, 17)}
${flagLine(VERIFY_OPTIONS.help, undefined, 17)}`;



async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new UsageError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** `agentos sign`. */
export async function signCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, SIGN_OPTIONS, 'sign');
    if (values.help) {
      process.stdout.write(SIGN_HELP + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('agentos sign takes exactly one component path; see `agentos sign --help`');
    if (values.key === undefined) throw new UsageError('--key NAME is required: the issuer key in the key store (create one with `agentos keys generate NAME`)');
    if (values['agent-type'] === undefined) throw new UsageError('--agent-type TYPE is required: the agent type the component is signed for');
    if (values.capabilities === undefined) throw new UsageError('--capabilities LIST is required, e.g. --capabilities read_files,network_access (an empty string grants none)');
    const caps = values.capabilities.split(',').map((c) => c.trim()).filter(Boolean);
    const unknown = caps.filter((c) => !(KNOWN_CAPABILITIES as readonly string[]).includes(c));
    if (unknown.length > 0) throw new UsageError(`--capabilities: unknown ${unknown.join(', ')}; known: ${KNOWN_CAPABILITIES.join(', ')}`);
    const input = positionals[0]!;
    const bytes = await readBytes(input);
    const passphrase = values['passphrase-file'] !== undefined ? await readPassphraseFile(values['passphrase-file']) : undefined;
    const store = await KeyStore.open(values.keys ?? DEFAULT_KEY_STORE, passphrase !== undefined ? { passphrase } : {});
    const key = store.get(values.key);
    if (!key) throw new UsageError(`no key ${JSON.stringify(values.key)} in the key store; create it with \`agentos keys generate ${values.key}\``);
    const trust = store.trust(key.kid);
    if (!trust.ok) throw new UsageError(`key ${values.key} cannot sign: ${trust.reason}`);
    const seed = await store.privateKey(key.kid);
    let signed: Uint8Array;
    try {
      signed = signComponent(bytes, seed, {
        iss: values.issuer ?? key.name,
        kid: key.kid,
        sub: values.sub ?? input.replace(/^.*\//, '').replace(/\.wasm$/, ''),
        agentType: values['agent-type'],
        capabilities: caps,
        validityMs: values.valid !== undefined ? durationArg(values.valid, '--valid') : 90 * 86_400_000,
      });
    } catch (e) {
      throw new SandboxError('COMPONENT_INVALID', `${input}: not a component that can be signed (${(e as Error).message})`);
    }
    const out = values.out ?? input;
    const tmp = `${out}.${process.pid}.tmp`;
    await writeFile(tmp, signed);
    await rename(tmp, out);
    const claims = readClaims(signed)!;
    if (json) process.stdout.write(JSON.stringify({ ok: true, file: out, claims }) + '\n');
    else process.stdout.write(`signed ${out}: ${claims.sub} for agent type ${claims.agentType}, capabilities [${claims.capabilities.join(', ')}], by ${claims.iss} (key ${claims.kid}), valid until ${new Date(claims.exp).toISOString()}\n`);
    return 0;
  } catch (e) {
    return reportError(e, json);
  }
}

/** `agentos verify`. */
export async function verifyCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, VERIFY_OPTIONS, 'verify');
    if (values.help) {
      process.stdout.write(VERIFY_HELP + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('agentos verify takes exactly one component path; see `agentos verify --help`');
    const bytes = await readBytes(positionals[0]!);
    // Public operations need no passphrase.
    const store = await KeyStore.open(values.keys ?? DEFAULT_KEY_STORE, { passphrase: () => '', create: false });
    const r = verifyComponent(bytes, store, values.kid ? { allowIssuers: values.kid } : {});
    if (json) process.stdout.write(JSON.stringify(r.ok ? { ok: true, claims: r.claims } : { ok: false, code: r.code, reason: r.reason, ...(r.claims ? { claims: r.claims } : {}) }) + '\n');
    else if (r.ok) {
      const c = r.claims;
      process.stdout.write(safeText(`ok: signed by ${c.iss} (key ${c.kid}) — ${c.sub}, agent type ${c.agentType}, capabilities [${c.capabilities.join(', ')}], valid ${new Date(c.nbf).toISOString()} to ${new Date(c.exp).toISOString()}`) + '\n');
    } else {
      process.stdout.write(safeText(`FAILED: ${r.code}: ${r.reason}`) + '\n');
    }
    return r.ok ? 0 : 1;
  } catch (e) {
    return reportError(e, json);
  }
}
