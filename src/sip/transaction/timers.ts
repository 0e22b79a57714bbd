/**
 * sip/transaction-timers: RFC 3261 §17 timer values and the small
 * interfaces transactions need from below (a sender and a clock).
 * May import: shared, sip/transport-types.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Remote } from '../transport/types.js';

export interface TimerConfig {
  /** RTT estimate (timers A, E, G start here). */
  T1: number;
  /** Cap of the non-INVITE request and INVITE response retransmit interval (E, G). */
  T2: number;
  /** Longest a message stays in the network (K, I). */
  T4: number;
  /** Proxy INVITE timer C: longest a forwarded INVITE may stay proceeding (RFC 3261 §16.6 step 11). */
  timerC: number;
}

export const DEFAULT_TIMERS: TimerConfig = { T1: 500, T2: 4000, T4: 5000, timerC: 180_000 };

export interface Sender {
  send(dest: Remote, data: Buffer, onError?: (err: Error) => void): void;
}

export interface TransactionEnv {
  sender: Sender;
  clock: Clock;
  timers: TimerConfig;
  /** Called once when a transaction ends, to drop it from its table (if the table still holds it). */
  onEnd(kind: 'server' | 'client', key: string, tx: object): void;
  /**
   * The transaction only absorbs retransmissions from now on: its table entry becomes a
   * compact record (sip/transaction-retired) for `lifetimeMs` (0: dropped at once).
   * `last`/`dest`: the response resent on a retransmitted request; `upstream`: where 2xx
   * retransmissions of an Accepted INVITE client transaction go.
   */
  retire(
    kind: 'server' | 'client', key: string, state: 'accepted' | 'completed', lifetimeMs: number,
    last?: Buffer, dest?: Remote, upstream?: Remote,
  ): void;
  /** Counts retransmissions sent (for operators). */
  retransmitted(): void;
}

interface LaneTimer extends TimerHandle {
  readonly id: number;
  readonly at: number;
  fn: (() => void) | undefined;
  readonly lane: Lane;
}

interface Lane {
  items: LaneTimer[];
  head: number;
  live: number;
}

/**
 * A Clock for the transaction layer's many timers: most of them (timers A-M,
 * the per-hop timer) are cleared long before they fire, and timers of one
 * duration fall due in the order they were set. So timers are kept in one
 * FIFO lane per duration, a clear only marks the entry, and one timer of
 * the underlying clock is armed for the earliest live head (as undici keeps
 * its own timer list instead of one Node timer per request). Firing order is
 * exact (due time, then order set), as with the underlying clock; a timer
 * set while others fire waits for the next turn of the underlying clock.
 */
export class LaneClock implements Clock {
  private readonly lanes = new Map<number, Lane>();
  private seq = 0;
  private live = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.base.now();
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.live;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const d = ms > 0 ? ms : 0;
    let lane = this.lanes.get(d);
    if (!lane) this.lanes.set(d, (lane = { items: [], head: 0, live: 0 }));
    const t: LaneTimer = { id: ++this.seq, at: this.base.now() + d, fn, lane };
    lane.items.push(t);
    lane.live++;
    this.live++;
    if (t.at < this.timerAt) this.arm(t.at);
    return t;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    const t = handle as LaneTimer | undefined;
    if (!t || t.fn === undefined || t.lane === undefined) return;
    t.fn = undefined;
    const lane = t.lane;
    lane.live--;
    this.live--;
    if (this.live === 0) {
      // nothing left: drop the lanes and the underlying timer
      this.base.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      for (const l of this.lanes.values()) {
        l.items = [];
        l.head = 0;
      }
      return;
    }
    const size = lane.items.length - lane.head;
    if (size > 64 && lane.live * 4 < size) {
      lane.items = lane.items.slice(lane.head).filter((x) => x.fn !== undefined);
      lane.head = 0;
    }
  }

  private arm(at: number): void {
    this.base.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.base.setTimeout(() => this.fire(), Math.max(0, at - this.base.now()));
  }

  /** The first live timer of a lane (cleared ones at the head are dropped). */
  private headOf(lane: Lane): LaneTimer | undefined {
    const items = lane.items;
    while (lane.head < items.length && items[lane.head].fn === undefined) lane.head++;
    if (lane.head >= items.length) {
      if (items.length) {
        lane.items = [];
        lane.head = 0;
      }
      return undefined;
    }
    if (lane.head >= 1024 && lane.head * 2 >= items.length) {
      lane.items = items.slice(lane.head);
      lane.head = 0;
    }
    return lane.items[lane.head];
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.base.now();
    const last = this.seq;
    for (;;) {
      let best: LaneTimer | undefined;
      for (const lane of this.lanes.values()) {
        const t = this.headOf(lane);
        if (t && t.at <= now && t.id <= last && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
      }
      if (!best) break;
      const lane = best.lane;
      lane.head++;
      lane.live--;
      this.live--;
      const fn = best.fn!;
      best.fn = undefined;
      fn();
    }
    let next = Infinity;
    for (const lane of this.lanes.values()) {
      const t = this.headOf(lane);
      if (t && t.at < next) next = t.at;
    }
    if (next < Infinity && next < this.timerAt) this.arm(next);
  }
}
