/**
 * dns/authority/overlay: a zone snapshot with some RRsets replaced, without
 * touching the snapshot itself (snapshots are immutable). The health filter
 * and the served SOA serial are overlays; lookup() reads an overlay like any
 * zone.
 *
 * May import: zone/types.
 */
import { createHash } from 'node:crypto';
import type { NameSet, RR, RRType, RRsetOf, Zone, ZoneSet } from '../../zone/types.js';

type Overrides = Map<string, Map<RRType, readonly RR[]>>;

export class OverlayZone implements Zone {
  private cachedRecords: readonly RR[] | undefined;
  private cachedDigest: string | undefined;

  constructor(
    readonly base: Zone,
    private readonly overrides: Overrides = new Map(),
  ) {}

  get origin(): string {
    return this.base.origin;
  }
  get names(): NameSet {
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

  /**
   * The base zone's digest when every replaced RRset serves what the base
   * does; else that digest and the RRsets that differ, in order (the SOA
   * serial left out). Never reads the whole base zone.
   */
  get digest(): string {
    if (this.cachedDigest === undefined) {
      let h: ReturnType<typeof createHash> | undefined;
      for (const [name, byType] of this.overrides) {
        for (const [type, rrs] of byType) {
          const text = rrsetText(rrs);
          if (text === rrsetText(this.base.lookup(name, type))) continue;
          (h ??= createHash('sha256').update(this.base.digest)).update(`\n${name} ${type}\n${text}`);
        }
      }
      this.cachedDigest = h ? h.digest('hex') : this.base.digest;
    }
    return this.cachedDigest;
  }

  recordsOfType<T extends RRType>(type: T): readonly RRsetOf<T>[] {
    return this.records.filter((r) => r.type === type) as RRsetOf<T>[];
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

function rrsetText(rrs: readonly RR[]): string {
  return rrs.map((rr) => `${rr.ttl} ${JSON.stringify(rr.type === 'SOA' ? { ...rr.data, serial: 0 } : rr.data)}`).join('\n');
}

/** What a zone serves, summarised (Zone.digest): equal digests mean equal answers. */
export function fingerprint(zone: Zone): string {
  return zone.digest;
}
