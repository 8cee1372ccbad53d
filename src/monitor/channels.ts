/**
 * Where alerts go besides the audit chain and `sandbox.on('alert')`: a webhook, a JSON Lines
 * file, stderr. Each channel takes alerts from a minimum severity up (escalation: low ones to
 * the file, high ones to the pager's webhook, say). Deliveries never block the gate or the
 * monitor: each channel has a bounded queue; when it is full the oldest alert is dropped and
 * counted.
 *
 * Webhook: `POST` of the alert as JSON with
 *   `x-agentos-delivery: <uuid>` (the same on every retry of one alert),
 *   `x-agentos-timestamp: <ms since the epoch>`,
 *   `x-agentos-signature: sha256=<hex>` — HMAC-SHA256 with the shared secret over
 *   `<timestamp>.<body>`, so a receiver can reject forged and replayed deliveries.
 * A network error, a timeout, 408, 429 or a 5xx is retried with exponential backoff; any other
 * answer is final.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { UsageError } from '../errors.js';
import { atLeast, type Alert, type Severity } from './types.js';

/** A webhook channel. */
export interface WebhookChannel {
  readonly url: string;
  /** The HMAC key the receiver shares (at least 16 characters). */
  readonly secret: string;
  /** Alerts from this severity up. Default `'medium'`. */
  readonly minSeverity?: Severity;
  /** Attempts after the first. Default 5. */
  readonly retries?: number;
  /** The first backoff; it doubles each retry. Default 500 ms. */
  readonly backoffMs?: number;
  /** Per attempt. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Alerts waiting at most. Default 1000. */
  readonly maxQueue?: number;
}

/** Alert channels (`createSandbox({ monitor: { channels } })`). */
export interface ChannelOptions {
  readonly webhook?: WebhookChannel | readonly WebhookChannel[];
  /** Append each alert as one JSON line. */
  readonly file?: { readonly path: string; readonly minSeverity?: Severity };
  /** One line per alert on stderr (what the CLI uses). */
  readonly stderr?: boolean | { readonly minSeverity?: Severity };
}

/** Counters of one channel. */
export interface ChannelStats {
  readonly name: string;
  readonly delivered: number;
  readonly failed: number;
  readonly dropped: number;
  readonly retried: number;
  readonly queued: number;
}

/** One delivery target with its queue, worked through in order. */
abstract class Channel {
  private readonly queue: Alert[] = [];
  private busy: Promise<void> | undefined;
  protected counts = { delivered: 0, failed: 0, dropped: 0, retried: 0 };

  constructor(
    readonly name: string,
    private readonly minSeverity: Severity,
    private readonly maxQueue: number,
  ) {}

  offer(a: Alert): void {
    if (!atLeast(a.severity, this.minSeverity)) return;
    if (this.queue.length >= this.maxQueue) {
      this.queue.shift();
      this.counts.dropped++;
    }
    this.queue.push(a);
    this.busy ??= this.work().finally(() => {
      this.busy = undefined;
    });
  }

  private async work(): Promise<void> {
    for (let a = this.queue.shift(); a; a = this.queue.shift()) {
      try {
        if (await this.deliver(a)) this.counts.delivered++;
        else this.counts.failed++;
      } catch {
        this.counts.failed++;
      }
    }
  }

  /** Deliver one alert; false when it could not be. */
  protected abstract deliver(a: Alert): Promise<boolean>;

  /** Resolves when the queue is empty (or after `ms`). */
  async flush(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.busy && Date.now() < deadline) await Promise.race([this.busy, new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())).unref())]);
  }

  stats(): ChannelStats {
    return { name: this.name, ...this.counts, queued: this.queue.length };
  }
}

const RETRIABLE = (status: number) => status === 408 || status === 429 || status >= 500;

class Webhook extends Channel {
  private readonly url: URL;

  constructor(private readonly o: WebhookChannel) {
    super(`webhook ${o.url}`, o.minSeverity ?? 'medium', o.maxQueue ?? 1000);
    let url: URL;
    try {
      url = new URL(o.url);
    } catch {
      throw new UsageError(`monitor.channels.webhook.url is not a URL: ${JSON.stringify(o.url)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError('monitor.channels.webhook.url must be http or https');
    if (typeof o.secret !== 'string' || o.secret.length < 16) throw new UsageError('monitor.channels.webhook.secret must be at least 16 characters (the HMAC key the receiver shares)');
    this.url = url;
  }

  protected async deliver(a: Alert): Promise<boolean> {
    const body = JSON.stringify(a);
    const delivery = randomUUID();
    const retries = this.o.retries ?? 5;
    let wait = this.o.backoffMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      const status = await this.post(body, delivery);
      if (status !== undefined && status >= 200 && status < 300) return true;
      if ((status !== undefined && !RETRIABLE(status)) || attempt >= retries) return false;
      this.counts.retried++;
      await new Promise((r) => setTimeout(r, wait).unref());
      wait *= 2;
    }
  }

  /** One attempt: the status, or undefined on a network error or timeout. */
  private post(body: string, delivery: string): Promise<number | undefined> {
    const timestamp = String(Date.now());
    const signature = createHmac('sha256', this.o.secret).update(`${timestamp}.${body}`).digest('hex');
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      const req = mod.request(
        this.url,
        {
          method: 'POST',
          agent: false,
          timeout: this.o.timeoutMs ?? 5000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'agent-os-sandbox-monitor',
            'x-agentos-delivery': delivery,
            'x-agentos-timestamp': timestamp,
            'x-agentos-signature': `sha256=${signature}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
          res.on('error', () => resolve(undefined));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end(body);
    });
  }
}

class JsonLines extends Channel {
  constructor(private readonly path: string, minSeverity: Severity) {
    super(`file ${path}`, minSeverity, 10_000);
  }

  protected async deliver(a: Alert): Promise<boolean> {
    await appendFile(this.path, JSON.stringify(a) + '\n', { mode: 0o600 });
    return true;
  }
}

class Stderr extends Channel {
  constructor(minSeverity: Severity) {
    super('stderr', minSeverity, 1000);
  }

  protected deliver(a: Alert): Promise<boolean> {
    const text = `agentos: alert ${a.severity} ${a.type} agent ${a.agentId}${a.contained ? ' (quarantined)' : ''}: ${a.message}`.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');
    process.stderr.write(text + '\n');
    return Promise.resolve(true);
  }
}

/** The channels of one sandbox. */
export class AlertChannels {
  private readonly channels: Channel[] = [];

  constructor(o: ChannelOptions | undefined) {
    if (o === undefined) return;
    if (typeof o !== 'object' || o === null) throw new UsageError('monitor.channels must be an object: { webhook, file, stderr }');
    const hooks = o.webhook === undefined ? [] : Array.isArray(o.webhook) ? o.webhook : [o.webhook as WebhookChannel];
    for (const w of hooks) this.channels.push(new Webhook(w));
    if (o.file) {
      if (typeof o.file.path !== 'string' || o.file.path === '') throw new UsageError('monitor.channels.file.path must name a file');
      this.channels.push(new JsonLines(o.file.path, o.file.minSeverity ?? 'low'));
    }
    if (o.stderr) this.channels.push(new Stderr(o.stderr === true ? 'low' : (o.stderr.minSeverity ?? 'low')));
  }

  deliver(a: Alert): void {
    for (const c of this.channels) c.offer(a);
  }

  stats(): ChannelStats[] {
    return this.channels.map((c) => c.stats());
  }

  /** Wait for the queues to empty, at most `ms`. */
  async flush(ms = 2000): Promise<void> {
    await Promise.all(this.channels.map((c) => c.flush(ms)));
  }
}
