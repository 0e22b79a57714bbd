/**
 * zone/present: records back to master-file text in the canonical form BIND
 * prints (`named-checkzone -D`): absolute names with a trailing dot, quoted
 * character-strings with \" \\ and \DDD escapes. Used for duplicate
 * detection, messages and the interop test's comparison with BIND.
 * May import: zone/types.
 */
import type { RData, RR } from './types.js';

/** An absolute name with its trailing dot; the root is ".". */
function fqdn(name: string): string {
  return name === '' ? '.' : name + '.';
}

/** A character-string as BIND prints it: quoted, printable ASCII kept, the rest as \DDD. */
function quoteBytes(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\' + String(c).padStart(3, '0');
  }
  return s + '"';
}

/** A latin1 string (one character an octet) as quoteBytes prints its octets. */
function q(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    if (c === 0x22 || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += '\\' + String(c).padStart(3, '0');
  }
  return out + '"';
}

/** The RDATA in presentation form. */
export function formatRdata(rd: RData): string {
  switch (rd.type) {
    case 'A': case 'AAAA': return rd.data.address;
    case 'NS': return fqdn(rd.data.host);
    case 'CNAME': case 'PTR': return fqdn(rd.data.target);
    case 'MX': return `${rd.data.preference} ${fqdn(rd.data.exchange)}`;
    case 'SRV': return `${rd.data.priority} ${rd.data.weight} ${rd.data.port} ${fqdn(rd.data.target)}`;
    case 'SOA': {
      const d = rd.data;
      return `${fqdn(d.mname)} ${fqdn(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    }
    case 'NAPTR': {
      const d = rd.data;
      return `${d.order} ${d.preference} ${q(d.flags)} ${q(d.service)} ${q(d.regexp)} ${fqdn(d.replacement)}`;
    }
    case 'TXT': return rd.data.strings.map(quoteBytes).join(' ');
    case 'CAA': return `${rd.data.flags} ${rd.data.tag} ${quoteBytes(rd.data.value)}`;
  }
}

/** One record as a master-file line: `name. TTL IN TYPE rdata`. */
export function formatRR(rr: RR): string {
  return `${fqdn(rr.name)} ${rr.ttl} IN ${rr.type} ${formatRdata(rr)}`;
}
