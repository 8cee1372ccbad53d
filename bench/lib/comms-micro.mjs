/**
 * Host-only measurements of section `comms` (bench/comms.mjs): each pairs our code with its
 * bare baseline, interleaved trial by trial so drift of the shared machine weighs on both.
 * Every trial times a batch of operations and divides; the callers take medians over trials.
 *
 * - sealOpen: SendChannel.seal + encodeEnvelope + decodeEnvelope + ReceiveChannels.open of a
 *   1 KiB body vs node:crypto AES-256-GCM encrypt + decrypt and Ed25519 sign + verify of the
 *   ciphertext (KeyObjects made once).
 * - hubRoundTrip: MessageHub alone, a → b, b replies → a (two seals and two opens, mailboxes).
 * - kvOps: KvStore.set / get of a 256-byte value vs classic-level put / get of the same size.
 * - natsRequestReply: a bare `nats` request/reply of 1 KiB on one server.
 */
import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { connect } from 'nats';
import { SendChannel, ReceiveChannels, createLocalKeys, peerKeysOf } from '../../dist/messaging/channel.js';
import { encodeEnvelope, decodeEnvelope } from '../../dist/messaging/envelope.js';
import { MessageHub } from '../../dist/messaging/hub.js';
import { generateKeyPair } from '../../dist/identity/keys.js';
import { KvStore, fileKeyWrapper } from '../../dist/kv/index.js';

/** Time `fn(i)` for i in 0..n-1 (sync or async); returns ms per call. */
async function perOp(n, fn) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = fn(i);
    if (r && typeof r.then === 'function') await r;
  }
  return (performance.now() - t0) / n;
}

/** Run `trials` rounds of every named batch (order rotating each round); ms per op, per name. */
async function interleaved(trials, batches) {
  const names = Object.keys(batches);
  const out = Object.fromEntries(names.map((k) => [k, []]));
  for (let t = 0; t < trials; t++) {
    for (let j = 0; j < names.length; j++) {
      const k = names[(t + j) % names.length];
      out[k].push(await batches[k]());
    }
  }
  return out;
}

function mustEqual(a, b, what) {
  if (!Buffer.from(a).equals(Buffer.from(b))) throw new Error(`${what}: round trip returned other bytes`);
}

// ---- seal + open -------------------------------------------------------------------------

/** Our message path for one body: seal, encode, decode, open (each message a fresh seal). */
function oursSealOpen() {
  const alice = createLocalKeys('alice', generateKeyPair().privateKey);
  const bob = createLocalKeys('bob', generateKeyPair().privateKey);
  const toBob = new SendChannel(alice, peerKeysOf(bob));
  const inbox = new ReceiveChannels(bob);
  const aliceCard = peerKeysOf(alice);
  return (body) => {
    const wire = encodeEnvelope(toBob.seal(body, { messageType: 'direct' }));
    return inbox.open(decodeEnvelope(wire), aliceCard).body;
  };
}

/** The bare crypto of one message: AES-256-GCM both ways, Ed25519 over the ciphertext both ways. */
function bareSealOpen() {
  const key = randomBytes(32);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const iv = Buffer.alloc(12);
  let seq = 0;
  return (body) => {
    iv.writeUInt32BE(++seq, 8);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const ct = Buffer.concat([c.update(body), c.final(), c.getAuthTag()]);
    const sig = sign(null, ct, privateKey);
    if (!verify(null, ct, publicKey, sig)) throw new Error('bare: signature did not verify');
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAuthTag(ct.subarray(ct.length - 16));
    const pt = d.update(ct.subarray(0, ct.length - 16));
    d.final();
    return pt;
  };
}

/** Seal+open per 1 KiB message, ours vs bare: `{ ours: [ms], bare: [ms] }` per trial. */
export async function sealOpen({ trials, perTrial }) {
  const body = randomBytes(1024);
  const ours = oursSealOpen();
  const bare = bareSealOpen();
  mustEqual(ours(body), body, 'seal/open');
  mustEqual(bare(body), body, 'bare crypto');
  await perOp(perTrial, () => ours(body)); // warm-up
  await perOp(perTrial, () => bare(body));
  return interleaved(trials, { ours: () => perOp(perTrial, () => ours(body)), bare: () => perOp(perTrial, () => bare(body)) });
}

// ---- MessageHub round trip -----------------------------------------------------------------

function fakeAgent(id) {
  return { id, type: 'a', roles: [], keys: generateKeyPair(), authenticated: () => true, quarantined: () => false };
}

/** A round trip through a MessageHub alone: ms per round trip, per trial. */
export async function hubRoundTrip({ trials, perTrial }) {
  const hub = new MessageHub();
  hub.register(fakeAgent('a'), 256);
  hub.register(fakeAgent('b'), 256);
  const body = randomBytes(1024);
  const prefix = Buffer.from('echo:');
  const once = async () => {
    const s = hub.send('a', 'b', body, 'direct');
    if (!s.ok) throw new Error(`hub send: ${s.message}`);
    const m = await hub.receive('b', 1000);
    const r = hub.send('b', 'a', Buffer.concat([prefix, m.body]), 'reply', { replyTo: m.id });
    if (!r.ok) throw new Error(`hub reply: ${r.message}`);
    const back = await hub.receive('a', 1000);
    if (back.replyTo !== s.messageId) throw new Error('hub: the reply answers another message');
  };
  await perOp(perTrial, once);
  const r = await interleaved(trials, { hub: () => perOp(perTrial, once) });
  hub.close();
  return r.hub;
}

// ---- kv ------------------------------------------------------------------------------------

/**
 * KvStore vs raw classic-level in `dir`: `{ set, put, get, rawGet }`, ms per op per trial.
 * Both cycle over the same `keys` keys (our store's key layout for the raw one as well).
 */
export async function kvOps({ dir, trials, perTrial, keys = 1000 }) {
  const kv = await KvStore.open({ dir: join(dir, 'ours'), wrapper: fileKeyWrapper(join(dir, 'kv.key')) });
  const raw = new ClassicLevel(join(dir, 'raw'), { valueEncoding: 'view' });
  await raw.open();
  const value = new Uint8Array(randomBytes(256));
  const limits = { maxBytes: 64 << 20, maxKeys: 100_000, maxValueBytes: 1 << 20 };
  const name = (i) => `key-${i % keys}`;
  const ops = {
    set: () => perOp(perTrial, (i) => kv.set('agent-1', name(i), value, { limits })),
    put: () => perOp(perTrial, (i) => raw.put(`v\0agent-1\0${name(i)}`, value)),
    get: () => perOp(perTrial, (i) => kv.get('agent-1', name(i))),
    rawGet: () => perOp(perTrial, (i) => raw.get(`v\0agent-1\0${name(i)}`)),
  };
  try {
    for (const op of Object.values(ops)) await op(); // warm-up, and fills every key
    mustEqual((await kv.get('agent-1', name(7))).value, value, 'kv');
    mustEqual(await raw.get(`v\0agent-1\0${name(7)}`), value, 'classic-level');
    return await interleaved(trials, ops);
  } finally {
    await kv.close();
    await raw.close();
  }
}

// ---- bare NATS -----------------------------------------------------------------------------

/** Bare `nats` request/reply of 1 KiB on `url`: ms per round trip, per trial. */
export async function natsRequestReply({ url, trials, perTrial }) {
  const server = await connect({ servers: url });
  const client = await connect({ servers: url });
  server.subscribe('bench.echo', { callback: (err, m) => (err ? undefined : m.respond(m.data)) });
  await server.flush();
  const body = randomBytes(1024);
  const once = async () => {
    const r = await client.request('bench.echo', body, { timeout: 5000 });
    if (r.data.length !== body.length) throw new Error('nats: short reply');
  };
  try {
    await perOp(perTrial, once);
    return (await interleaved(trials, { nats: () => perOp(perTrial, once) })).nats;
  } finally {
    await client.close();
    await server.close();
  }
}
