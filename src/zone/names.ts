/**
 * zone/names: the served zones as a name source for outbound SIP resolution
 * (RFC 3263 for the site's own names: a gateway by its A record, a gateway
 * pool by SRV). The SIP plane reads it through its NameSource interface
 * (sip/proxy/resolver), wired by the site; the shapes here match that
 * interface without importing it. No I/O: a lookup reads the immutable
 * snapshot. May import: shared, zone/types.
 */
import { canonicalName } from '../shared/names.js';
import type { ZoneSet } from './types.js';

export type NameKind = 'A' | 'AAAA' | 'SRV' | 'NAPTR';

type Records =
  | { address: string }
  | { priority: number; weight: number; port: number; name: string }
  | { order: number; preference: number; flags: string; service: string; regexp: string; replacement: string };

export type ZoneNameAnswer = { data: readonly Records[]; ttl: number } | { alias: string } | 'nx' | 'nodata';

export class ZoneNames {
  constructor(private readonly zones: ZoneSet) {}

  /** undefined: `name` is in no served zone (ask DNS); else its records, a CNAME to follow, NXDOMAIN or no data. */
  lookup(kind: NameKind, name: string): ZoneNameAnswer | undefined {
    const n = canonicalName(name);
    const zone = this.zones.findZone(n);
    if (!zone) return undefined;
    if (!zone.names.has(n)) return 'nx';
    const rrs = zone.lookup(n, kind);
    if (rrs.length === 0) {
      const cname = zone.lookup(n, 'CNAME')[0];
      return cname ? { alias: cname.data.target } : 'nodata';
    }
    let ttl = Infinity;
    const data: Records[] = [];
    for (const rr of rrs) {
      ttl = Math.min(ttl, rr.ttl);
      switch (rr.type) {
        case 'A':
        case 'AAAA':
          data.push({ address: rr.data.address });
          break;
        case 'SRV':
          data.push({ priority: rr.data.priority, weight: rr.data.weight, port: rr.data.port, name: rr.data.target });
          break;
        case 'NAPTR':
          data.push({ ...rr.data });
          break;
      }
    }
    return { data, ttl };
  }
}
