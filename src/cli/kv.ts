/**
 * `agentos kv`: the operator's view of the agents' key-value store (list, get, delete), for
 * when no sandbox holds it. Every read and delete is first recorded in the audit log (who did
 * it, which key), and a value is shown only once its record is durable: an operator's access to
 * agent data leaves the same trail as an agent's.
 */
import { userInfo } from 'node:os';
import { AuditChain } from '../audit/chain.js';
import { SandboxError, UsageError } from '../errors.js';
import { KeyStore, PASSPHRASE_ENV } from '../identity/keystore.js';
import type { KvStore } from '../kv/index.js';
import { DEFAULT_AUDIT_DIR, recordOf } from '../sandbox/audit-bridge.js';
import { DEFAULT_KV_DIR, openKvStore } from '../sandbox/kv-host.js';
import { out, parse, print, readPassphraseFile, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';

const OPTIONS = {
  kv: { name: 'kv', type: 'string', arg: 'DIR', help: `the key-value store (default ${DEFAULT_KV_DIR})` },
  'agent-id': { ...FLAGS['agent-id'], help: "the agent whose namespace to use" },
  prefix: { name: 'prefix', type: 'string', arg: 'TEXT', help: 'list only keys that start with TEXT' },
  'key-file': { name: 'key-file', type: 'string', arg: 'FILE', help: 'the key-encryption key file the store was created with\n(default: kv.key beside the store directory)' },
  keys: { ...FLAGS.keys, help: 'wrap with a key store key instead of a key file (see --key-name)' },
  'key-name': { name: 'key-name', type: 'string', arg: 'NAME', help: 'the key store key that wraps the data key (default kv-data)' },
  'passphrase-file': FLAGS['passphrase-file'],
  audit: FLAGS.audit,
  by: { name: 'by', type: 'string', arg: 'NAME', help: 'who reads or deletes (default: the user running the command)' },
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

const HELP = `Usage: agentos kv <command> [options]

The agents' key-value store (agent-os:sandbox/kv): values encrypted at rest (AES-256-GCM under a
data key the key file or key store wraps), one namespace per agent id. Stop the sandbox first:
the store is open in one process at a time.

Commands:
  list [--agent-id ID] [--prefix P]  the agents with data, or one agent's keys (size, written, expiry)
  get --agent-id ID KEY               print a value (text, or base64 when it is not UTF-8)
  delete --agent-id ID KEY            delete a value

get and delete are recorded in the audit log first (who, which key, never the value); a value is
printed only once its record is durable.

Options:
${Object.values(OPTIONS).map((f) => flagLine(f)).join('\n')}

Examples:
  agentos kv list
  agentos kv list --agent-id orchestrator --prefix progress/
  agentos kv get --agent-id orchestrator review/summary --json`;

/** Record an operator's access in the audit chain and wait until it is durable. */
async function recordAccess(auditDir: string, agentId: string, action: 'read' | 'delete', key: string, by: string): Promise<number> {
  let chain: AuditChain;
  try {
    chain = await AuditChain.open(auditDir, { lockWaitMs: 200 });
  } catch (e) {
    const locked = e instanceof SandboxError && e.details['locked'] === true;
    throw new SandboxError('AUDIT_UNAVAILABLE', locked ? `a sandbox holds the audit log ${auditDir}: stop it first (the access must be recorded before it happens)` : `cannot open the audit log ${auditDir}: ${(e as Error).message}`);
  }
  try {
    const seq = chain.enqueue(
      recordOf(
        { time: Date.now(), type: 'capability_used', agentId, capability: 'storage', resource: 'kv', action, target: `kv/${key}`, outcome: 'allowed', reason: `operator ${by} ${action === 'read' ? 'read' : 'deleted'} the value`, api: `agentos kv ${action === 'read' ? 'get' : 'delete'}`, details: { by } },
        undefined,
      ),
    );
    await chain.whenDurable(seq);
    return seq;
  } finally {
    await chain.close();
  }
}

async function openStore(values: Record<string, string | boolean | undefined>): Promise<KvStore> {
  const dir = (values['kv'] as string | undefined) ?? DEFAULT_KV_DIR;
  if (values['keys'] !== undefined) {
    const file = values['passphrase-file'] as string | undefined;
    const passphrase = file !== undefined ? await readPassphraseFile(file) : process.env[PASSPHRASE_ENV];
    const store = await KeyStore.open(values['keys'] as string, { create: false, ...(passphrase !== undefined ? { passphrase } : {}) });
    return openKvStore(dir, { keys: store, ...(values['key-name'] !== undefined ? { keyName: values['key-name'] as string } : {}) });
  }
  return openKvStore(dir, values['key-file'] !== undefined ? { keyFile: values['key-file'] as string } : {});
}

function shown(value: Uint8Array): { text?: string; base64?: string } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(value) };
  } catch {
    return { base64: Buffer.from(value).toString('base64') };
  }
}

async function run(sub: string, argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, OPTIONS, `kv ${sub}`);
  if (values.help) return print(HELP);
  const json = values.json ?? false;
  const agent = values['agent-id'];
  const wantKey = sub !== 'list';
  if (positionals.length !== (wantKey ? 1 : 0)) throw new UsageError(wantKey ? `kv ${sub} takes one argument, the key; see \`agentos kv --help\`` : 'kv list takes no arguments; see `agentos kv --help`');
  if (wantKey && agent === undefined) throw new UsageError(`kv ${sub} needs --agent-id ID (whose namespace)`);
  const store = await openStore(values);
  try {
    if (sub === 'list') {
      if (agent === undefined) {
        const ns = await store.namespaces();
        return out(json, { ok: true, agents: ns.map((n) => ({ agent: n, ...store.usage(n) })) }, ns.length === 0 ? 'no values' : ns.map((n) => `${safeText(n)}  ${store.usage(n).keys} keys, ${store.usage(n).bytes} bytes`).join('\n'));
      }
      const entries = await store.list(agent, values.prefix ?? '', { limit: 10_000 });
      return out(json, { ok: true, agent, entries }, entries.length === 0 ? 'no keys' : entries.map((e) => `${safeText(e.key)}  ${e.size} B  written ${new Date(e.createdAt).toISOString()}${e.expiresAt ? `  expires ${new Date(e.expiresAt).toISOString()}` : ''}`).join('\n'));
    }
    const key = positionals[0]!;
    const by = values.by ?? userInfo().username;
    const auditDir = values.audit ?? DEFAULT_AUDIT_DIR;
    if (sub === 'get') {
      const seq = await recordAccess(auditDir, agent!, 'read', key, by);
      const v = await store.get(agent!, key);
      if (!v) return out(json, { ok: true, agent, key, found: false, auditSeq: seq }, `no value for ${safeText(key)}`);
      const s = shown(v.value);
      return out(json, { ok: true, agent, key, found: true, ...s, createdAt: v.createdAt, ...(v.expiresAt ? { expiresAt: v.expiresAt } : {}), auditSeq: seq }, s.text !== undefined ? safeText(s.text) : s.base64!);
    }
    const seq = await recordAccess(auditDir, agent!, 'delete', key, by);
    const deleted = await store.delete(agent!, key);
    return out(json, { ok: true, agent, key, deleted, auditSeq: seq }, deleted ? `deleted ${safeText(key)} (audit record ${seq})` : `no value for ${safeText(key)}`);
  } finally {
    await store.close();
  }
}

/** Run `agentos kv …`; returns the exit status. */
export async function kvCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    if (sub === undefined || sub === '--help' || sub === '-h') return print(HELP);
    if (!['list', 'get', 'delete'].includes(sub)) throw new UsageError(`unknown kv command ${JSON.stringify(sub)}; see \`agentos kv --help\``);
    return await run(sub, rest);
  } catch (e) {
    return reportError(e, json);
  }
}

