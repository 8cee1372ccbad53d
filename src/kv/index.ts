/**
 * The encrypted key-value store of agents, host side: the store, its key wrappers and the
 * background sweeper.
 *
 * @example
 * ```ts
 * import { KvStore, keyStoreWrapper, startKvSweeper } from './kv/index.js';
 * const kv = await KvStore.open({ dir: '.agentos/kv', wrapper: keyStoreWrapper(keys) });
 * const sweeper = startKvSweeper(kv);
 * ```
 */
export { KvStore, KvQuotaError, KV_MAX_VALUE_BYTES, type KvLimits, type KvEntryMeta, type KvOpenOptions } from './store.js';
export { keyStoreWrapper, fileKeyWrapper, AgentDataProtector, KEK_INFO, type KeyWrapper, type WrappedDataKey, type RecordHeader } from './protector.js';
export { startKvSweeper, type KvRetention, type KvSweptEntry, type KvSweeper, type KvSweeperOptions, type KvSwept } from './sweeper.js';
