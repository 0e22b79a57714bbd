/**
 * dns/authority/lookup: what the served zones say about one (name, type), as
 * a result kind plus sections — no wire bytes here (encode.ts builds those).
 * Called when a name's answers are first encoded (answers.ts), never again
 * for a name already answered.
 *
 * Authoritative only: names outside every served zone are Refused. Rules:
 * RFC 1034 §4.3.2 (CNAME chased inside the same zone, at most 8 links),
 * RFC 2308 (negative answers carry the SOA with TTL min(SOA TTL, MINIMUM)),
 * RFC 8482 (ANY gets one RRset), RFC 2782/3263 (SRV and NAPTR additional
 * data), delegation (NS below the apex) answered as a referral with glue.
 * Minimal responses: positive answers carry no NS in authority.
 *
 * May import: zone/types, dns/wire.
 */
import type { RR, RRType, Zone, ZoneSet } from '../../zone/types.js';
import { RR_TYPE_CODES } from '../../zone/types.js';
import { RCODE, TYPE } from '../wire/wire.js';

type ResultKind = 'Success' | 'NameError' | 'NoData' | 'Delegation' | 'Refused';

export interface LookupResult {
  kind: ResultKind;
  rcode: number;
  /** Authoritative answer (false for referrals and Refused). */
  aa: boolean;
  answer: RR[];
  authority: RR[];
  additional: RR[];
}

const TYPE_BY_CODE = new Map<number, RRType>(Object.entries(RR_TYPE_CODES).map(([t, c]) => [c, t as RRType]));

const MAX_CNAME_CHAIN = 8;

/** The SOA of `zone` as negative answers carry it (RFC 2308 §3). */
export function negativeSoa(zone: Zone): RR {
  const soa = zone.soa;
  return { ...soa, ttl: Math.min(soa.ttl, soa.data.minimum) };
}

function parentOf(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1);
}

/** The topmost delegation point (NS below the apex) at or above `name` in `zone`, if any. */
export function findCut(zone: Zone, name: string): string | undefined {
  const chain: string[] = [];
  for (let n = name; n !== zone.origin && n !== ''; n = parentOf(n)) chain.push(n);
  for (let i = chain.length - 1; i >= 0; i--) {
    if (zone.lookup(chain[i]!, 'NS').length > 0) return chain[i];
  }
  return undefined;
}

class Additional {
  readonly records: RR[] = [];
  private readonly seen = new Set<string>();
  constructor(
    private readonly zones: ZoneSet,
    exclude: readonly RR[],
  ) {
    for (const rr of exclude) this.seen.add(`${rr.name}/${rr.type}`);
  }
  private add(name: string, type: RRType): RR[] {
    const key = `${name}/${type}`;
    if (this.seen.has(key)) return [];
    this.seen.add(key);
    const zone = this.zones.findZone(name);
    if (!zone || findCut(zone, name) !== undefined) return [];
    const rrs = zone.lookup(name, type);
    this.records.push(...rrs);
    return [...rrs];
  }
  addresses(name: string): void {
    this.add(name, 'A');
    this.add(name, 'AAAA');
  }
  /** Glue for a referral: addresses of the NS hosts, even below the cut. */
  glue(name: string): void {
    for (const type of ['A', 'AAAA'] as const) {
      const key = `${name}/${type}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      const zone = this.zones.findZone(name);
      if (zone) this.records.push(...zone.lookup(name, type));
    }
  }
  /** Additional data for the records of an answer (SRV, NAPTR, MX, NS). */
  for(rrs: readonly RR[]): void {
    for (const rr of rrs) {
      switch (rr.type) {
        case 'SRV':
          if (rr.data.target !== '') this.addresses(rr.data.target);
          break;
        case 'MX':
          this.addresses(rr.data.exchange);
          break;
        case 'NS':
          this.addresses(rr.data.host);
          break;
        case 'NAPTR': {
          const flags = rr.data.flags.toLowerCase();
          if (flags.includes('s')) {
            for (const srv of this.add(rr.data.replacement, 'SRV')) {
              if (srv.type === 'SRV' && srv.data.target !== '') this.addresses(srv.data.target);
            }
          } else if (flags.includes('a')) {
            this.addresses(rr.data.replacement);
          }
          break;
        }
        default:
          break;
      }
    }
  }
}

function rrsetOf(zone: Zone, name: string, qtype: number): readonly RR[] {
  const type = TYPE_BY_CODE.get(qtype);
  return type ? zone.lookup(name, type) : [];
}

/** RFC 8482: one RRset for ANY — the one with the lowest type code at the name. */
function anyRRset(zone: Zone, name: string): readonly RR[] {
  const recs = zone.recordsAt(name);
  let best: RRType | undefined;
  for (const rr of recs) if (best === undefined || RR_TYPE_CODES[rr.type] < RR_TYPE_CODES[best]) best = rr.type;
  return best ? zone.lookup(name, best) : [];
}

function result(kind: ResultKind, rcode: number, aa: boolean, answer: RR[], authority: RR[], additional: RR[]): LookupResult {
  return { kind, rcode, aa, answer, authority, additional };
}

/** Answer (qname, qtype) from `zones`. `qname` is canonical; `qtype` is any type code. */
export function lookup(zones: ZoneSet, qname: string, qtype: number): LookupResult {
  const zone = zones.findZone(qname);
  if (!zone) return result('Refused', RCODE.REFUSED, false, [], [], []);

  const cut = findCut(zone, qname);
  if (cut !== undefined) {
    const ns = [...zone.lookup(cut, 'NS')];
    const extra = new Additional(zones, []);
    for (const rr of ns) if (rr.type === 'NS') extra.glue(rr.data.host);
    return result('Delegation', RCODE.NOERROR, false, [], ns, extra.records);
  }

  if (!zone.names.has(qname)) return result('NameError', RCODE.NXDOMAIN, true, [], [negativeSoa(zone)], []);

  const answer: RR[] = [];
  let name = qname;
  const seen = new Set<string>();
  for (let link = 0; ; link++) {
    const cname = zone.lookup(name, 'CNAME');
    if (cname.length > 0 && qtype !== TYPE.CNAME && qtype !== TYPE.ANY) {
      const rr = cname[0]!;
      answer.push(rr);
      seen.add(name);
      const target = rr.type === 'CNAME' ? rr.data.target : '';
      // Chase only inside this zone (and not into a delegation or a loop).
      if (link >= MAX_CNAME_CHAIN || seen.has(target) || zones.findZone(target) !== zone || findCut(zone, target) !== undefined) {
        return result('Success', RCODE.NOERROR, true, answer, [], []);
      }
      if (!zone.names.has(target)) return result('NameError', RCODE.NXDOMAIN, true, answer, [negativeSoa(zone)], []);
      name = target;
      continue;
    }
    const rrset = qtype === TYPE.ANY ? anyRRset(zone, name) : rrsetOf(zone, name, qtype);
    if (rrset.length === 0) return result('NoData', RCODE.NOERROR, true, answer, [negativeSoa(zone)], []);
    answer.push(...rrset);
    const extra = new Additional(zones, answer);
    extra.for(rrset);
    return result('Success', RCODE.NOERROR, true, answer, [], extra.records);
  }
}
