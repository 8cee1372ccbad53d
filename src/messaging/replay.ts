/**
 * Replay and reordering refusal for received messages, in O(1) per message and bounded memory.
 *
 * Two independent records:
 * - per channel (sender, epk), the highest `seq` accepted: anything at or below it is old;
 * - per sender, the messageIds accepted within the freshness window: a message whose channel
 *   record was evicted (LRU) is still recognised as a replay while its timestamp is acceptable.
 *   Older messages need no record: the receiver's timestamp check refuses them as `STALE`.
 *
 * `check` and `accept` are separate on purpose: the receiver checks, decrypts, and only records
 * a message once it decrypted, so a forgery cannot burn a sequence number or a messageId.
 *
 * @example
 * ```ts
 * const guard = new ReplayGuard({ windowMs: 30_000 });
 * guard.check(h.senderId, h.epk, h.seq, h.messageId);          // throws REPLAY / OUT_OF_ORDER
 * const body = decrypt(env);                                    // may throw TAMPERED
 * guard.accept(h.senderId, h.epk, h.seq, h.messageId, h.timestamp, Date.now());
 * ```
 */
import { MessageRejected } from './envelope.js';

/** Options of {@link ReplayGuard}. @example `new ReplayGuard({ windowMs: 30_000, maxIds: 10_000 })` */
export interface ReplayGuardOptions {
  /**
   * How long a messageId is remembered after its timestamp, in ms. Must be at least the
   * receiver's clock-skew allowance, or a replay could outlive its record; default 30 s.
   */
  readonly windowMs?: number;
  /** Hard cap on remembered messageIds (oldest evicted first); default 100 000. */
  readonly maxIds?: number;
  /** Hard cap on channels tracked (least recently used evicted first); default 65 536. */
  readonly maxChannels?: number;
}

/**
 * Remembers what was accepted and refuses it a second time. Keys are `sender\0epk` and
 * `sender\0messageId`: ids contain no NUL (see `idProblem`), so keys cannot collide, and ids are
 * scoped per sender so one peer cannot pre-empt another's messageId.
 *
 * @example
 * ```ts
 * const g = new ReplayGuard();
 * g.accept('a', epk, 1, id, now, now);
 * g.check('a', epk, 1, id); // throws MessageRejected('REPLAY')
 * ```
 */
export class ReplayGuard {
  readonly windowMs: number;
  readonly maxIds: number;
  readonly maxChannels: number;
  /** `sender\0epk` → highest seq accepted; Map order doubles as LRU order. */
  private readonly channels = new Map<string, number>();
  /** `sender\0messageId` → its timestamp; insertion order is (roughly) timestamp order. */
  private readonly ids = new Map<string, number>();

  constructor(o: ReplayGuardOptions = {}) {
    this.windowMs = o.windowMs ?? 30_000;
    this.maxIds = o.maxIds ?? 100_000;
    this.maxChannels = o.maxChannels ?? 65_536;
    if (!(this.windowMs >= 0) || !(this.maxIds >= 1) || !(this.maxChannels >= 1)) throw new RangeError('ReplayGuard: windowMs >= 0, maxIds >= 1, maxChannels >= 1');
  }

  /**
   * Throw `REPLAY` if this sender's messageId was already accepted, `OUT_OF_ORDER` if `seq` is
   * not above the channel's highest. Records nothing.
   *
   * @example
   * ```ts
   * guard.check('agent-a', epk, 7, messageId);
   * ```
   */
  check(senderId: string, epk: string, seq: number, messageId: string): void {
    if (this.ids.has(senderId + '\0' + messageId)) {
      throw new MessageRejected('REPLAY', `replay: message ${messageId} from ${senderId} was already accepted`);
    }
    const highest = this.channels.get(senderId + '\0' + epk);
    if (highest !== undefined && seq <= highest) {
      throw new MessageRejected('OUT_OF_ORDER', `out of order: seq ${seq} from ${senderId} is not above ${highest} already accepted on its channel`);
    }
  }

  /**
   * Record an accepted message. Expires messageIds whose timestamp left the window and evicts
   * the oldest entries past the caps; amortised O(1).
   *
   * @example
   * ```ts
   * guard.accept('agent-a', epk, 7, messageId, header.timestamp, Date.now());
   * ```
   */
  accept(senderId: string, epk: string, seq: number, messageId: string, timestamp: number, now: number): void {
    const ck = senderId + '\0' + epk;
    // Delete then set moves the channel to the young end of the Map: LRU in O(1).
    this.channels.delete(ck);
    this.channels.set(ck, seq);
    if (this.channels.size > this.maxChannels) this.channels.delete(this.channels.keys().next().value!);

    this.ids.set(senderId + '\0' + messageId, timestamp);
    // Timestamps arrive only roughly in order (within the skew), so stop at the first entry
    // still fresh: a few expired ones may linger a little, but a fresh one is never dropped.
    const horizon = now - this.windowMs;
    for (const [k, t] of this.ids) {
      if (t >= horizon && this.ids.size <= this.maxIds) break;
      this.ids.delete(k);
    }
  }

  /**
   * How much is remembered (for metrics and tests).
   *
   * @example
   * ```ts
   * guard.stats(); // { channels: 3, messageIds: 120 }
   * ```
   */
  stats(): { channels: number; messageIds: number } {
    return { channels: this.channels.size, messageIds: this.ids.size };
  }
}
