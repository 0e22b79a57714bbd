/**
 * shared/ip: IP addresses and prefixes — the one place that reads an IPv4 or
 * IPv6 literal into octets, unwraps an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, however written) to IPv4, parses a CIDR prefix, and
 * matches addresses against a list of prefixes (AllowList: --forward-allow,
 * --allow-transfer).
 *
 * Hand-written rather than node:net's BlockList or a package: the checks run
 * on the DNS query path, so an address is read into a reused scratch array
 * (no allocation) and prefixes are kept as octets; and the IPv4-mapped rule is
 * one documented rule here, not whatever a Node version does. The syntax is
 * inet_pton's: dotted quads without leading zeros, IPv6 groups of 1-4 hex
 * digits with at most one "::" and an optional dotted-quad tail; a zone index
 * ("%eth0", as sockets report link-local sources) is accepted and ignored.
 *
 * May import: nothing.
 */

/** Octets of one address: 4 (IPv4) or 16 (IPv6). */
export type IpBytes = Uint8Array;

/**
 * Reads the dotted quad `s[start..end)` into `out[o..o+4)`; false when it is
 * not one (four decimal parts 0-255, no leading zeros, nothing else).
 */
function readV4(s: string, start: number, end: number, out: Uint8Array, o: number): boolean {
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[o + part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (c - 0x30);
      if (value > 255) return false;
      digits++;
    } else return false;
  }
  return part === 4;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Reads the IPv6 literal `s[0..end)` into `out[0..16)`; false when it is not one. */
function readV6(s: string, end: number, out: Uint8Array): boolean {
  let i = 0;
  let group = 0; // groups written
  let gap = -1; // the group index where "::" stands
  if (end >= 2 && s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === end) {
      out.fill(0);
      return true;
    }
  }
  for (;;) {
    if (group >= 8) return false;
    // one group, or the dotted-quad tail
    const start = i;
    let v = 0;
    let n = 0;
    while (i < end) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      n++;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 0x2e) {
      if (group > 6 || !readV4(s, start, end, out, group * 2)) return false;
      group += 2;
      break;
    }
    if (n === 0 || n > 4) return false;
    out[group * 2] = v >> 8;
    out[group * 2 + 1] = v & 0xff;
    group++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false;
      gap = group;
      i++;
      if (i === end) break;
    } else if (i === end) return false; // a trailing single ':'
  }
  if (gap < 0) return group === 8;
  if (group > 7) return false;
  // move the groups after the gap to the end, zeros in between
  const move = (group - gap) * 2;
  const to = 16 - move;
  out.copyWithin(to, gap * 2, group * 2);
  out.fill(0, gap * 2, to);
  return true;
}

/**
 * Reads `text` into `out` (at least 16 octets): 4 for IPv4 (octets 0-3), 6 for
 * IPv6 (octets 0-15), 0 when it is neither. Allocates nothing.
 */
export function readIp(text: string, out: Uint8Array): 0 | 4 | 6 {
  const len = text.length;
  if (len === 0 || len > 64) return 0;
  if (text.indexOf(':') < 0) return readV4(text, 0, len, out, 0) ? 4 : 0;
  const pct = text.indexOf('%');
  if (pct === 0 || pct === len - 1) return 0;
  return readV6(text, pct < 0 ? len : pct, out) ? 6 : 0;
}

/** The octets of an IPv4 or IPv6 literal (4 or 16), or null. */
export function parseIp(text: string): IpBytes | null {
  const out = new Uint8Array(16);
  const f = readIp(text, out);
  return f === 4 ? out.subarray(0, 4) : f === 6 ? out : null;
}

/** True when the 16 octets at `b` are an IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isMappedV4(b: Uint8Array): boolean {
  if (b.length !== 16 || b[10] !== 0xff || b[11] !== 0xff) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return true;
}

/** `b` with an IPv4-mapped IPv6 address as its 4 IPv4 octets (a view); any other address as it is. */
export function unmapV4(b: IpBytes): IpBytes {
  return isMappedV4(b) ? b.subarray(12, 16) : b;
}

/** An address as sockets report it, with an IPv4-mapped IPv6 one in IPv4 text ("::ffff:127.0.0.1" → "127.0.0.1"). */
export function plainAddress(text: string): string {
  const b = parseIp(text);
  if (!b || !isMappedV4(b)) return text;
  return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
}

/** Each octet in hex without leading zeros, and in two digits: a group is written from these, not with toString. */
const HEX1: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16));
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Group `i` (0-7) of `b` in hex without leading zeros. */
function hexGroup(b: Uint8Array, i: number): string {
  const hi = b[2 * i]!;
  return hi === 0 ? HEX1[b[2 * i + 1]!]! : HEX1[hi]! + HEX2[b[2 * i + 1]!]!;
}

/**
 * An IPv6 address in RFC 5952 text: lower case, the longest run of two or
 * more zero groups (the first of equal ones) as "::". Builds nothing but the
 * text (a DNS client reply and every AAAA record of a zone pass here).
 */
export function formatIPv6(b: Uint8Array): string {
  let best = -1;
  let bestLen = 1;
  let run = 0;
  for (let i = 0; i < 8; i++) {
    if ((b[2 * i]! | b[2 * i + 1]!) !== 0) run = 0;
    else if (++run > bestLen) {
      bestLen = run;
      best = i - run + 1;
    }
  }
  const head = best < 0 ? 8 : best;
  let s = '';
  for (let i = 0; i < head; i++) s += i === 0 ? hexGroup(b, 0) : ':' + hexGroup(b, i);
  if (best < 0) return s;
  s += '::';
  const tail = best + bestLen;
  for (let i = tail; i < 8; i++) s += i === tail ? hexGroup(b, i) : ':' + hexGroup(b, i);
  return s;
}

/** One prefix: the address as written, its octets (4 or 16) and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  /** The address part as written. */
  readonly address: string;
  readonly bytes: IpBytes;
  readonly bits: number;
}

/** Parses "ADDRESS/BITS", or a bare address (a host prefix: /32, /128); null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  if (address.includes('%')) return null;
  const bytes = parseIp(address);
  if (!bytes) return null;
  const family = bytes.length === 4 ? 4 : 6;
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return null;
    bits = Number(b);
    if (bits > max) return null;
  }
  return { family, address, bytes, bits };
}

/** True when the first `bits` bits of `a` and `p` agree (both of one length). */
function prefixMatch(a: Uint8Array, p: Uint8Array, bits: number): boolean {
  let i = 0;
  for (; bits >= 8; i++, bits -= 8) if (a[i] !== p[i]) return false;
  if (bits === 0) return true;
  const m = (0xff << (8 - bits)) & 0xff;
  return ((a[i]! ^ p[i]!) & m) === 0;
}

const scratch = new Uint8Array(16);
const scratch4 = new Uint8Array(4);

/**
 * A list of IPv4 and IPv6 prefixes, asked whether an address is inside one.
 * An IPv4-mapped IPv6 address is matched as the IPv4 address it carries (a
 * dual-stack socket reports IPv4 clients that way); an IPv4 prefix never
 * matches other IPv6 addresses, nor an IPv6 prefix IPv4 ones.
 */
export class AllowList {
  private readonly v4: Cidr[] = [];
  private readonly v6: Cidr[] = [];

  /** Every entry must pass parseCidr (config validation does); an invalid one throws. */
  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!c) throw new Error(`not a CIDR prefix: ${text}`);
      (c.family === 4 ? this.v4 : this.v6).push(c);
    }
  }

  get empty(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  /** True when `address` (an IP literal as sockets report it) is inside a listed prefix. Allocates nothing. */
  contains(address: string): boolean {
    if (this.v4.length === 0 && this.v6.length === 0) return false;
    const f = readIp(address, scratch);
    if (f === 0) return false;
    let list = this.v6;
    let a: Uint8Array = scratch;
    if (f === 4) {
      list = this.v4;
    } else if (isMappedV4(scratch)) {
      list = this.v4;
      for (let i = 0; i < 4; i++) scratch4[i] = scratch[12 + i]!;
      a = scratch4;
    }
    for (let i = 0; i < list.length; i++) if (prefixMatch(a, list[i]!.bytes, list[i]!.bits)) return true;
    return false;
  }
}
