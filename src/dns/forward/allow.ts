/**
 * dns/forward-allow: who may have names outside the served zones forwarded
 * (--forward-allow CIDR...). A list of IPv4 and IPv6 prefixes; an
 * IPv4-mapped IPv6 source (::ffff:a.b.c.d) is matched as IPv4. Consulted only
 * on the path where a query would otherwise be REFUSED, never for names in
 * the served zones.
 *
 * Hand-written rather than node:net's BlockList: BlockList parses the address
 * string on every check and its IPv4/IPv6 mapping rules differ by Node
 * version; this keeps prefixes as numbers and documents the mapping.
 *
 * May import: shared.
 */
import net from 'node:net';

interface Prefix4 {
  net: number;
  mask: number;
}

interface Prefix6 {
  /** 16 octets. */
  bytes: Uint8Array;
  bits: number;
}

export interface Cidr {
  family: 4 | 6;
  /** The address part as written. */
  address: string;
  bits: number;
}

/** Parse "ADDRESS/BITS" (or a bare address: a host prefix); null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = net.isIP(address);
  if (family !== 4 && family !== 6) return null;
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return null;
    bits = Number(b);
    if (bits > max) return null;
  }
  return { family, address, bits };
}

function v4Number(address: string): number {
  const p = address.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function v6Bytes(address: string): Uint8Array {
  // Expand "::" into zero groups, and an embedded IPv4 tail into two groups.
  const pct = address.indexOf('%');
  let t = pct < 0 ? address : address.slice(0, pct);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const n = v4Number(v4[1]!);
    t = t.slice(0, -v4[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = t.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export class AllowList {
  private readonly v4: Prefix4[] = [];
  private readonly v6: Prefix6[] = [];

  /** `cidrs` must have passed parseCidr (config validation); an invalid one throws. */
  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!c) throw new Error(`not a CIDR prefix: ${text}`);
      if (c.family === 4) {
        const mask = maskOf(c.bits);
        this.v4.push({ net: (v4Number(c.address) & mask) >>> 0, mask });
      } else {
        this.v6.push({ bytes: v6Bytes(c.address), bits: c.bits });
      }
    }
  }

  get empty(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  /** True when `address` (an IP literal as sockets report it) is inside a listed prefix. */
  allows(address: string): boolean {
    let a = address;
    if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
    const family = net.isIP(a);
    if (family === 4) {
      const n = v4Number(a);
      for (const p of this.v4) if (((n & p.mask) >>> 0) === p.net) return true;
      return false;
    }
    if (family !== 6 || this.v6.length === 0) return false;
    const b = v6Bytes(a);
    for (const p of this.v6) if (matches6(b, p)) return true;
    return false;
  }
}

function matches6(b: Uint8Array, p: Prefix6): boolean {
  let bits = p.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i]! & m) !== (p.bytes[i]! & m)) return false;
  }
  return true;
}
