/**
 * dns/server/rrl: response rate limiting for UDP answers, per client prefix
 * (/24 for IPv4, /56 for IPv6), against reflection and amplification through
 * the authority. Each prefix has a token bucket of `rate` responses a second
 * (burst: one second's worth). Over it, responses are dropped, except every
 * `slip`-th one, which is sent truncated (TC set, no records) so that a real
 * client behind the prefix retries over TCP — TCP answers are never limited,
 * and a spoofed source cannot complete a TCP handshake. `slip` 0 drops all, 1
 * truncates all. Off (`rate` 0) by default, as in BIND: see options.ts.
 *
 * The prefix table is bounded (`maxPrefixes`): when full, the oldest entries
 * are evicted (a Map keeps insertion order), so a spoofed-source storm costs
 * bounded memory and, at worst, resets some buckets.
 *
 * Hand-written: no maintained Node package does DNS RRL; the state machine
 * is a few lines. May import: shared, dns/wire.
 */
import { isMappedV4, readIp } from '../../shared/ip.js';
import { skipName, TYPE } from '../wire/wire.js';

/** Octets of the address being keyed (the query path is synchronous). */
const scratch = new Uint8Array(16);

export interface RrlOptions {
  /** Responses a second per client prefix; 0 = off. */
  rate: number;
  /** Every slip-th limited response is sent truncated; 0 = drop all (default 2, as BIND). */
  slip?: number;
  /** IPv4 prefix length (default 24). */
  ipv4Prefix?: number;
  /** IPv6 prefix length (default 56). */
  ipv6Prefix?: number;
  /** Most prefixes tracked at once (default 100000). */
  maxPrefixes?: number;
}

export interface RrlCounters {
  /** Responses not sent because their prefix was over the rate. */
  rrlDropped: number;
  /** Responses sent truncated (TC) instead (the slip). */
  rrlSlipped: number;
}

interface Bucket {
  tokens: number;
  at: number;
  limited: number;
}

export class ResponseRateLimiter {
  readonly counters: RrlCounters = { rrlDropped: 0, rrlSlipped: 0 };
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly slip: number;
  private readonly v4Bytes: number;
  private readonly v4Mask: number;
  private readonly v6Prefix: number;
  private readonly max: number;

  constructor(
    opts: RrlOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.rate = opts.rate;
    this.slip = opts.slip ?? 2;
    const v4 = Math.max(8, Math.min(32, opts.ipv4Prefix ?? 24));
    this.v4Bytes = Math.ceil(v4 / 8);
    this.v4Mask = (0xff << (8 * this.v4Bytes - v4)) & 0xff;
    this.v6Prefix = Math.max(16, Math.min(128, opts.ipv6Prefix ?? 56));
    this.max = opts.maxPrefixes ?? 100_000;
  }

  get enabled(): boolean {
    return this.rate > 0;
  }

  /** Prefixes tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * What to do with one UDP response to `address`: 'send' it, send it 'truncated', or 'drop' it.
   */
  check(address: string): 'send' | 'truncated' | 'drop' {
    if (this.rate <= 0) return 'send';
    const key = this.prefixOf(address);
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.max) this.evict();
      b = { tokens: this.rate, at: t, limited: 0 };
      this.buckets.set(key, b);
    } else if (t > b.at) {
      b.tokens = Math.min(this.rate, b.tokens + ((t - b.at) / 1000) * this.rate);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'send';
    }
    b.limited++;
    if (this.slip > 0 && b.limited % this.slip === 0) {
      this.counters.rrlSlipped++;
      return 'truncated';
    }
    this.counters.rrlDropped++;
    return 'drop';
  }

  /** The client prefix an address belongs to (IPv4-mapped IPv6 counts as IPv4; not an address: ''). */
  prefixOf(address: string): string {
    const b = scratch;
    let f = readIp(address, b);
    let o = 0;
    if (f === 6 && isMappedV4(b)) {
      f = 4;
      o = 12;
    }
    if (f === 4) {
      let key = '';
      for (let i = 0; i < this.v4Bytes; i++) {
        const octet = b[o + i]! & (i === this.v4Bytes - 1 ? this.v4Mask : 0xff);
        key += (i ? '.' : '') + octet;
      }
      return key;
    }
    if (f === 0) return '';
    const whole = this.v6Prefix >> 4;
    const rest = this.v6Prefix & 15;
    let key = 'v6';
    for (let i = 0; i < whole; i++) key += ':' + ((b[2 * i]! << 8) | b[2 * i + 1]!);
    if (rest) key += ':' + (((b[2 * whole]! << 8) | b[2 * whole + 1]!) & ((0xffff << (16 - rest)) & 0xffff));
    return key;
  }

  private evict(): void {
    // drop the oldest tenth: amortised, and a burst of new sources cannot grow the table
    let n = Math.max(1, Math.floor(this.max / 10));
    for (const k of this.buckets.keys()) {
      this.buckets.delete(k);
      if (--n === 0) break;
    }
  }
}

/**
 * A truncated copy of a UDP response: the header with TC set, the question,
 * and the response's OPT record when it has one (RFC 6891 §7: a query with
 * OPT gets an OPT back, a slipped answer too); every other record left out.
 * Undefined when the response is not one this server built (no single
 * question, unreadable records).
 */
export function truncatedResponse(resp: Buffer): Buffer | undefined {
  const len = resp.length;
  if (len < 12 || resp.readUInt16BE(4) !== 1) return undefined;
  let i = skipName(resp, 12, len);
  if (i < 0 || i + 4 > len) return undefined;
  const end = i + 4;
  // The OPT, wherever in the additional section it is (before a TSIG when signed).
  const records = resp.readUInt16BE(6) + resp.readUInt16BE(8) + resp.readUInt16BE(10);
  let optStart = -1;
  let optEnd = -1;
  i = end;
  for (let r = 0; r < records; r++) {
    const start = i;
    i = skipName(resp, i, len);
    if (i < 0 || i + 10 > len) return undefined;
    const next = i + 10 + resp.readUInt16BE(i + 8);
    if (next > len) return undefined;
    if (resp.readUInt16BE(i) === TYPE.OPT) {
      optStart = start;
      optEnd = next;
    }
    i = next;
  }
  const out = Buffer.allocUnsafe(end + (optStart < 0 ? 0 : optEnd - optStart));
  resp.copy(out, 0, 0, end);
  if (optStart >= 0) resp.copy(out, end, optStart, optEnd);
  out[2] = out[2]! | 0x02; // TC
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(optStart < 0 ? 0 : 1, 10);
  return out;
}
