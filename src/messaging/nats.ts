/**
 * The NATS transport: sandboxes in different processes or machines reach each other's agents
 * through an existing NATS server (`nats-server`), the broker wasmCloud uses. Messages are
 * sealed end to end before they are published, so the server (and anyone subscribed to its
 * subjects) sees only ciphertext and signed public keys.
 *
 * @example
 * ```ts
 * const sandbox = createSandbox({ messaging: { nats: 'nats://127.0.0.1:4222' } });
 * ```
 */
import { connect, type NatsConnection } from 'nats';
import { SandboxError, UsageError } from '../errors.js';
import type { MessageTransport } from './transport.js';

/** How to reach the NATS server. */
export interface NatsSettings {
  /** `nats://host:port`, or several. */
  readonly servers: string | readonly string[];
  /** Credentials, when the server asks for them. */
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** A name for this connection in the server's monitoring. Default `agentos`. */
  readonly name?: string;
  /** How long to try to connect (ms). Default 5 s. */
  readonly timeoutMs?: number;
}

/** Check a server URL: `nats://` (or `tls://`) with a host and port. */
export function checkNatsUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${JSON.stringify(url)} is not a NATS URL; write it like nats://127.0.0.1:4222`);
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') throw new UsageError(`${url}: a NATS URL starts with nats:// or tls://`);
  if (u.hostname === '') throw new UsageError(`${url}: the URL names no host`);
  return url;
}

/** Connect to NATS and return the transport; rejects with `USAGE` when the server cannot be reached. */
export async function natsTransport(s: NatsSettings | string): Promise<MessageTransport> {
  const settings: NatsSettings = typeof s === 'string' ? { servers: s } : s;
  const servers = (typeof settings.servers === 'string' ? [settings.servers] : [...settings.servers]).map(checkNatsUrl);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: settings.name ?? 'agentos',
      timeout: settings.timeoutMs ?? 5000,
      ...(settings.user !== undefined ? { user: settings.user, pass: settings.pass ?? '' } : {}),
      ...(settings.token !== undefined ? { token: settings.token } : {}),
    });
  } catch (e) {
    throw new UsageError(`cannot connect to NATS at ${servers.join(', ')}: ${e instanceof Error ? e.message : String(e)}; start nats-server or fix --nats`);
  }
  let closed = false;
  return {
    publish: (subject, bytes) => {
      if (closed) return;
      try {
        nc.publish(subject, bytes);
      } catch {
        // A closed or draining connection drops the message: the sender's record says it was sent;
        // delivery over a broker is at most once.
      }
    },
    subscribe: (subject, onBytes) => {
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (!err) onBytes(msg.data);
        },
      });
      return () => sub.unsubscribe();
    },
    flush: async () => {
      if (closed) return;
      try {
        await nc.flush();
      } catch (e) {
        throw new SandboxError('INTERNAL', `NATS flush failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await nc.drain().catch(() => nc.close());
    },
  };
}
