/**
 * `wasi:sockets/*` and `wasi:sockets/ip-name-lookup`: denied. Agents reach the network only
 * through `wasi:http/outgoing-handler`, where the policy's network rules apply to a parsed URL.
 * Each attempt is refused with `access-denied` and recorded.
 */
import type { HostContext } from './context.js';
import { alwaysReady, err, Pollable, type Result } from './io.js';

class Network {}

const denied = (ctx: HostContext, api: string, target: string): Result<never, string> => {
  ctx.gate.refuse(
    { capability: 'network_access', resource: 'socket', action: 'connect', target, api },
    `raw sockets and DNS lookups are not available to agents; use wasi:http (fetch) with networkRules`,
  );
  return err('access-denied');
};

/** Socket resources can never be created; the classes exist only so the import types line up. */
class NeverCreated {
  subscribe(): Pollable {
    return new Pollable(alwaysReady);
  }
}
class TcpSocket extends NeverCreated {}
class UdpSocket extends NeverCreated {}
class IncomingDatagramStream extends NeverCreated {}
class OutgoingDatagramStream extends NeverCreated {}
class ResolveAddressStream extends NeverCreated {
  resolveNextAddress(): Result<never, string> {
    return err('access-denied');
  }
}

/** Build the `wasi:sockets/*` imports. */
export function socketImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  const network = new Network();
  return {
    'wasi:sockets/network': { Network, networkErrorCode: () => undefined },
    'wasi:sockets/instance-network': { instanceNetwork: () => network },
    'wasi:sockets/tcp': { TcpSocket },
    'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
    'wasi:sockets/tcp-create-socket': {
      createTcpSocket: (family: string) => denied(ctx, 'wasi:sockets/tcp-create-socket#create-tcp-socket', `tcp:${family}`),
    },
    'wasi:sockets/udp-create-socket': {
      createUdpSocket: (family: string) => denied(ctx, 'wasi:sockets/udp-create-socket#create-udp-socket', `udp:${family}`),
    },
    'wasi:sockets/ip-name-lookup': {
      ResolveAddressStream,
      resolveAddresses: (_network: Network, name: string) =>
        denied(ctx, 'wasi:sockets/ip-name-lookup#resolve-addresses', `dns:${String(name).slice(0, 256)}`),
    },
  };
}
