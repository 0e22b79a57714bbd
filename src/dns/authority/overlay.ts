/**
 * dns/authority/overlay: a zone snapshot with some RRsets replaced, without
 * touching the snapshot itself (snapshots are immutable). The health filter
 * and the served SOA serial are overlays; lookup() reads an overlay like any
 * zone.
 *
 * May import: zone/types.
 */
import { createHash } from 'node:crypto';
import type { RR, RRType, RRsetOf, Zone, ZoneSet } from '../../zone/types.js';

type Overrides = Map<string, Map<RRType, readonly RR[]>>;

export class OverlayZone implements Zone {
  private cachedRecords: readonly RR[] | undefined;

  constructor(
    readonly base: Zone,
    private readonly overrides: Overrides = new Map(),
  ) {}

  get origin(): string {
    return this.base.origin;
  }
  get names(): ReadonlySet<string> {
    return this.base.names;
  }
  get files(): readonly string[] {
    return this.base.files;
  }
  get soa(): RRsetOf<'SOA'> {
    const o = this.overrides.get(this.base.origin)?.get('SOA');
    return (o?.[0] as RRsetOf<'SOA'> | undefined) ?? this.base.soa;
  }

  /** A copy of this overlay with `rrs` as the RRset (name, type). */
  with(name: string, type: RRType, rrs: readonly RR[]): OverlayZone {
    const next: Overrides = new Map();
    for (const [n, m] of this.overrides) next.set(n, new Map<RRType, readonly RR[]>(m));
    let byType = next.get(name);
    if (!byType) next.set(name, (byType = new Map<RRType, readonly RR[]>()));
    byType.set(type, rrs);
    return new OverlayZone(this.base, next);
  }

  lookup<T extends RRType>(name: string, type: T): readonly RRsetOf<T>[] {
    const o = this.overrides.get(name)?.get(type);
    if (o) return o as readonly RRsetOf<T>[];
    if (type === 'SOA' && name === this.base.origin) return [this.soa] as unknown as readonly RRsetOf<T>[];
    return this.base.lookup(name, type);
  }

  recordsAt(name: string): readonly RR[] {
    const byType = this.overrides.get(name);
    if (!byType) return this.base.recordsAt(name);
    const out: RR[] = [];
    const done = new Set<RRType>();
    for (const rr of this.base.recordsAt(name)) {
      const o = byType.get(rr.type);
      if (!o) out.push(rr);
      else if (!done.has(rr.type)) {
        done.add(rr.type);
        out.push(...o);
      }
    }
    for (const [type, rrs] of byType) if (!done.has(type)) out.push(...rrs);
    return out;
  }

  get records(): readonly RR[] {
    if (!this.cachedRecords) {
      const out: RR[] = [];
      for (const name of this.base.names) out.push(...this.recordsAt(name));
      this.cachedRecords = out;
    }
    return this.cachedRecords;
  }
}

export class OverlayZoneSet implements ZoneSet {
  private readonly byBase = new Map<Zone, OverlayZone>();
  constructor(
    private readonly base: ZoneSet,
    readonly zones: readonly OverlayZone[],
  ) {
    for (const z of zones) this.byBase.set(z.base, z);
  }
  findZone(name: string): OverlayZone | undefined {
    const z = this.base.findZone(name);
    return z ? this.byBase.get(z) : undefined;
  }
}

/**
 * A digest of what a zone serves, the SOA serial left out: equal digests mean
 * equal answers. Used to decide whether the served serial must move.
 */
export function fingerprint(zone: Zone): string {
  const lines: string[] = [];
  for (const rr of zone.records) {
    const data = rr.type === 'SOA' ? { ...rr.data, serial: 0 } : rr.data;
    lines.push(`${rr.name} ${rr.ttl} ${rr.type} ${JSON.stringify(data)}`);
  }
  // Order matters to answers (local first), so the lines are hashed in order.
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
