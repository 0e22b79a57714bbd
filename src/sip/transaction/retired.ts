/**
 * sip/transaction/retired: what is left of a transaction once it only
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
 * made, so the records sit on timer lanes (shared/timer-lanes.ts: one FIFO
 * per lifetime, one clock timer armed for the earliest head) instead of a
 * timer per transaction; expiry is exact.
 * May import: shared, sip/transport.
 */
import type { Clock } from '../../shared/clock.js';
import { TimerLanes } from '../../shared/timer-lanes.js';
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

/** Ends retired records when due: one lane per lifetime, one clock timer for them all (shared/timer-lanes). */
export class RetiredExpiry {
  private readonly lanes: TimerLanes<Retired>;

  constructor(
    clock: Clock,
    /** Removes a due record from its table (if the table still holds that record). */
    expire: (r: Retired) => void,
  ) {
    this.lanes = new TimerLanes(clock, expire);
  }

  /** Records `r` (made with expires = now + lifetime) under its lifetime. */
  add(r: Retired, lifetime: number): void {
    this.lanes.add(r, lifetime);
  }

  get size(): number {
    return this.lanes.pending;
  }

  /** Forgets every record (shutdown); the tables are cleared by their owner. */
  clear(): void {
    this.lanes.clear();
  }
}
