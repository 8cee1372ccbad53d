/**
 * A DNS server for tests (UDP on loopback): answers A queries with what `answer` says for the
 * name and how many times it has been asked, and AAAA queries with nothing. Enough to play a
 * rebinding resolver: a public address first, a private one after.
 *
 * @example
 * ```ts
 * const dns = await startDnsStub((name, n) => (n === 1 ? ['93.184.215.14'] : ['127.0.0.1']));
 * createSandbox({ dns: { servers: [dns.server] } });
 * ```
 */
import { createSocket } from 'node:dgram';

/** A running stub: its `host:port`, the A queries asked per name, and `stop`. */
export interface DnsStub {
  readonly server: string;
  readonly asked: Map<string, number>;
  stop(): Promise<void>;
}

function readName(msg: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = at;
  while (msg[i]! !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

/** Start the stub; `answer(name, nth)` gives the IPv4 addresses for the nth A query of `name`. */
export async function startDnsStub(answer: (name: string, nth: number) => string[]): Promise<DnsStub> {
  const sock = createSocket('udp4');
  const asked = new Map<string, number>();
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const question = msg.subarray(12, end + 4);
    let answers: string[] = [];
    if (qtype === 1) {
      const n = (asked.get(name) ?? 0) + 1;
      asked.set(name, n);
      answers = answer(name, n);
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, no error
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const records = answers.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0: never cached
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((b, k) => rr.writeUInt8(Number(b), 12 + k));
      return rr;
    });
    sock.send(Buffer.concat([header, question, ...records]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  return { server: `127.0.0.1:${port}`, asked, stop: () => new Promise<void>((r) => sock.close(() => r())) };
}
