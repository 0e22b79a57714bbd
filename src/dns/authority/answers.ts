/**
 * dns/authority/answers: the answer table — every response srvproxy can give,
 * precomputed when the zones or the health view change, never per query.
 *
 * For each owner name: one encoded Body per type it answers (types present at
 * the name, and for a CNAME the types along its chain), one for any other
 * type (NODATA, or the CNAME chain), one for ANY, and one for names below it
 * that do not exist (NXDOMAIN against the zone apex, or the referral of a
 * delegation). Names are found by a hash of their case-folded wire form in
 * an open-addressing table, so a query looks its name up without building a
 * string.
 *
 * Build: applyPoolFilter (health) → SOA serial per zone (SerialCounter) →
 * lookup() per (name, type) → encodeBody. The table is immutable; the server
 * swaps whole tables.
 *
 * May import: zone/types, dns/wire, dns/authority.
 */
import type { RR, Zone, ZoneSet } from '../../zone/types.js';
import { RR_TYPE_CODES } from '../../zone/types.js';
import { emptyBody, encodeBody, type Body } from '../wire/encode.js';
import { applyPoolFilter, type PoolFilter } from './filter.js';
import { findCut, lookup, negativeSoa } from './lookup.js';
import { OverlayZone, OverlayZoneSet, fingerprint } from './overlay.js';
import { SerialCounter } from './serial.js';
import { RCODE, TYPE, equalsFolded, hashName, nameToWire } from '../wire/wire.js';

interface Entry {
  /** Lower-case wire form of the owner name. */
  readonly wire: Buffer;
  readonly hash: number;
  readonly byType: ReadonlyMap<number, Body>;
  /** Any type not in byType. */
  readonly other: Body;
  readonly any: Body;
  /** For a name below this one that does not exist; compressed against a suffix of length descendant.baseLen. */
  readonly descendant: Body;
}

/** A type code no record can have: lookup() answers it as "no such type". */
const NO_TYPE = -1;

export const REFUSED_BODY = emptyBody(RCODE.REFUSED, false);

export class AnswerTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(
    private readonly entries: readonly Entry[],
    /** SOA serial served per zone origin. */
    readonly serials: ReadonlyMap<string, number>,
    /** The zones as served (health-filtered, served SOA serial): what a zone transfer sends. */
    readonly zones: readonly Zone[] = [],
  ) {
    let size = 16;
    while (size < entries.length * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    entries.forEach((e, i) => {
      let s = e.hash & this.mask;
      while (this.slots[s] !== -1) s = (s + 1) & this.mask;
      this.slots[s] = i;
    });
  }

  /** Number of owner names in the table. */
  get size(): number {
    return this.entries.length;
  }

  private find(buf: Uint8Array, start: number, len: number, hash: number): Entry | undefined {
    for (let s = hash & this.mask; ; s = (s + 1) & this.mask) {
      const i = this.slots[s]!;
      if (i < 0) return undefined;
      const e = this.entries[i]!;
      if (e.hash === hash && equalsFolded(buf, start, e.wire, len)) return e;
    }
  }

  /**
   * The Body answering the question name at `buf[12..12+qnameLen)` (already
   * hashed to `hash`) for `qtype`. Sets `delta`: how far the Body's base name
   * sits from offset 12 (0 for an exact match). REFUSED_BODY when no served
   * zone contains the name.
   */
  answer(buf: Uint8Array, qnameLen: number, hash: number, qtype: number, out: { delta: number }): Body {
    const exact = this.find(buf, 12, qnameLen, hash);
    if (exact) {
      out.delta = 0;
      return exact.byType.get(qtype) ?? (qtype === TYPE.ANY ? exact.any : exact.other);
    }
    // Walk up the name: the nearest existing ancestor says NXDOMAIN or referral.
    let pos = 12;
    const end = 12 + qnameLen;
    while (buf[pos] !== 0) {
      pos += buf[pos]! + 1;
      const len = end - pos;
      const e = this.find(buf, pos, len, hashName(buf, pos, len));
      if (e) {
        out.delta = qnameLen - e.descendant.baseLen;
        return e.descendant;
      }
    }
    out.delta = 0;
    return REFUSED_BODY;
  }
}

export interface BuildOptions {
  /** The health view applied to the pool's records (DESIGN.md §5). */
  filter?: PoolFilter;
  /** Moves the served SOA serial forward when answers change; without it the zone file's serial is served. */
  serials?: SerialCounter;
}

export interface BuildResult {
  table: AnswerTable;
  /** Every pool member unhealthy: the full set is served (log POOL_FAIL_OPEN). */
  failOpen: boolean;
  /** Members withdrawn from the answers. */
  withdrawn: string[];
  /** RRsets served whole because filtering would have emptied them. */
  failOpenNames: string[];
  /** SOA serial served per zone origin. */
  serials: ReadonlyMap<string, number>;
}

function typeCode(rr: RR): number {
  return RR_TYPE_CODES[rr.type];
}

function body(base: string, r: ReturnType<typeof lookup>): Body {
  return encodeBody(base, r, r.rcode, r.aa);
}

function buildEntries(view: OverlayZoneSet, zone: OverlayZone, nxBody: Body, out: Entry[]): void {
  const referrals = new Map<string, Body>();
  for (const name of zone.names) {
    if (view.findZone(name) !== zone) continue; // occluded by a child zone we also serve
    const byType = new Map<number, Body>();
    const cut = findCut(zone, name);
    let descendant = nxBody;
    if (cut !== undefined) {
      let ref = referrals.get(cut);
      if (!ref) referrals.set(cut, (ref = body(cut, lookup(view, cut, TYPE.A))));
      descendant = ref;
    } else {
      // Types answered at the name itself, and along a CNAME chain.
      const types = new Set<number>();
      for (let n = name, i = 0; i < 9; i++) {
        const recs = zone.recordsAt(n);
        for (const rr of recs) types.add(typeCode(rr));
        const c = recs.find((r) => r.type === 'CNAME');
        if (!c || c.type !== 'CNAME' || view.findZone(c.data.target) !== zone) break;
        n = c.data.target;
      }
      for (const t of types) byType.set(t, body(name, lookup(view, name, t)));
    }
    const wire = nameToWire(name);
    out.push({
      wire,
      hash: hashName(wire, 0, wire.length),
      byType,
      other: body(name, lookup(view, name, NO_TYPE)),
      any: body(name, lookup(view, name, TYPE.ANY)),
      descendant,
    });
  }
}

/** Build the answer table for `zones`, filtered by health when `options.filter` is given. */
export function buildAnswerTable(zones: ZoneSet, options: BuildOptions = {}): BuildResult {
  const filtered = applyPoolFilter(zones, options.filter);
  const serials = new Map<string, number>();
  const withSerial = filtered.zones.zones.map((z) => {
    const serial = options.serials ? options.serials.next(z.origin, z.soa.data.serial, fingerprint(z)) : z.soa.data.serial;
    serials.set(z.origin, serial);
    return serial === z.soa.data.serial ? z : z.with(z.origin, 'SOA', [{ ...z.soa, data: { ...z.soa.data, serial } }]);
  });
  const view = new OverlayZoneSet(zones, withSerial);
  const entries: Entry[] = [];
  for (const zone of view.zones) {
    const nx = encodeBody(zone.origin, { answer: [], authority: [negativeSoa(zone)], additional: [] }, RCODE.NXDOMAIN, true);
    buildEntries(view, zone, nx, entries);
  }
  return {
    table: new AnswerTable(entries, serials, view.zones),
    failOpen: filtered.failOpen,
    withdrawn: filtered.withdrawn,
    failOpenNames: filtered.failOpenNames,
    serials,
  };
}

/** A table that refuses everything (before the first zones are loaded). */
export function emptyAnswerTable(): AnswerTable {
  return new AnswerTable([], new Map());
}
