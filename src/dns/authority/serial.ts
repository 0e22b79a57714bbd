/**
 * dns/authority/serial: the SOA serial srvproxy serves. It moves forward
 * whenever the served content of a zone changes (health withdrawal, restore,
 * reload): max(zone file serial, previous + 1), in RFC 1982 serial
 * arithmetic, so a secondary or a cache that compares serials sees every
 * change.
 *
 * Time-based (the `wallClock` option, what an instance uses): a change is
 * served as zone file serial + seconds since SERIAL_EPOCH (2026-01-01 UTC),
 * at least previous + 1. Nothing is persisted, yet the serial never goes
 * back across restarts (the clock has moved on) and instances serving the
 * same zone file agree to within the seconds between their changes, so a
 * secondary that transfers from any of them sees every change. Raising the
 * zone file serial raises the served one by as much. More than one change a
 * second borrows from the next seconds (previous + 1); a restart within that
 * borrowed time is the only way a serial can repeat.
 *
 * Without `wallClock` the served serial is max(zone file serial, previous + 1)
 * and lives as long as the process.
 * May import: nothing.
 */

/** RFC 1982: is `a` greater than `b` in 32-bit serial number arithmetic? */
export function serialGreater(a: number, b: number): boolean {
  a >>>= 0;
  b >>>= 0;
  if (a === b) return false;
  return (a < b && b - a > 0x80000000) || (a > b && a - b < 0x80000000);
}

/** 2026-01-01T00:00:00Z in seconds: time-based serials count from here. */
export const SERIAL_EPOCH = 1767225600;

export interface SerialOptions {
  /** Milliseconds since the Unix epoch (Date.now); makes serials time-based. */
  wallClock?: () => number;
}

export class SerialCounter {
  private readonly last = new Map<string, { serial: number; fingerprint: string; zoneSerial: number }>();

  constructor(private readonly options: SerialOptions = {}) {}

  /**
   * The serial to serve for `zone` whose file says `zoneSerial` and whose
   * served content is summarised by `fingerprint`.
   */
  next(zone: string, zoneSerial: number, fingerprint: string): number {
    const prev = this.last.get(zone);
    const clock = this.options.wallClock;
    if (clock && prev && prev.fingerprint === fingerprint && prev.zoneSerial === zoneSerial >>> 0) return prev.serial;
    let serial = zoneSerial >>> 0;
    if (clock) serial = (serial + Math.max(0, Math.floor(clock() / 1000) - SERIAL_EPOCH)) >>> 0;
    if (prev) {
      const floor = prev.fingerprint === fingerprint ? prev.serial : (prev.serial + 1) >>> 0;
      if (!serialGreater(serial, floor)) serial = floor;
    }
    this.last.set(zone, { serial, fingerprint, zoneSerial: zoneSerial >>> 0 });
    return serial;
  }

  /** The serial last handed out for `zone`. */
  current(zone: string): number | undefined {
    return this.last.get(zone)?.serial;
  }
}
