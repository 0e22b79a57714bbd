/**
 * dns/authority/respond: one query in, one response out — the whole query path.
 * Parses the header, question and OPT (wire.ts), picks the encoded Body
 * (answers.ts; encoded on the name's first query, then cached), and has the one response writer (wire/response.ts) write
 * header + the question as asked (so its case is echoed, and every
 * compression pointer to it too) + the Body, fitted to the client's size,
 * + OPT; then moves the Body's pointers when it was compressed against an
 * ancestor of the question name.
 *
 * EDNS0: an OPT in the query gets an OPT in the answer advertising maxUdp
 * (default MAX_UDP_PAYLOAD, 1232) with the DO bit copied and the extended
 * RCODE (BADVERS); error replies without a question (FORMERR, NOTIMP) carry
 * one too when the query had a well-formed OPT (RFC 6891 §7).
 *
 * Synchronous and allocation-light: one scratch Query reused, one Buffer per
 * response. May import: dns/wire, dns/counters, dns/authority.
 */
import { REFUSED_BODY, type AnswerTable } from './answers.js';
import { emptyBody, type Body } from '../wire/encode.js';
import { rcodeLabel, qtypeLabel, type DnsCounters } from '../counters.js';
import { CLASS_ANY, CLASS_IN, FLAG, MAX_UDP_PAYLOAD, Parse, RCODE, TYPE, newQuery, parseQuery, readOpt } from '../wire/wire.js';
import { NO_SECTIONS, placed, writeResponse } from '../wire/response.js';

/**
 * Returned instead of REFUSED when the caller forwards names outside the
 * served zones (forward.ts decides who may): the caller answers later.
 */
export const FORWARD: Buffer = Buffer.alloc(0);

/**
 * Returned for a query that carries a TSIG record: the TSIG part
 * (secondary/xfr.ts answerSigned) checks it, whether or not a key is
 * configured, and calls respond() again with the record taken off.
 */
export const SIGNED: Buffer = Buffer.alloc(0);

const q = newQuery();
const where = { delta: 0 };
const BADVERS_BODY = emptyBody(RCODE.BADVERS, false);
const NOTIMP_BODY = emptyBody(RCODE.NOTIMP, false);
const FORMERR_BODY = emptyBody(RCODE.FORMERR, false);

/**
 * FORMERR / NOTIMP without a usable question: the header only, opcode and RD
 * copied, and an OPT when the query carried a well-formed one (RFC 6891 §7).
 */
function headerOnly(msg: Uint8Array, len: number, rcode: number, tcp: boolean, c: DnsCounters, maxUdp: number): Buffer {
  readOpt(msg, len, q);
  const flags = FLAG.QR | (((msg[2]! << 8) | msg[3]!) & (0x7800 | FLAG.RD));
  c.responses[rcodeLabel(rcode)]++;
  return writeResponse(msg, 12, q, flags, rcode, NO_SECTIONS, 0, 0, 0, 0, tcp, maxUdp);
}

/**
 * The response to the message `msg[0..len)`, or null to drop it, or FORWARD,
 * or SIGNED. Over TCP the result carries its 2-byte length prefix. `maxUdp`
 * caps UDP answers; `reserve` octets are kept free for a TSIG the caller adds.
 */
export function respond(
  table: AnswerTable,
  msg: Uint8Array,
  len: number,
  tcp: boolean,
  c: DnsCounters,
  maxUdp: number = MAX_UDP_PAYLOAD,
  forward = false,
  reserve = 0,
): Buffer | null {
  const st = parseQuery(msg, len, q);
  if (st === Parse.Drop) {
    c.dropped++;
    return null;
  }
  if (st === Parse.FormErr) {
    c.formerr++;
    return headerOnly(msg, len, RCODE.FORMERR, tcp, c, maxUdp);
  }
  if (st === Parse.NotImp) return headerOnly(msg, len, RCODE.NOTIMP, tcp, c, maxUdp);
  if (q.tsig) return SIGNED;
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

  const rcode = body.rcode;
  const flags = FLAG.QR | (body.aa ? FLAG.AA : 0) | (q.flags & (FLAG.RD | FLAG.CD));
  const out = writeResponse(msg, 12 + q.qnameLen + 4, q, flags, rcode, body.bytes, body.an, body.ns, body.ar, body.additionalStart, tcp, maxUdp, reserve);
  if (placed.truncated) c.truncated++;
  const delta = where.delta;
  const cut = placed.cut;
  if (delta !== 0 && cut > 0) {
    // The Body was compressed against a suffix of the question name: move its pointers.
    const b = placed.start;
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
  c.responses[rcodeLabel(rcode)]++;
  return out;
}
