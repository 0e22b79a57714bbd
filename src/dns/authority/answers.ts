/**
 * dns/authority/answers: the answer table — every response srvproxy can give
 * for the zones and health view of one moment, encoded once per name (on the
 * name's first query) and then only copied.
 *
 * For each owner name: one encoded Body per type it answers (types present at
 * the name, and for a CNAME the types along its chain), one for any other
 * type (NODATA, or the CNAME chain), one for ANY, and one for names below it
 * that do not exist (NXDOMAIN against the zone apex, or the referral of a
 * delegation). A name's Bodies are encoded on its first query and cached
 * (bounded: ANSWER_CACHE_NAMES), so a table of a 200k-record zone is built
 * in no time and holds only what is asked for; names are found by a hash of
 * their case-folded wire form in an open-addressing table, so a query for a
 * cached name builds no string.
 *
 * Build: applyPoolFilter (health) → SOA serial per zone (SerialCounter) →
 * the view the table answers from; per name on first query: lookup() per
 * (name, type) → encodeBody. What a table answers never changes; the server
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
import { RCODE, TYPE, equalsFolded, hashName } from '../wire/wire.js';

interface Entry {
  /** Lower-case wire form of the name. */
  readonly wire: Buffer;
  readonly hash: number;
  /** False: no served zone has this name (the walk goes on to its parent). */
  readonly exists: boolean;
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

/** Names whose answers are kept at most; past it the cache starts over (a scan of random names cannot grow it). */
export const ANSWER_CACHE_NAMES = 65536;

/** The canonical name of a wire name (lower case), or undefined when no zone can hold it (bytes a zone name never has). */
function wireToName(buf: Uint8Array, start: number): string | undefined {
  let name = '';
  for (let pos = start; buf[pos] !== 0; ) {
    const len = buf[pos]!;
    if (pos !== start) name += '.';
    for (let i = pos + 1; i <= pos + len; i++) {
      let c = buf[i]!;
      // Zone names hold \x21-\x7e only (zone/values.ts), never a dot inside a label.
      if (c < 0x21 || c > 0x7e || c === 0x2e) return undefined;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      name += String.fromCharCode(c);
    }
    pos += len + 1;
  }
  return name;
}

/**
 * The answer table: every response for the served zones at one moment. A
 * name's Bodies are encoded the first time it is asked for and kept (at most
 * ANSWER_CACHE_NAMES names, then the cache starts over), so building a table
 * costs nothing per name, however large the zones; a query for a name already
 * answered allocates nothing.
 */
export class AnswerTable {
  private slots: Int32Array;
  private entries: Entry[] = [];
  private readonly referrals = new Map<string, Body>();

  constructor(
    private readonly view: OverlayZoneSet | undefined,
    private readonly nxBodies: ReadonlyMap<Zone, Body>,
    /** SOA serial served per zone origin. */
    readonly serials: ReadonlyMap<string, number>,
    /** The zones as served (health-filtered, served SOA serial): what a zone transfer sends. */
    readonly zones: readonly Zone[] = [],
    /** At most this many names' answers are kept (a power of two). */
    private readonly cacheNames = ANSWER_CACHE_NAMES,
  ) {
    this.slots = new Int32Array(cacheNames * 2).fill(-1);
  }

  /** Number of owner names (and empty non-terminals) in the served zones. */
  get size(): number {
    let n = 0;
    for (const z of this.zones) n += z.names.size;
    return n;
  }

  /** Names whose answers are cached now. */
  get cached(): number {
    return this.entries.length;
  }

  private find(buf: Uint8Array, start: number, len: number, hash: number): Entry {
    const mask = this.slots.length - 1;
    let s = hash & mask;
    for (; ; s = (s + 1) & mask) {
      const i = this.slots[s]!;
      if (i < 0) break;
      const e = this.entries[i]!;
      if (e.hash === hash && equalsFolded(buf, start, e.wire, len)) return e;
    }
    if (this.entries.length >= this.cacheNames) {
      this.slots.fill(-1);
      this.entries = [];
      for (s = hash & mask; this.slots[s] !== -1; s = (s + 1) & mask);
    }
    const e = this.build(buf, start, len, hash);
    this.slots[s] = this.entries.length;
    this.entries.push(e);
    return e;
  }

  private build(buf: Uint8Array, start: number, len: number, hash: number): Entry {
    const wire = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) {
      const c = buf[start + i]!;
      wire[i] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
    }
    const name = wireToName(buf, start);
    const zone = name === undefined || !this.view ? undefined : this.view.findZone(name);
    if (!zone || name === undefined || !zone.names.has(name)) {
      return { wire, hash, exists: false, byType: EMPTY, other: REFUSED_BODY, any: REFUSED_BODY, descendant: REFUSED_BODY };
    }
    return { wire, hash, exists: true, ...this.bodies(this.view!, zone, name) };
  }

  private bodies(view: OverlayZoneSet, zone: OverlayZone, name: string): Pick<Entry, 'byType' | 'other' | 'any' | 'descendant'> {
    const byType = new Map<number, Body>();
    const cut = findCut(zone, name);
    let descendant = this.nxBodies.get(zone)!;
    if (cut !== undefined) {
      let ref = this.referrals.get(cut);
      if (!ref) this.referrals.set(cut, (ref = body(cut, lookup(view, cut, TYPE.A))));
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
    return { byType, other: body(name, lookup(view, name, NO_TYPE)), any: body(name, lookup(view, name, TYPE.ANY)), descendant };
  }

  /**
   * The Body answering the question name at `buf[12..12+qnameLen)` (already
   * hashed to `hash`) for `qtype`. Sets `delta`: how far the Body's base name
   * sits from offset 12 (0 for an exact match). REFUSED_BODY when no served
   * zone contains the name.
   */
  answer(buf: Uint8Array, qnameLen: number, hash: number, qtype: number, out: { delta: number }): Body {
    const exact = this.find(buf, 12, qnameLen, hash);
    if (exact.exists) {
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
      if (e.exists) {
        out.delta = qnameLen - e.descendant.baseLen;
        return e.descendant;
      }
    }
    out.delta = 0;
    return REFUSED_BODY;
  }
}

const EMPTY: ReadonlyMap<number, Body> = new Map();

export interface BuildOptions {
  /** The health view applied to the pool's records (DESIGN.md §5). */
  filter?: PoolFilter;
  /** Moves the served SOA serial forward when answers change; without it the zone file's serial is served. */
  serials?: SerialCounter;
  /** Names whose answers the table keeps at most (a power of two); default ANSWER_CACHE_NAMES. */
  cacheNames?: number;
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
  const nx = new Map<Zone, Body>();
  for (const zone of view.zones) {
    nx.set(zone, encodeBody(zone.origin, { answer: [], authority: [negativeSoa(zone)], additional: [] }, RCODE.NXDOMAIN, true));
  }
  return {
    table: new AnswerTable(view, nx, serials, view.zones, options.cacheNames),
    failOpen: filtered.failOpen,
    withdrawn: filtered.withdrawn,
    failOpenNames: filtered.failOpenNames,
    serials,
  };
}

/** A table that refuses everything (before the first zones are loaded). */
export function emptyAnswerTable(): AnswerTable {
  return new AnswerTable(undefined, new Map(), new Map());
}
