/**
 * dns/forward/message: the wire side of forwarding — the client's query as
 * kept while it waits, the query sent upstream, the checks an upstream
 * answer must pass, and the answers written back to clients (relayed,
 * REFUSED, SERVFAIL).
 *
 * A relayed answer is the upstream's answer, authority and additional
 * sections copied behind the client's own header and question. The question
 * sits at offset 12 with the same length in both messages, so every
 * compression pointer in the copied sections stays valid and names that point
 * at the question echo the client's case. The upstream's OPT is left out (and
 * whatever follows it); the client gets srvproxy's own OPT, as on the
 * authoritative path; both are written by the one response writer
 * (wire/response.ts). TTLs are rewritten on the way out (decremented by the
 * time spent in the cache).
 *
 * Header of a relayed answer: the client's ID, QR, RD and CD copied from the
 * query, RA set (recursion is available to this client), AA clear (srvproxy
 * is not the authority), AD kept only when the client asked for DNSSEC data
 * (DO or AD, RFC 6840 §5.8), the upstream's RCODE.
 *
 * May import: dns/wire.
 */
import { FLAG, OPT_RR_LEN, Parse, RCODE, TYPE, newQuery, parseQuery, skipName } from '../wire/wire.js';
import { NO_SECTIONS, placed, writeResponse } from '../wire/response.js';

/** A client's query, copied out of the receive buffer while its answer is pending. */
export interface ClientQuery {
  /** Header and question of the query as received (qEnd octets). */
  readonly head: Buffer;
  readonly qnameLen: number;
  readonly qtype: number;
  readonly qclass: number;
  /** Header flags of the query. */
  readonly flags: number;
  readonly edns: boolean;
  readonly udpSize: number;
  readonly dnssecOk: boolean;
  readonly tcp: boolean;
}

const scratch = newQuery();

/** Copy what is needed of the query in `msg[0..len)`; null when it is not a plain answerable query. */
export function readClientQuery(msg: Uint8Array, len: number, tcp: boolean): ClientQuery | null {
  if (parseQuery(msg, len, scratch) !== Parse.Ok) return null;
  const qEnd = 12 + scratch.qnameLen + 4;
  return {
    head: Buffer.from(msg.subarray(0, qEnd)),
    qnameLen: scratch.qnameLen,
    qtype: scratch.qtype,
    qclass: scratch.qclass,
    flags: scratch.flags,
    edns: scratch.edns,
    udpSize: scratch.udpSize,
    dnssecOk: scratch.dnssecOk,
    tcp,
  };
}

/** The question name in lower case, wire form (ASCII folding only, as DNS compares names). */
export function foldedName(cq: ClientQuery): Buffer {
  const out = Buffer.from(cq.head.subarray(12, 12 + cq.qnameLen));
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if (b >= 0x41 && b <= 0x5a) out[i] = b | 0x20;
  }
  return out;
}

/**
 * The cache and coalescing key: name, type, class, and the bits that change
 * what an upstream returns (CD, DO).
 */
export function cacheKey(cq: ClientQuery, folded: Buffer): string {
  const bits = (cq.flags & FLAG.CD ? 1 : 0) | (cq.dnssecOk ? 2 : 0);
  return `${folded.toString('latin1')}/${cq.qtype}/${cq.qclass}/${bits}`;
}

/** Our payload size advertised upstream, and the buffer we read UDP answers into. */
const UPSTREAM_UDP_PAYLOAD = 1232;

/** The query sent upstream: a new random ID, RD set, CD copied, the name in lower case, EDNS0 with DO copied. */
export function upstreamQuery(id: number, cq: ClientQuery, folded: Buffer): Buffer {
  const out = Buffer.alloc(12 + folded.length + 4 + OPT_RR_LEN);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(FLAG.RD | (cq.flags & FLAG.CD), 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(1, 10);
  folded.copy(out, 12);
  let o = 12 + folded.length;
  out.writeUInt16BE(cq.qtype, o);
  out.writeUInt16BE(cq.qclass, o + 2);
  o += 4;
  out[o] = 0;
  out.writeUInt16BE(TYPE.OPT, o + 1);
  out.writeUInt16BE(UPSTREAM_UDP_PAYLOAD, o + 3);
  out[o + 7] = cq.dnssecOk ? 0x80 : 0;
  return out;
}

/** An upstream answer that passed every check, ready to relay and cache. */
export interface UpstreamAnswer {
  readonly rcode: number;
  readonly tc: boolean;
  readonly ad: boolean;
  /** Answer, authority and additional records (no OPT), as they followed the question. */
  readonly sections: Buffer;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
  /** Offset in `sections` where the additional section starts. */
  readonly additionalStart: number;
  /** Offsets in `sections` of each record's TTL field, and the TTLs received. */
  readonly ttlOffsets: Uint32Array;
  readonly ttls: Uint32Array;
  /** How long it may be cached, seconds (0: not at all). */
  readonly cacheTtl: number;
  /** NXDOMAIN or NODATA. */
  readonly negative: boolean;
}

export interface CacheLimits {
  /** Upper bound on a positive answer's time in the cache, seconds. */
  maxTtl: number;
  /** Upper bound on a negative answer's time in the cache, seconds (RFC 2308 §5 suggests 1-3 hours). */
  maxNegativeTtl: number;
}

/**
 * Check `buf[0..len)` against the query it must answer (`id`, the lower-case
 * question name `folded`, type, class) and read it. Null when it does not
 * match or is malformed: such a message is dropped, never relayed.
 */
export function readUpstreamAnswer(
  buf: Uint8Array,
  len: number,
  id: number,
  cq: ClientQuery,
  folded: Buffer,
  limits: CacheLimits,
): UpstreamAnswer | null {
  if (len < 12) return null;
  if (((buf[0]! << 8) | buf[1]!) !== id) return null;
  const flags = (buf[2]! << 8) | buf[3]!;
  if ((flags & FLAG.QR) === 0 || ((flags >> 11) & 0xf) !== 0) return null;
  if (((buf[4]! << 8) | buf[5]!) !== 1) return null;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const arAll = (buf[10]! << 8) | buf[11]!;
  const qEnd = 12 + folded.length + 4;
  if (len < qEnd || buf[12 + folded.length - 1] !== 0) return null;
  for (let i = 0; i < folded.length; i++) {
    let b = buf[12 + i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== folded[i]) return null;
  }
  const t = 12 + folded.length;
  if (((buf[t]! << 8) | buf[t + 1]!) !== cq.qtype || ((buf[t + 2]! << 8) | buf[t + 3]!) !== cq.qclass) return null;

  const rcode = flags & 0xf;
  const ttlOffsets: number[] = [];
  const ttls: number[] = [];
  let minTtl = 0xffffffff;
  let soaNegTtl = -1;
  let pos = qEnd;
  let additionalStart = -1;
  let end = -1;
  let ar = 0;
  const total = an + ns + arAll;
  for (let i = 0; i < total; i++) {
    if (i === an + ns) additionalStart = pos - qEnd;
    const start = pos;
    pos = skipName(buf, pos, len);
    if (pos < 0 || pos + 10 > len) return null;
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    const ttl = ((buf[pos + 4]! << 24) | (buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!) >>> 0;
    const rdlen = (buf[pos + 8]! << 8) | buf[pos + 9]!;
    const next = pos + 10 + rdlen;
    if (next > len) return null;
    if (type === TYPE.OPT) {
      if (i < an + ns) return null;
      end = start; // the OPT and whatever follows it stay behind
      break;
    }
    // TTLs with the top bit set count as 0 (RFC 2181 §8).
    const t32 = ttl > 0x7fffffff ? 0 : ttl;
    ttlOffsets.push(pos + 4 - qEnd);
    ttls.push(t32);
    if (t32 < minTtl) minTtl = t32;
    if (type === TYPE.SOA && i >= an && i < an + ns && rdlen >= 20) {
      const minimum = ((buf[next - 4]! << 24) | (buf[next - 3]! << 16) | (buf[next - 2]! << 8) | buf[next - 1]!) >>> 0;
      const neg = Math.min(t32, minimum > 0x7fffffff ? 0 : minimum);
      soaNegTtl = soaNegTtl < 0 ? neg : Math.min(soaNegTtl, neg);
    }
    if (i >= an + ns) ar++;
    pos = next;
  }
  if (end < 0) end = pos;
  if (additionalStart < 0) additionalStart = end - qEnd;
  const tc = (flags & FLAG.TC) !== 0;
  const negative = rcode === RCODE.NXDOMAIN || (rcode === RCODE.NOERROR && an === 0);
  let cacheTtl = 0;
  if (!tc) {
    if (negative) {
      // RFC 2308 §5: no SOA, no negative caching. NOERROR/0 without SOA may be a referral.
      if (soaNegTtl >= 0) cacheTtl = Math.min(soaNegTtl, limits.maxNegativeTtl);
    } else if (rcode === RCODE.NOERROR) {
      cacheTtl = Math.min(minTtl, limits.maxTtl);
    }
  }
  return {
    rcode,
    tc,
    ad: (flags & FLAG.AD) !== 0,
    sections: Buffer.from(buf.subarray(qEnd, end)),
    an,
    ns,
    ar,
    additionalStart,
    ttlOffsets: Uint32Array.from(ttlOffsets),
    ttls: Uint32Array.from(ttls),
    cacheTtl,
    negative,
  };
}

/** An answer with no records: REFUSED for a client not allowed to forward (as the authoritative path writes it), SERVFAIL when no upstream answered. */
export function emptyAnswer(cq: ClientQuery, rcode: number, ra: boolean, maxUdp: number): Buffer {
  const flags = FLAG.QR | (ra ? FLAG.RA : 0) | (cq.flags & (FLAG.RD | FLAG.CD));
  return writeResponse(cq.head, cq.head.length, cq, flags, rcode, NO_SECTIONS, 0, 0, 0, 0, cq.tcp, maxUdp);
}

/**
 * The relayed answer for `cq`, its TTLs lowered by `elapsed` seconds. Over
 * UDP, cut to the client's size like an authoritative answer: first without
 * the additional section, then empty with TC.
 */
export function relayedAnswer(cq: ClientQuery, a: UpstreamAnswer, elapsed: number, maxUdp: number): Buffer {
  const dnssec = cq.dnssecOk || (cq.flags & FLAG.AD) !== 0;
  const flags = FLAG.QR | FLAG.RA | (cq.flags & (FLAG.RD | FLAG.CD)) | (a.ad && dnssec ? FLAG.AD : 0);
  const out = writeResponse(cq.head, cq.head.length, cq, flags, a.rcode, a.sections, a.an, a.ns, a.ar, a.additionalStart, cq.tcp, maxUdp);
  const b = placed.start;
  const cut = placed.cut;
  const offs = a.ttlOffsets;
  for (let i = 0; i < offs.length; i++) {
    const at = offs[i]!;
    if (at >= cut) break;
    const ttl = a.ttls[i]!;
    out.writeUInt32BE(ttl > elapsed ? ttl - elapsed : 0, b + at);
  }
  return out;
}
