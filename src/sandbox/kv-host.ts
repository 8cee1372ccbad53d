/**
 * The sandbox's key-value store: one encrypted LevelDB (`src/kv/`), separate from the audit
 * log, opened on the first `kv` call, with a sweeper that deletes values whose time to live has
 * passed and, under a data policy with `retention.autoDelete`, values older than its
 * `retentionPeriod`. Each deletion is recorded in the audit chain.
 */
import { dirname, join, resolve } from 'node:path';
import { fileKeyWrapper, keyStoreWrapper, KvStore, startKvSweeper, type KeyWrapper, type KvRetention, type KvSweeper } from '../kv/index.js';
import type { AuditEvent } from '../gate/types.js';
import { SandboxError, UsageError } from '../errors.js';
import type { KeyProvider } from '../identity/types.js';
import { parseDuration } from '../util/units.js';

/** The default directory of the key-value store. */
export const DEFAULT_KV_DIR = join('.agentos', 'kv');

/**
 * Options of the key-value store (`SandboxOptions.kv`). Values are encrypted under a data key
 * that is stored only wrapped: by a key of the key store (`keys`, key `keyName`, default
 * `kv-data`: `agentos keys generate kv-data`) — the recommended setting — or, by default, by a
 * key-encryption key in the file `keyFile` (default `kv.key` beside the store's directory, mode
 * 0600; for development: whoever can read that file can read the store).
 */
export interface KvSettings {
  /** The LevelDB directory. Default `.agentos/kv`. */
  readonly dir?: string;
  /** The key store whose key wraps the data key. */
  readonly keys?: Pick<KeyProvider, 'get' | 'privateKey'>;
  /** The key store key's name. Default `kv-data`. */
  readonly keyName?: string;
  /** Without `keys`: the key-encryption key file. Default `<dir>/../kv.key`. */
  readonly keyFile?: string;
  /** How often expired values are swept (ms or `1m`). Default 60 s. */
  readonly sweepInterval?: number | string;
}

/** The wrapper a setting names. */
export function kvWrapper(s: KvSettings, dir: string): KeyWrapper {
  return s.keys ? keyStoreWrapper(s.keys, s.keyName ?? 'kv-data') : fileKeyWrapper(resolve(s.keyFile ?? join(dirname(dir), 'kv.key')));
}

/**
 * Open the store. When the key store's key was rotated since the data key was wrapped (the
 * store names a kid that is no longer the active `kv-data`, but is still held as `rotated`), the
 * data key is unwrapped with the old key and re-wrapped under the active one: values are not
 * rewritten. `onRewrap` is told (old kid, new kid). A revoked old key is not used: fail closed.
 */
export async function openKvStore(dir: string, s: KvSettings, onRewrap: (from: string, to: string) => void = () => {}): Promise<KvStore> {
  const wrapper = kvWrapper(s, dir);
  try {
    return await KvStore.open({ dir, wrapper });
  } catch (e) {
    const old = e instanceof SandboxError ? e.details['wrappedBy'] : undefined;
    const given = e instanceof SandboxError ? e.details['given'] : undefined;
    if (!s.keys || typeof old !== 'string' || given !== wrapper.kid || s.keys.get(old)?.status !== 'rotated') throw e;
    const store = await KvStore.open({ dir, wrapper: keyStoreWrapper(s.keys, old) });
    await store.rotateWrapping(wrapper);
    onRewrap(old, wrapper.kid);
    return store;
  }
}

/** The sandbox's store, opened once on first use. */
export class KvService {
  private opening: Promise<KvStore> | undefined;
  private sweeper: KvSweeper | undefined;
  private readonly dir: string;
  private readonly sweepMs: number;

  constructor(
    private readonly settings: KvSettings | false,
    private readonly hooks: {
      retention(ns: string, key: string): KvRetention | undefined;
      audit(e: Omit<AuditEvent, 'time'>): void;
    },
  ) {
    this.dir = resolve(settings ? (settings.dir ?? DEFAULT_KV_DIR) : DEFAULT_KV_DIR);
    this.sweepMs = settings && settings.sweepInterval !== undefined ? parseDuration(settings.sweepInterval, 'kv.sweepInterval') : 60_000;
  }

  /** The open store; rejects (and keeps rejecting) when it cannot be opened, or with `kv: false`. */
  store(): Promise<KvStore> {
    if (!this.settings) return Promise.reject(new UsageError('the key-value store is switched off for this sandbox (kv: false)'));
    const s = this.settings;
    const rewrapped = (from: string, to: string) =>
      this.hooks.audit({ type: 'policy_updated', agentId: 'sandbox', capability: 'storage', resource: 'kv', action: 'rewrap', target: to, outcome: 'allowed', reason: `the kv data key was re-wrapped from the rotated key ${from} to ${to}; values unchanged`, api: 'sandbox.kv.open' });
    this.opening ??= openKvStore(this.dir, s, rewrapped).then((store) => {
      this.sweeper = startKvSweeper(store, {
        intervalMs: this.sweepMs,
        retention: (ns, key) => this.hooks.retention(ns, key),
        onSwept: (gone) => {
          for (const g of gone) {
            this.hooks.audit({
              type: 'capability_used',
              agentId: g.ns,
              capability: 'storage',
              resource: 'kv',
              action: 'delete',
              target: `kv/${g.key}`,
              outcome: 'allowed',
              reason: g.reason === 'ttl' ? 'its time to live passed' : 'older than the retention period of its data policy (autoDelete)',
              api: 'sandbox.kv.sweep',
            });
          }
        },
      });
      return store;
    });
    return this.opening;
  }

  /** Sweep now (tests, operators); resolves with how many values were deleted. */
  async sweepNow(): Promise<number> {
    await this.store();
    return (await this.sweeper!.sweepNow()).length;
  }

  /** Stop the sweeper and close the store. */
  async close(): Promise<void> {
    const opening = this.opening;
    if (!opening) return;
    const store = await opening.catch(() => undefined);
    await this.sweeper?.stop();
    await store?.close();
  }
}
