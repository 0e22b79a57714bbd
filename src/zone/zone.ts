/**
 * zone/zone: builds the immutable zone snapshot (a PackedZone, zone/packed.ts:
 * records indexed by canonical name, then type; every owner and empty
 * non-terminal in `names`) and the ZoneSet that finds the zone of a name by
 * longest match. Built only from records that passed checks.ts; never
 * modified after construction.
 * May import: shared, zone/types, zone/packed, zone/name-index.
 */
import { ZoneError } from '../shared/errors.js';
import { canonicalName, isInZone } from '../shared/names.js';
import type { RR, Zone, ZoneSet } from './types.js';
import { PackedZone, packZone } from './packed.js';
import type { NamedRecords } from './name-index.js';

/**
 * A zone from checked records. `origin` is canonical; the records must lie
 * in the zone and include exactly one SOA at the apex (else ZoneError).
 */
export function buildZone(origin: string, records: readonly RR[], files: readonly string[], named?: Pick<NamedRecords, 'ids' | 'index'>): Zone {
  const o = canonicalName(origin);
  return new PackedZone(packZone(o, records, files, named));
}

class SnapshotZoneSet implements ZoneSet {
  readonly zones: readonly Zone[];
  /** Longest origin first, so the first zone that contains a name is its best match. */
  private readonly byDepth: readonly Zone[];

  constructor(zones: readonly Zone[]) {
    this.zones = Object.freeze([...zones]);
    this.byDepth = [...zones].sort((a, b) => b.origin.length - a.origin.length);
  }

  findZone(name: string): Zone | undefined {
    for (const z of this.byDepth) if (isInZone(name, z.origin)) return z;
    return undefined;
  }
}

/** A zone set; two zones with the same origin are a ZoneError. */
export function buildZoneSet(zones: readonly Zone[]): ZoneSet {
  const seen = new Map<string, Zone>();
  for (const z of zones) {
    const prev = seen.get(z.origin);
    if (prev) {
      throw new ZoneError([{ file: z.files[0] ?? '', line: 0, message: `zone ${z.origin} is also loaded from ${prev.files[0] ?? '?'}` }]);
    }
    seen.set(z.origin, z);
  }
  return new SnapshotZoneSet(zones);
}
