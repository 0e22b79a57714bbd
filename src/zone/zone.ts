/**
 * zone/zone: the immutable zone snapshot (records indexed by canonical name,
 * then type; every owner and empty non-terminal in `names`) and the ZoneSet
 * that finds the zone of a name by longest match. Built only from records
 * that passed checks.ts; never modified after construction.
 * May import: shared, zone/types.
 */
import { ZoneError } from '../shared/errors.js';
import { canonicalName, isInZone } from '../shared/names.js';
import type { RR, RRType, RRsetOf, Zone, ZoneSet } from './types.js';

const NONE: readonly never[] = Object.freeze([]);

class SnapshotZone implements Zone {
  readonly origin: string;
  readonly soa: RRsetOf<'SOA'>;
  readonly records: readonly RR[];
  readonly names: ReadonlySet<string>;
  readonly files: readonly string[];
  private readonly byName: ReadonlyMap<string, { all: readonly RR[]; byType: ReadonlyMap<RRType, readonly RR[]> }>;

  constructor(origin: string, records: readonly RR[], files: readonly string[]) {
    this.origin = origin;
    this.records = Object.freeze(records.map((r) => Object.freeze(r)));
    this.files = Object.freeze([...files]);
    const byName = new Map<string, { all: RR[]; byType: Map<RRType, RR[]> }>();
    const names = new Set<string>();
    for (const rr of this.records) {
      let node = byName.get(rr.name);
      if (!node) {
        node = { all: [], byType: new Map() };
        byName.set(rr.name, node);
      }
      node.all.push(rr);
      const set = node.byType.get(rr.type);
      if (set) set.push(rr);
      else node.byType.set(rr.type, [rr]);
      // The owner and every name between it and the apex (empty non-terminals).
      for (let n = rr.name; !names.has(n); n = n.slice(n.indexOf('.') + 1)) {
        names.add(n);
        if (n === origin || !n.includes('.')) break;
      }
    }
    for (const node of byName.values()) {
      Object.freeze(node.all);
      for (const set of node.byType.values()) Object.freeze(set);
    }
    this.byName = byName;
    this.names = names;
    const soa = byName.get(origin)?.byType.get('SOA')?.[0];
    if (!soa || soa.type !== 'SOA') {
      throw new ZoneError([{ file: files[0] ?? '', line: 0, message: `zone ${origin}: no SOA record at the apex` }]);
    }
    this.soa = soa;
  }

  lookup<T extends RRType>(name: string, type: T): readonly RRsetOf<T>[] {
    return (this.byName.get(name)?.byType.get(type) ?? NONE) as readonly RRsetOf<T>[];
  }

  recordsAt(name: string): readonly RR[] {
    return this.byName.get(name)?.all ?? NONE;
  }
}

/**
 * A zone from checked records. `origin` is canonical; the records must lie
 * in the zone and include exactly one SOA at the apex (else ZoneError).
 */
export function buildZone(origin: string, records: readonly RR[], files: readonly string[]): Zone {
  return new SnapshotZone(canonicalName(origin), records, files);
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
