/**
 * shared/recent-events: a small bounded ring of the last operational events
 * of one instance (code, time, text, a short detail), so that ops can show
 * the last transitions. (State such as overload or fail-open is read from the
 * part that owns it, never reconstructed from the log.)
 * Filled by `logEvent` (shared/log) for the loggers it is attached to.
 * May import: shared/events.
 */
import { EVENTS, type EventName } from './events.js';

export interface RecentEvent {
  code: string;
  name: EventName;
  /** Wall-clock time, ISO 8601. */
  at: string;
  text: string;
  /** The event's fields as `key=value` words, shortened. */
  detail: string;
}

const DETAIL_MAX = 160;

function detailOf(fields: Record<string, unknown>): string {
  const words: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    words.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  const s = words.join(' ');
  return s.length > DETAIL_MAX ? s.slice(0, DETAIL_MAX - 1) + '…' : s;
}

export class RecentEvents {
  private readonly ring: (RecentEvent | undefined)[];
  private next = 0;

  constructor(
    readonly capacity = 20,
    private readonly now: () => number = Date.now,
  ) {
    if (!(capacity > 0)) throw new RangeError(`RecentEvents: capacity must be positive, got ${capacity}`);
    this.ring = new Array<RecentEvent | undefined>(capacity);
  }

  record(name: EventName, fields: Record<string, unknown>): void {
    const e = EVENTS[name];
    this.ring[this.next] = { code: e.code, name, at: new Date(this.now()).toISOString(), text: e.text, detail: detailOf(fields) };
    this.next = (this.next + 1) % this.capacity;
  }

  /** The events held, newest first. */
  list(): RecentEvent[] {
    const out: RecentEvent[] = [];
    for (let i = 1; i <= this.capacity; i++) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (e) out.push(e);
    }
    return out;
  }
}
