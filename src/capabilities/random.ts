/**
 * `wasi:random/*`: allowed for every agent, with each request capped at `maxRandomBytes`
 * (a larger request traps the instance with `QUOTA_EXCEEDED`, since the interface has no error
 * to return and handing back fewer bytes would break its contract).
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { LimitTrap, type HostContext } from './context.js';

/** Build the `wasi:random/*` imports. */
export function randomImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  const take = (len: bigint, api: string): Uint8Array => {
    if (len > BigInt(ctx.caps.maxRandomBytes)) {
      throw new LimitTrap('QUOTA_EXCEEDED', `${api} asked for ${len} random bytes; the cap is ${ctx.caps.maxRandomBytes}`, {
        limit: 'maxRandomBytes',
        requested: len.toString(),
        allowed: ctx.caps.maxRandomBytes,
      });
    }
    ctx.count(api, Number(len));
    return randomFillSync(new Uint8Array(Number(len)));
  };
  const u64 = (api: string): bigint => {
    ctx.count(api);
    return randomBytes(8).readBigUInt64LE();
  };
  return {
    'wasi:random/random': {
      getRandomBytes: (len: bigint) => take(len, 'wasi:random/random#get-random-bytes'),
      getRandomU64: () => u64('wasi:random/random#get-random-u64'),
    },
    'wasi:random/insecure': {
      getInsecureRandomBytes: (len: bigint) => take(len, 'wasi:random/insecure#get-insecure-random-bytes'),
      getInsecureRandomU64: () => u64('wasi:random/insecure#get-insecure-random-u64'),
    },
    'wasi:random/insecure-seed': {
      insecureSeed: (): [bigint, bigint] => {
        const b = randomBytes(16);
        return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
      },
    },
  };
}
