/**
 * dns/serial: the SOA serial srvproxy serves. It moves forward whenever the
 * served content of a zone changes (health withdrawal, restore, reload):
 * max(zone file serial, previous + 1), in RFC 1982 serial arithmetic, so a
 * secondary or a cache that compares serials sees every change.
 *
 * The counter lives as long as the process; it is not persisted.
 * May import: nothing.
 */

/** RFC 1982: is `a` greater than `b` in 32-bit serial number arithmetic? */
export function serialGreater(a: number, b: number): boolean {
  a >>>= 0;
  b >>>= 0;
  if (a === b) return false;
  return (a < b && b - a > 0x80000000) || (a > b && a - b < 0x80000000);
}

export class SerialCounter {
  private readonly last = new Map<string, { serial: number; fingerprint: string }>();

  /**
   * The serial to serve for `zone` whose file says `zoneSerial` and whose
   * served content is summarised by `fingerprint`.
   */
  next(zone: string, zoneSerial: number, fingerprint: string): number {
    const prev = this.last.get(zone);
    let serial = zoneSerial >>> 0;
    if (prev) {
      const floor = prev.fingerprint === fingerprint ? prev.serial : (prev.serial + 1) >>> 0;
      if (!serialGreater(serial, floor)) serial = floor;
    }
    this.last.set(zone, { serial, fingerprint });
    return serial;
  }

  /** The serial last handed out for `zone`. */
  current(zone: string): number | undefined {
    return this.last.get(zone)?.serial;
  }
}
