/**
 * dns/wire/response: the one writer of a DNS response, for the authoritative
 * path (authority/respond.ts) and the forwarding path (forward/message.ts):
 * header, the question as asked, answer/authority/additional sections fitted
 * to the client's size, and OPT.
 *
 * Fitting (RFC 1035 §4.2.1, RFC 6891 §7): over UDP a response is at most
 * min(client payload, maxUdp) octets with EDNS (never below 512), 512
 * without; over TCP 65535. When the whole response does not fit, the
 * additional section is left out; when that is not enough, the response goes
 * out with no records and TC set, so that the client asks over TCP. A caller
 * that appends a record afterwards (a TSIG, RFC 8945 §5.3) passes its length
 * as `reserve`, so that the message as sent still fits.
 *
 * OPT (RFC 6891): a query with OPT gets one OPT back — the payload size we
 * take (maxUdp), the upper 8 bits of the 12-bit RCODE in the TTL's first
 * octet (§6.1.3: BADVERS, 16, is 0 in the header and 1 there), version 0,
 * the DO bit copied (RFC 3225), no options. That holds for every response,
 * error replies included (§7).
 *
 * One Buffer per response, nothing else allocated; where the sections landed
 * is left in `placed` for the caller to patch (compression pointers, TTLs).
 *
 * May import: dns/wire.
 */
import { CLASSIC_UDP_PAYLOAD, FLAG, OPT_RR_LEN, TYPE } from './wire.js';

/** The EDNS facts of a query (a parsed Query or a forwarder's ClientQuery). */
export interface EdnsOfQuery {
  readonly edns: boolean;
  /** The client's UDP payload size from OPT (raw). */
  readonly udpSize: number;
  readonly dnssecOk: boolean;
}

/** The largest response this client takes (see above). */
function responseLimit(q: EdnsOfQuery, tcp: boolean, maxUdp: number): number {
  if (tcp) return 65535;
  if (!q.edns) return CLASSIC_UDP_PAYLOAD;
  return q.udpSize < CLASSIC_UDP_PAYLOAD ? CLASSIC_UDP_PAYLOAD : q.udpSize > maxUdp ? maxUdp : q.udpSize;
}

/** Where the last writeResponse() put the sections: octets [start, start + cut) of its result. */
export const placed = { start: 0, cut: 0, truncated: false };

/** No records. */
export const NO_SECTIONS: Buffer = Buffer.alloc(0);

/**
 * Writes one response. `query[0..qEnd)` is the query's header and question
 * (qEnd 12: no question, the header only); its ID is copied and its question
 * echoed as asked. `flags` are the header flags to set apart from TC and the
 * RCODE (QR, opcode, AA or RA, RD, CD, AD); `rcode` is the full 12-bit RCODE.
 * `sections` holds answer, authority and additional records (an, ns, ar of
 * them, the additional ones from `additionalStart`), written right after the
 * question, so their compression pointers must be relative to offset 12 of
 * the query's header. Over TCP the result carries its 2-byte length prefix.
 * `reserve` octets of the limit are kept free for a record the caller adds.
 */
export function writeResponse(
  query: Uint8Array,
  qEnd: number,
  q: EdnsOfQuery,
  flags: number,
  rcode: number,
  sections: Buffer,
  an: number,
  ns: number,
  ar: number,
  additionalStart: number,
  tcp: boolean,
  maxUdp: number,
  reserve = 0,
): Buffer {
  const optLen = q.edns ? OPT_RR_LEN : 0;
  const limit = responseLimit(q, tcp, maxUdp) - reserve;
  let cut = sections.length;
  let tc = false;
  if (qEnd + cut + optLen > limit) {
    cut = additionalStart;
    ar = 0;
    if (qEnd + cut + optLen > limit) {
      cut = 0;
      an = ns = 0;
      tc = true;
    }
  }
  const size = qEnd + cut + optLen;
  const o = tcp ? 2 : 0;
  const out = Buffer.allocUnsafe(size + o);
  if (tcp) {
    out[0] = size >> 8;
    out[1] = size & 0xff;
  }
  const f = flags | (tc ? FLAG.TC : 0) | (rcode & 0xf);
  out[o] = query[0]!;
  out[o + 1] = query[1]!;
  out[o + 2] = (f >> 8) & 0xff;
  out[o + 3] = f & 0xff;
  out[o + 4] = 0;
  out[o + 5] = qEnd > 12 ? 1 : 0;
  out[o + 6] = an >> 8;
  out[o + 7] = an & 0xff;
  out[o + 8] = ns >> 8;
  out[o + 9] = ns & 0xff;
  const arTotal = ar + (q.edns ? 1 : 0);
  out[o + 10] = arTotal >> 8;
  out[o + 11] = arTotal & 0xff;
  for (let i = 12; i < qEnd; i++) out[o + i] = query[i]!;
  const b = o + qEnd;
  if (cut > 0) sections.copy(out, b, 0, cut);
  if (q.edns) {
    const e = b + cut;
    out[e] = 0; // root
    out[e + 1] = 0;
    out[e + 2] = TYPE.OPT;
    out[e + 3] = (maxUdp >> 8) & 0xff; // CLASS: our payload size
    out[e + 4] = maxUdp & 0xff;
    out[e + 5] = (rcode >> 4) & 0xff; // TTL: extended RCODE, version 0, DO, Z
    out[e + 6] = 0;
    out[e + 7] = q.dnssecOk ? 0x80 : 0;
    out[e + 8] = 0;
    out[e + 9] = 0; // RDLENGTH 0
    out[e + 10] = 0;
  }
  placed.start = b;
  placed.cut = cut;
  placed.truncated = tc;
  return out;
}
