/**
 * The seeds' `establishSecureChannel(agentId)` for host code: an interactive handshake with a
 * peer over whatever carries it (HTTP, a queue, a socket), both sides contributing an ephemeral
 * X25519 key and signing their half with their Ed25519 identity key, then a session with a key
 * per direction, sequence numbers and replay refusal (`src/messaging/handshake.ts`).
 *
 * @example
 * ```ts
 * // initiator
 * const channel = await establishSecureChannel({ agentId: 'host-a', signingSeed }, 'host-b', {
 *   peerKey: bKey,                                   // b's identity key, from a certificate or directory
 *   exchange: (init) => postJson('https://b.example/handshake', init),
 * });
 * const msg = channel.seal(new TextEncoder().encode('hello'));
 * // responder (the handler behind exchange)
 * const { response, channel: bSide } = acceptHandshake({ agentId: 'host-b', signingSeed: bSeed }, init, aKey);
 * ```
 */
import { initiateHandshake, type HandshakeMessage, type SecureChannel } from './handshake.js';

/** Options of {@link establishSecureChannel}. */
export interface EstablishOptions {
  /** The peer's raw Ed25519 identity public key: its handshake must be signed by it. */
  readonly peerKey: Uint8Array;
  /** Carry the initiation to the peer and return its response. */
  exchange(init: HandshakeMessage): Promise<HandshakeMessage>;
}

/** Run the handshake as the initiator; rejects (`MessageRejected`) when the response does not verify. */
export async function establishSecureChannel(local: { readonly agentId: string; readonly signingSeed: Uint8Array }, remoteId: string, o: EstablishOptions): Promise<SecureChannel> {
  const { message, complete } = initiateHandshake(local, remoteId);
  const response = await o.exchange(message);
  return complete(response, o.peerKey);
}
