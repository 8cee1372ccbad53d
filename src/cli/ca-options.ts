/**
 * The options and help of `agentos ca` (`./ca.ts` runs the commands). The CA directory is
 * `--ca DIR` and the key store `--keys DIR`, as in every command (./flags.ts); `--dir DIR`
 * and `-o/--output FILE` were the first names of --ca and --out here and stay aliases.
 */
import type { parse } from './common.js';
import { PASSPHRASE_ENV } from '../identity/keystore.js';
import { DEFAULT_KEY_STORE, FLAGS, flagLine, withAliases } from './flags.js';

export const DEFAULT_KEY = 'ca';
export const DEFAULT_CA_VALID = '365d';
export const DEFAULT_CERT_VALID = '24h';

/** Every option of every `ca` command; ALLOWED says which a command takes besides COMMON_FLAGS. */
export const CA_OPTIONS = {
  ca: withAliases(FLAGS.ca, 'dir'),
  keys: FLAGS.keys,
  'passphrase-file': FLAGS['passphrase-file'],
  json: FLAGS.json,
  help: FLAGS.help,
  key: FLAGS.key,
  subject: { type: 'string' },
  valid: FLAGS.valid,
  'crl-valid': { type: 'string' },
  force: { type: 'boolean' },
  'agent-id': FLAGS['agent-id'],
  'agent-type': FLAGS['agent-type'],
  'agent-key': FLAGS['agent-key'],
  'agent-key-file': FLAGS['agent-key-file'],
  out: withAliases(FLAGS.out, 'output'),
  reason: FLAGS.reason,
  at: { type: 'string' },
  refresh: { type: 'boolean' },
} as const;
export type CaFlag = keyof typeof CA_OPTIONS;
export type CaValues = ReturnType<typeof parse<typeof CA_OPTIONS>>['values'];
export const COMMON_FLAGS: readonly CaFlag[] = ['ca', 'json', 'help'];
const SIGNING: readonly CaFlag[] = ['keys', 'passphrase-file'];
export const ALLOWED: Readonly<Record<string, readonly CaFlag[]>> = {
  init: [...SIGNING, 'key', 'subject', 'valid', 'crl-valid', 'force'],
  issue: [...SIGNING, 'agent-id', 'agent-type', 'agent-key', 'agent-key-file', 'valid', 'out'],
  revoke: [...SIGNING, 'reason'],
  verify: ['at'],
  crl: [...SIGNING, 'refresh', 'out'],
  show: [],
};

const W = 27;
const line = (flag: Parameters<typeof flagLine>[0], text?: string) => flagLine(flag, text, W);

/**
 * Help of `agentos ca`.
 *
 * @example
 * ```ts
 * process.stdout.write(CA_HELP + '\n');
 * ```
 */
export const CA_HELP = `Usage: agentos ca <command> [options]

A local certificate authority for agents: a self-signed Ed25519 CA certificate whose key is in
the key store, X.509 agent certificates (CN=<agent id>, O=agentos, OU=<agent type>), and a
signed certificate revocation list (CRL). The CA state lives in ca.json in the CA directory
(--ca DIR), with copies of the CA certificate and the CRL in ca.pem and crl.pem for other tools.

Commands:
  init                create the CA (and its key, if the key store has none of that name)
  issue               issue a certificate for an agent's Ed25519 public key
  revoke <serial|cert-file>
                      revoke a certificate (--reason TEXT) and re-sign the CRL
  verify <cert-file|->
                      check a certificate against the CA: signature, validity, revocation;
                      exit 0 valid, 1 not valid (the code and reason are printed)
  crl                 print the current CRL (re-signed first when it is stale or with --refresh)
  show                the CA's subject, key, validity and revocations

Common options:
${line(CA_OPTIONS.ca)}
${line(CA_OPTIONS.keys, `the key store holding the CA key (default ${DEFAULT_KEY_STORE})`)}
${line(CA_OPTIONS['passphrase-file'], 'read the key passphrase from the first line of FILE')}
${line(CA_OPTIONS.json, 'machine-readable output (one JSON object)')}
${line(CA_OPTIONS.help, 'help for a command: agentos ca <command> --help')}

The passphrase comes from the environment variable ${PASSPHRASE_ENV} or from
--passphrase-file FILE; there is deliberately no option taking the passphrase itself.
init, issue, revoke and a CRL refresh need it (they sign with the CA key); verify, show
and printing a fresh CRL do not.
Durations: 365d, 24h, 90m, 45s.
Exit status: 0 ok, 1 verify: the certificate is not valid, 2 bad input (a wrong or missing
passphrase too), 5 internal error.`;

const COMMON = `${line(CA_OPTIONS.ca)}
${line(CA_OPTIONS.json, 'machine-readable output (one JSON object)')}`;
const KEYS = `${line(CA_OPTIONS.keys, `the key store holding the CA key (default ${DEFAULT_KEY_STORE})`)}
${line(CA_OPTIONS['passphrase-file'])}`;

/** Help of each `ca` command. */
export const CA_COMMAND_HELP: Readonly<Record<string, string>> = {
  init: `Usage: agentos ca init [--ca DIR] [--keys DIR] [--key NAME] [--subject DN] [--valid DURATION]
                      [--crl-valid DURATION] [--force] [--passphrase-file FILE] [--json]

Create a CA in the CA directory (--ca DIR): a self-signed CA certificate for the key NAME of
the key store (generated there if the store has no active key of that name) and an empty
signed CRL. Refuses to replace an existing CA unless --force. Needs the passphrase.

Replacing a CA with --force keeps its revocations (carried over from CA to CA, so that going
back to an earlier key cannot bring its revoked certificates back). With the same key,
certificates the old CA issued stay valid under the new one (same key, same name); to stop
trusting every certificate issued so far, use another key (--key NAME, or 'agentos keys rotate').

Options:
${line(CA_OPTIONS.key, `the CA key's name in the key store (default ${DEFAULT_KEY})`)}
  --subject DN             the CA's name, e.g. "CN=build CA, O=example" (default "CN=agentos CA <kid>, O=agentos")
${line(CA_OPTIONS.valid, `lifetime of the CA certificate (default ${DEFAULT_CA_VALID})`)}
  --crl-valid DURATION     lifetime of each signed CRL: a CRL older than that makes every
                           certificate fail until it is re-signed ('agentos ca crl'); default:
                           a CRL is valid as long as the CA certificate
  --force                  replace an existing CA in the CA directory
${KEYS}
${COMMON}`,
  issue: `Usage: agentos ca issue --agent-type TYPE (--agent-key KEY | --agent-key-file FILE) [--agent-id UUID]
                       [--valid DURATION] [-o FILE] [--ca DIR] [--keys DIR] [--passphrase-file FILE] [--json]

Issue a certificate binding an agent id and type to the agent's Ed25519 public key, signed by
the CA. Prints the PEM certificate (or writes it to FILE) and reports its serial and validity.
The certificate never outlives the CA certificate. A stale CRL (see 'agentos ca crl --help')
is re-signed first. Needs the passphrase.

Options:
${line(CA_OPTIONS['agent-id'], "the agent's id, a UUID (default: a new random UUID v4)")}
${line(CA_OPTIONS['agent-type'], "the agent's type: 1–64 of A-Z a-z 0-9 . _ - (required)")}
${line(CA_OPTIONS['agent-key'])}
${line(CA_OPTIONS['agent-key-file'])}
${line(CA_OPTIONS.valid, `lifetime of the certificate (default ${DEFAULT_CERT_VALID}; at least 1s)`)}
${line(CA_OPTIONS.out, 'write the PEM certificate to FILE instead of standard output')}
${KEYS}
${COMMON}`,
  revoke: `Usage: agentos ca revoke <serial|cert-file|-> --reason TEXT [--ca DIR] [--keys DIR] [--passphrase-file FILE] [--json]

Revoke a certificate, by serial (hex, as 'issue' and 'verify' print it; colons and a 0x
prefix are accepted) or given the certificate itself (a file, or - for standard input), and
re-sign the CRL. A certificate given as a file must have been issued by this CA. Revoking a
serial twice changes nothing. Cannot be undone. Needs the passphrase (the CRL is signed).
An argument that is both a serial and an existing file is refused: write ./NAME for the file.

Options:
${line(CA_OPTIONS.reason, "why (required; 1–256 characters). An RFC 5280 reason name\n(keyCompromise, superseded, cessationOfOperation, affiliationChanged,\nprivilegeWithdrawn, …) also becomes the CRL entry's reason code")}
${KEYS}
${COMMON}`,
  verify: `Usage: agentos ca verify <cert-file|-> [--at TIME] [--ca DIR] [--json]

Check an agent certificate (PEM or DER; - reads standard input) against the CA: signed by the
CA key, a well-formed agent certificate, within its validity and the CA's, the CRL signed by
the CA and not stale, the serial not revoked. Exit 0 valid, 1 not valid, printing the code
(EXPIRED, NOT_YET_VALID, REVOKED, UNTRUSTED, MALFORMED) and the reason. Needs no passphrase.

Options:
  --at TIME                check at TIME (ISO 8601, e.g. 2030-01-01T00:00:00Z) instead of now;
                           revocation is always the CRL's current state
${COMMON}`,
  crl: `Usage: agentos ca crl [--refresh] [-o FILE] [--ca DIR] [--keys DIR] [--passphrase-file FILE] [--json]

Print the CA's current CRL (PEM), or write it to FILE. A CRL made with 'init --crl-valid' goes
stale: every certificate then fails verification until the CRL is re-signed. A stale CRL is
re-signed (and saved) before it is printed, which needs the passphrase; --refresh re-signs it
even when it is still fresh (run it regularly, before the CRL goes stale). A fresh CRL is
printed without the passphrase.

Options:
  --refresh                re-sign the CRL now (needs the passphrase)
${line(CA_OPTIONS.out, 'write the CRL to FILE instead of standard output')}
${KEYS}
${COMMON}`,
  show: `Usage: agentos ca show [--ca DIR] [--json]

Print the CA's subject, key (name and kid), certificate serial and SHA-256 fingerprint,
validity, the CRL's number and next update, and the number of revoked certificates
(--json lists them). Needs no passphrase.

Options:
${COMMON}`,
};
