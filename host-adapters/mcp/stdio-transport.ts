/**
 * The transport `serveStdio` speaks: newline-delimited JSON-RPC on a pair of streams, as the
 * SDK's `StdioServerTransport` does, without its zod parse of every incoming line against the
 * union of all JSON-RPC message schemas. That parse is done again right after, so it only adds
 * to every call's latency: the SDK's `Protocol` classifies each message with the same strict
 * schemas (request, notification, result, error) and reports one that fits none as an error,
 * and every request, notification and result is then validated against the schema of its
 * method before a handler sees it. Here a line is `JSON.parse`d and must be a JSON object; a
 * line that is not is reported (`onerror`) and dropped, as the SDK's transport does. Writing is
 * the SDK's: `JSON.stringify` and a newline, one write per message.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Most bytes buffered without a newline before the connection is dropped (the SDK's limit). */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;

const NEWLINE = 0x0a;

/** A stdio transport: reads messages from `input`, writes them to `output` (see the module doc). */
export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  /** Bytes of an incomplete line, waiting for the rest. */
  private partial: Buffer | undefined;
  private started = false;
  private closed = false;

  constructor(
    private readonly input: NodeJS.ReadableStream & { pause(): unknown },
    private readonly output: NodeJS.WritableStream,
  ) {}

  start(): Promise<void> {
    if (this.started) return Promise.reject(new Error('LineTransport already started'));
    this.started = true;
    this.input.on('data', this.onData);
    this.input.on('error', this.onInputError);
    return Promise.resolve();
  }

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onData = (data: Buffer | string): void => {
    let chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.partial) {
      chunk = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1 && !this.closed; nl = chunk.indexOf(NEWLINE, start)) {
      const line = chunk.toString('utf8', start, nl);
      start = nl + 1;
      this.deliver(line);
    }
    if (start < chunk.length && !this.closed) {
      if (chunk.length - start > MAX_LINE_BYTES) {
        this.onerror?.(new Error(`a message on stdin exceeds ${MAX_LINE_BYTES} bytes without a newline`));
        void this.close();
        return;
      }
      this.partial = start === 0 ? chunk : chunk.subarray(start);
    }
  };

  private deliver(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (e) {
      // JSON allows whitespace around a value, so a line ending in \r parses; a blank line is not a message.
      if (line.trim() !== '') this.onerror?.(e as Error);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.onerror?.(new Error(`not a JSON-RPC message: ${line.slice(0, 100)}`));
      return;
    }
    try {
      this.onmessage?.(message as JSONRPCMessage);
    } catch (e) {
      this.onerror?.(e as Error);
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.output.write(JSON.stringify(message) + '\n')) resolve();
      else this.output.once('drain', resolve);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    // Leave stdin flowing if someone else still reads it.
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.partial = undefined;
    this.onclose?.();
    return Promise.resolve();
  }
}
