/**
 * dns/respond: one query in, one response out — the whole query path.
 * Parses the header, question and OPT (wire.ts), picks the precomputed Body
 * (answers.ts), and writes header + the question as asked (so its case is
 * echoed, and every compression pointer to it too) + the Body + OPT.
 *
 * EDNS0: an OPT in the query gets an OPT in the answer advertising
 * MAX_UDP_PAYLOAD (1232) with the DO bit copied. A UDP answer is at most
 * min(client payload, 1232) octets with EDNS, 512 without; when the whole
 * answer does not fit, the additional section is left out, and when that is
 * not enough the answer goes out empty with TC so the client asks over TCP.
 *
 * Synchronous and allocation-light: one scratch Query reused, one Buffer per
 * response. May import: zone/types, shared.
 */
import { REFUSED_BODY, type AnswerTable } from './answers.js';
import { emptyBody, type Body } from '../wire/encode.js';
import { rcodeLabel, qtypeLabel, type DnsCounters } from '../counters.js';
import {
  CLASSIC_UDP_PAYLOAD, CLASS_ANY, CLASS_IN, FLAG, MAX_UDP_PAYLOAD, OPT_RR_LEN, Parse, RCODE, TYPE, newQuery, parseQuery,
} from '../wire/wire.js';

/**
 * Returned instead of REFUSED when the caller forwards names outside the
 * served zones (forward.ts decides who may): the caller answers later.
 */
export const FORWARD: Buffer = Buffer.alloc(0);

const q = newQuery();
const where = { delta: 0 };
const BADVERS_BODY = emptyBody(RCODE.BADVERS, false);
const NOTIMP_BODY = emptyBody(RCODE.NOTIMP, false);
const FORMERR_BODY = emptyBody(RCODE.FORMERR, false);

/** FORMERR / NOTIMP without a usable question: the header only, opcode and RD copied. */
function headerOnly(msg: Uint8Array, rcode: number, tcp: boolean, c: DnsCounters): Buffer {
  const o = tcp ? 2 : 0;
  const out = Buffer.alloc(12 + o);
  if (tcp) out.writeUInt16BE(12, 0);
  out[o] = msg[0]!;
  out[o + 1] = msg[1]!;
  const flags = FLAG.QR | (((msg[2]! << 8) | msg[3]!) & (0x7800 | FLAG.RD)) | rcode;
  out.writeUInt16BE(flags, o + 2);
  c.responses[rcodeLabel(rcode)]++;
  return out;
}

/**
 * The response to the message `msg[0..len)`, or null to drop it. Over TCP the
 * result carries its 2-byte length prefix. `maxUdp` caps UDP answers.
 */
export function respond(
  table: AnswerTable,
  msg: Uint8Array,
  len: number,
  tcp: boolean,
  c: DnsCounters,
  maxUdp: number = MAX_UDP_PAYLOAD,
  forward = false,
): Buffer | null {
  const st = parseQuery(msg, len, q);
  if (st === Parse.Drop) {
    c.dropped++;
    return null;
  }
  if (st === Parse.FormErr) {
    c.formerr++;
    return headerOnly(msg, RCODE.FORMERR, tcp, c);
  }
  if (st === Parse.NotImp) return headerOnly(msg, RCODE.NOTIMP, tcp, c);
  c.queries[qtypeLabel(q.qtype)]++;

  let body: Body;
  where.delta = 0;
  if (st === Parse.BadVers) body = BADVERS_BODY;
  else if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) body = REFUSED_BODY;
  else if (q.qtype === TYPE.OPT || q.qtype === 0) {
    c.formerr++;
    body = FORMERR_BODY;
  } else if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) body = REFUSED_BODY;
  else if (q.qtype === TYPE.MAILA || q.qtype === TYPE.MAILB) body = NOTIMP_BODY;
  else {
    body = table.answer(msg, q.qnameLen, q.hash, q.qtype, where);
    if (body === REFUSED_BODY && forward) return FORWARD;
  }

  const qEnd = 12 + q.qnameLen + 4;
  const optLen = q.edns ? OPT_RR_LEN : 0;
  let limit = 65535;
  if (!tcp) {
    limit = CLASSIC_UDP_PAYLOAD;
    if (q.edns) limit = q.udpSize < CLASSIC_UDP_PAYLOAD ? CLASSIC_UDP_PAYLOAD : q.udpSize > maxUdp ? maxUdp : q.udpSize;
  }
  let cut = body.bytes.length;
  let an = body.an;
  let ns = body.ns;
  let ar = body.ar;
  let tc = false;
  if (qEnd + cut + optLen > limit) {
    cut = body.additionalStart;
    ar = 0;
    if (qEnd + cut + optLen > limit) {
      cut = 0;
      an = ns = 0;
      tc = true;
      c.truncated++;
    }
  }
  const size = qEnd + cut + optLen;
  const o = tcp ? 2 : 0;
  const out = Buffer.allocUnsafe(size + o);
  if (tcp) {
    out[0] = size >> 8;
    out[1] = size & 0xff;
  }
  const rcode = body.rcode;
  const flags =
    FLAG.QR | (body.aa ? FLAG.AA : 0) | (tc ? FLAG.TC : 0) | (q.flags & (FLAG.RD | FLAG.CD)) | (rcode & 0xf);
  out[o] = msg[0]!;
  out[o + 1] = msg[1]!;
  out[o + 2] = flags >> 8;
  out[o + 3] = flags & 0xff;
  out[o + 4] = 0;
  out[o + 5] = 1;
  out[o + 6] = an >> 8;
  out[o + 7] = an & 0xff;
  out[o + 8] = ns >> 8;
  out[o + 9] = ns & 0xff;
  const arTotal = ar + (q.edns ? 1 : 0);
  out[o + 10] = arTotal >> 8;
  out[o + 11] = arTotal & 0xff;
  out.set(msg.subarray(12, qEnd), o + 12);
  const b = o + qEnd;
  if (cut > 0) {
    out.set(cut === body.bytes.length ? body.bytes : body.bytes.subarray(0, cut), b);
    const delta = where.delta;
    if (delta !== 0) {
      const ptrs = body.ptrs;
      for (let i = 0; i < ptrs.length; i++) {
        const p = ptrs[i]!;
        if (p >= cut) break;
        const at = b + p;
        const v = (((out[at]! & 0x3f) << 8) | out[at + 1]!) + delta;
        out[at] = 0xc0 | (v >> 8);
        out[at + 1] = v & 0xff;
      }
    }
  }
  if (q.edns) {
    const e = b + cut;
    out[e] = 0;
    out[e + 1] = 0;
    out[e + 2] = TYPE.OPT;
    out[e + 3] = (maxUdp >> 8) & 0xff;
    out[e + 4] = maxUdp & 0xff;
    out[e + 5] = rcode >> 4;
    out[e + 6] = 0;
    out[e + 7] = q.dnssecOk ? 0x80 : 0;
    out[e + 8] = 0;
    out[e + 9] = 0;
    out[e + 10] = 0;
  }
  c.responses[rcodeLabel(rcode)]++;
  return out;
}
