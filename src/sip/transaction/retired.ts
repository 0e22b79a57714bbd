/**
 * sip/transaction-retired: what is left of a transaction once it only
 * absorbs retransmissions, and the one timer that ends all of them.
 *
 * A transaction that has sent (or received) its final response still has to
 * stay findable for a while: RFC 6026 Accepted (timers L and M, 64*T1) for
 * INVITE after a 2xx, Completed for non-INVITE (timer J, 64*T1 over UDP;
 * timer K, T4). Keeping the whole transaction object for that long kept the
 * parsed request, its forwarding context and their timers alive for 32 s:
 * tens of KB a call, hundreds of MB at a few thousand calls per second. A
 * Retired record keeps only what the RFC needs in those states: the key,
 * the last response as text and where it went (non-INVITE server: resent
 * on a retransmitted request), or where 2xx retransmissions go upstream
 * (INVITE client in Accepted); everything else is absorbed.
 *
 * Expiry: every record with the same lifetime expires in the order it was
 * made, so one FIFO per lifetime plus one clock timer armed for the earliest
 * head replace a timer per transaction; expiry is exact (the timer is armed
 * for the head's due time, and every record due by then goes in one sweep).
 * May import: shared, sip/transport-types.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Remote } from '../transport/types.js';

export class Retired {
  /** Never set: a retired INVITE has no forwarding context left (a CANCEL for it only gets its 200). */
  readonly context: undefined = undefined;
  constructor(
    readonly kind: 'server' | 'client',
    readonly key: string,
    readonly state: 'accepted' | 'completed',
    readonly expires: number,
    /**
     * Server non-INVITE: the final response (latin1 text), resent on a retransmitted request.
     * Text, not the Buffer that was sent: a small Buffer is a slice of an 8 KB pool slab, and
     * one slice kept for 64*T1 keeps the whole slab (every message encoded around it) alive.
     */
    readonly last: string | undefined,
    /** Where `last` goes. */
    readonly dest: Remote | undefined,
    /** Client INVITE in Accepted: where 2xx retransmissions are forwarded (the upstream server transaction's destination). */
    readonly upstream: Remote | undefined,
  ) {}
}

class Fifo {
  items: Retired[] = [];
  head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  peek(): Retired | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }
  push(r: Retired): void {
    this.items.push(r);
  }
  shift(): Retired {
    const r = this.items[this.head];
    this.items[this.head++] = undefined as unknown as Retired;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return r;
  }
}

/** Ends retired records when due: one FIFO per lifetime, one clock timer for them all. */
export class RetiredExpiry {
  private readonly queues = new Map<number, Fifo>();
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly clock: Clock,
    /** Removes a due record from its table (if the table still holds that record). */
    private readonly expire: (r: Retired) => void,
  ) {}

  /** Records `r` (made with expires = now + lifetime) under its lifetime. */
  add(r: Retired, lifetime: number): void {
    let q = this.queues.get(lifetime);
    if (!q) this.queues.set(lifetime, (q = new Fifo()));
    q.push(r);
    if (r.expires < this.timerAt) this.arm(r.expires);
  }

  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.size;
    return n;
  }

  /** Forgets every record (shutdown); the tables are cleared by their owner. */
  clear(): void {
    this.queues.clear();
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.sweep(), Math.max(0, at - this.clock.now()));
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const q of this.queues.values()) {
      let r = q.peek();
      while (r && r.expires <= now) {
        q.shift();
        this.expire(r);
        r = q.peek();
      }
      if (r && r.expires < next) next = r.expires;
    }
    if (next < Infinity) this.arm(next);
  }
}
