/**
 * shared/timer-lanes: many timers over one timer of an underlying Clock.
 *
 * Where timers are many and mostly of a few fixed durations (SIP transaction
 * timers A-M and the per-hop timer),
 * timers of one duration fall due in the order they were set. So they are
 * kept in one FIFO lane per duration, a cancel only marks the entry, and one
 * timer of the underlying clock is armed for the earliest live head (as
 * undici keeps its own timer list instead of one Node timer per request).
 * Firing order is exact (due time, then order set), as with the underlying
 * clock; an entry added while others fire waits for the next turn of the
 * underlying clock.
 *
 * TimerLanes<T> calls one function with each due item (no closure per
 * entry); LaneClock is the Clock built on it, for code that takes a Clock.
 *
 * May import: shared/clock.
 */
import type { Clock, TimerHandle } from './clock.js';

/** One entry; `item` undefined once it fired or was cancelled. */
interface LaneEntry<T> extends TimerHandle {
  readonly id: number;
  readonly at: number;
  item: T | undefined;
  readonly lane: Lane<T>;
}

interface Lane<T> {
  items: LaneEntry<T>[];
  head: number;
  live: number;
}

/** What add() returns, to cancel() the entry later. */
export type LaneHandle = TimerHandle;

export class TimerLanes<T extends NonNullable<unknown>> {
  private readonly lanes = new Map<number, Lane<T>>();
  private seq = 0;
  private live = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly base: Clock,
    /** Called with each item when it falls due. */
    private readonly fire: (item: T) => void,
  ) {}

  /** Entries added and not yet fired or cancelled. */
  get pending(): number {
    return this.live;
  }

  /** `item` falls due in `ms` (below 0: 0). */
  add(item: T, ms: number): LaneHandle {
    const d = ms > 0 ? ms : 0;
    let lane = this.lanes.get(d);
    if (!lane) this.lanes.set(d, (lane = { items: [], head: 0, live: 0 }));
    const t: LaneEntry<T> = { id: ++this.seq, at: this.base.now() + d, item, lane };
    lane.items.push(t);
    lane.live++;
    this.live++;
    if (t.at < this.timerAt) this.arm(t.at);
    return t;
  }

  /** Cancels an entry that has not fired (anything else: no effect). */
  cancel(handle: LaneHandle | undefined): void {
    const t = handle as LaneEntry<T> | undefined;
    if (!t || t.item === undefined || t.lane === undefined) return;
    t.item = undefined;
    const lane = t.lane;
    lane.live--;
    this.live--;
    if (this.live === 0) {
      this.reset();
      return;
    }
    const size = lane.items.length - lane.head;
    if (size > 64 && lane.live * 4 < size) {
      lane.items = lane.items.slice(lane.head).filter((x) => x.item !== undefined);
      lane.head = 0;
    }
  }

  /** Forgets every entry (none fires) and the underlying timer. */
  clear(): void {
    for (const l of this.lanes.values()) for (let i = l.head; i < l.items.length; i++) l.items[i]!.item = undefined;
    for (const l of this.lanes.values()) l.live = 0;
    this.live = 0;
    this.reset();
  }

  private reset(): void {
    this.base.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    for (const l of this.lanes.values()) {
      l.items = [];
      l.head = 0;
    }
  }

  private arm(at: number): void {
    this.base.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.base.setTimeout(() => this.run(), Math.max(0, at - this.base.now()));
  }

  /** The first live entry of a lane (cancelled ones at the head are dropped). */
  private headOf(lane: Lane<T>): LaneEntry<T> | undefined {
    const items = lane.items;
    while (lane.head < items.length && items[lane.head]!.item === undefined) lane.head++;
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

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.base.now();
    const last = this.seq;
    for (;;) {
      let best: LaneEntry<T> | undefined;
      for (const lane of this.lanes.values()) {
        const t = this.headOf(lane);
        if (t && t.at <= now && t.id <= last && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
      }
      if (!best) break;
      const lane = best.lane;
      lane.head++;
      lane.live--;
      this.live--;
      const item = best.item!;
      best.item = undefined;
      this.fire(item);
    }
    let next = Infinity;
    for (const lane of this.lanes.values()) {
      const t = this.headOf(lane);
      if (t && t.at < next) next = t.at;
    }
    if (next < Infinity && next < this.timerAt) this.arm(next);
  }
}

function call(fn: () => void): void {
  fn();
}

/** A Clock whose timers run on lanes (see above) over one timer of `base`. */
export class LaneClock implements Clock {
  private readonly lanes: TimerLanes<() => void>;

  constructor(private readonly base: Clock) {
    this.lanes = new TimerLanes(base, call);
  }

  now(): number {
    return this.base.now();
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.lanes.pending;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.lanes.add(fn, ms);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.lanes.cancel(handle);
  }
}
