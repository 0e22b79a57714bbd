/**
 * dns/wire/wire: the DNS wire format on the query path — constants, the query
 * parser (header, question, OPT; nothing else) and name helpers.
 *
 * Hand-written rather than dns2 (3.1.1), because dns2 on this path measured
 * ~17.7k queries/s with a plain handler (gdnsd: 226k on the same machine): it
 * decodes every section into objects per query. It is also wrong for an
 * authoritative server: AA is never set, OPT is not echoed, there is no NAPTR
 * type, no cap on the UDP answer size, and a query from source port 0 crashes
 * the process. This parser reads only the header, the question and the OPT
 * record into one reused scratch record: no allocation per query.
 *
 * May import: nothing.
 */

export const TYPE = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MX: 15, TXT: 16, AAAA: 28, SRV: 33, NAPTR: 35,
  OPT: 41, TSIG: 250, IXFR: 251, AXFR: 252, MAILB: 253, MAILA: 254, ANY: 255, CAA: 257,
} as const;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

/** Header flag bits. */
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, AD: 0x0020, CD: 0x0010 } as const;

/** The largest UDP answer we send (DNS flag day 2020: 1232 avoids IP fragmentation). */
export const MAX_UDP_PAYLOAD = 1232;
/** The UDP size a client without EDNS can take (RFC 1035). */
export const CLASSIC_UDP_PAYLOAD = 512;
/** Bytes of the OPT record we append: root name, type, class, ttl, rdlength. */
export const OPT_RR_LEN = 11;

/** What parseQuery decided. */
export const enum Parse {
  Ok = 0,
  /** Not worth an answer: too short, QR set, unreadable question. */
  Drop = 1,
  /** Readable header, but a malformed or unsupported message shape: FORMERR. */
  FormErr = 2,
  /** An opcode other than QUERY: NOTIMP. */
  NotImp = 3,
  /** An EDNS version other than 0: BADVERS (RFC 6891). */
  BadVers = 4,
}

/** One parsed query. A single instance is reused for every query (the query path is synchronous). */
export interface Query {
  id: number;
  flags: number;
  /** Length of the question name in wire form, including the root byte. */
  qnameLen: number;
  qtype: number;
  qclass: number;
  /** FNV-1a hash of the question name, case-folded, wire form. */
  hash: number;
  edns: boolean;
  /** The client's UDP payload size from OPT (raw). */
  udpSize: number;
  /** The DNSSEC OK bit of the query's OPT, to copy into the answer (RFC 3225). */
  dnssecOk: boolean;
  /** A TSIG record is in the additional section (anywhere: its place is checked by the TSIG part). */
  tsig: boolean;
}

export function newQuery(): Query {
  return { id: 0, flags: 0, qnameLen: 0, qtype: 0, qclass: 0, hash: 0, edns: false, udpSize: 0, dnssecOk: false, tsig: false };
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Case-folded FNV-1a over `len` bytes of `buf` from `start`. Length bytes are
 * at most 63 and never in 'A'..'Z', so folding every byte is safe.
 */
export function hashName(buf: Uint8Array, start: number, len: number): number {
  let h = FNV_OFFSET;
  const end = start + len;
  for (let i = start; i < end; i++) {
    let b = buf[i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = Math.imul(h ^ b, FNV_PRIME);
  }
  return h >>> 0;
}

/** True when `len` bytes at `a[aStart]` equal the lower-case `lower`, ASCII case-insensitively. */
export function equalsFolded(a: Uint8Array, aStart: number, lower: Uint8Array, len: number): boolean {
  if (lower.length !== len) return false;
  for (let i = 0; i < len; i++) {
    let b = a[aStart + i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower[i]) return false;
  }
  return true;
}

/** Skip one name that may end in a compression pointer; returns the offset after it, or -1. */
export function skipName(buf: Uint8Array, pos: number, len: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (pos >= len) return -1;
    const l = buf[pos]!;
    if (l === 0) return pos + 1;
    if ((l & 0xc0) === 0xc0) return pos + 2 <= len ? pos + 2 : -1;
    if ((l & 0xc0) !== 0) return -1;
    pos += l + 1;
  }
  return -1;
}

/**
 * Parse the query in `buf[0..len)` into `q`. Reads the header, the one
 * question (no compression allowed there: nothing precedes it) and the
 * additional section looking for OPT, noting a TSIG record on the way (the
 * same loop: a signed query costs the unsigned ones nothing). Never throws.
 */
export function parseQuery(buf: Uint8Array, len: number, q: Query): Parse {
  if (len < 12) return Parse.Drop;
  const flags = (buf[2]! << 8) | buf[3]!;
  if (flags & FLAG.QR) return Parse.Drop;
  q.id = (buf[0]! << 8) | buf[1]!;
  q.flags = flags;
  q.edns = false;
  q.udpSize = 0;
  q.dnssecOk = false;
  q.tsig = false;
  q.qnameLen = 0;
  if (((flags >> 11) & 0xf) !== 0) return Parse.NotImp;
  const qd = (buf[4]! << 8) | buf[5]!;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  if (qd !== 1 || an !== 0 || ns !== 0) return Parse.FormErr;

  // Question name: labels only, at most 255 octets.
  let pos = 12;
  let h = FNV_OFFSET;
  for (;;) {
    if (pos >= len) return Parse.Drop;
    const l = buf[pos]!;
    if (l > 63) return Parse.Drop; // a pointer or a reserved label type
    h = Math.imul(h ^ l, FNV_PRIME);
    const next = pos + 1 + l;
    if (next - 12 > 255 || next > len) return Parse.Drop;
    for (let i = pos + 1; i < next; i++) {
      let b = buf[i]!;
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      h = Math.imul(h ^ b, FNV_PRIME);
    }
    pos = next;
    if (l === 0) break;
  }
  if (pos + 4 > len) return Parse.Drop;
  q.qnameLen = pos - 12;
  q.hash = h >>> 0;
  q.qtype = (buf[pos]! << 8) | buf[pos + 1]!;
  q.qclass = (buf[pos + 2]! << 8) | buf[pos + 3]!;
  pos += 4;

  // Additional section: find OPT, check its shape (RFC 6891 §6.1.1).
  let version = 0;
  for (let i = 0; i < ar; i++) {
    const nameStart = pos;
    pos = skipName(buf, pos, len);
    if (pos < 0 || pos + 10 > len) return Parse.FormErr;
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    const rdlen = (buf[pos + 8]! << 8) | buf[pos + 9]!;
    const rdata = pos + 10;
    if (rdata + rdlen > len) return Parse.FormErr;
    if (type === TYPE.TSIG) q.tsig = true;
    else if (type === TYPE.OPT) {
      if (q.edns || buf[nameStart] !== 0) return Parse.FormErr;
      q.edns = true;
      q.udpSize = (buf[pos + 2]! << 8) | buf[pos + 3]!;
      version = buf[pos + 5]!;
      q.dnssecOk = (buf[pos + 6]! & 0x80) !== 0;
      // Options must tile the rdata exactly.
      let o = rdata;
      const end = rdata + rdlen;
      while (o < end) {
        if (o + 4 > end) return Parse.FormErr;
        o += 4 + ((buf[o + 2]! << 8) | buf[o + 3]!);
      }
      if (o !== end) return Parse.FormErr;
    }
    pos = rdata + rdlen;
  }
  if (q.edns && version !== 0) return Parse.BadVers;
  return Parse.Ok;
}

/**
 * For a message parseQuery did not accept (FORMERR, NOTIMP): reads its one
 * well-formed OPT, if it has one, into `q` (edns, udpSize, dnssecOk), so that
 * the error reply carries an OPT too (RFC 6891 §7). Walks every section of
 * any opcode's message; false (q.edns false) when there is no OPT, more than
 * one, or any record is unreadable. Never throws.
 */
export function readOpt(buf: Uint8Array, len: number, q: Query): boolean {
  q.edns = false;
  q.udpSize = 0;
  q.dnssecOk = false;
  if (len < 12) return false;
  const qd = (buf[4]! << 8) | buf[5]!;
  const records = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!);
  const ar = (buf[10]! << 8) | buf[11]!;
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = skipName(buf, pos, len);
    if (pos < 0 || pos + 4 > len) return false;
    pos += 4;
  }
  let found = false;
  let udpSize = 0;
  let dnssecOk = false;
  for (let i = 0; i < records + ar; i++) {
    const nameStart = pos;
    pos = skipName(buf, pos, len);
    if (pos < 0 || pos + 10 > len) return false;
    const rdata = pos + 10;
    const rdlen = (buf[pos + 8]! << 8) | buf[pos + 9]!;
    if (rdata + rdlen > len) return false;
    if (((buf[pos]! << 8) | buf[pos + 1]!) === TYPE.OPT) {
      if (i < records || found || buf[nameStart] !== 0) return false;
      found = true;
      udpSize = (buf[pos + 2]! << 8) | buf[pos + 3]!;
      dnssecOk = (buf[pos + 6]! & 0x80) !== 0;
      let o = rdata;
      while (o + 4 <= rdata + rdlen) o += 4 + ((buf[o + 2]! << 8) | buf[o + 3]!);
      if (o !== rdata + rdlen) return false;
    }
    pos = rdata + rdlen;
  }
  if (!found) return false;
  q.edns = true;
  q.udpSize = udpSize;
  q.dnssecOk = dnssecOk;
  return true;
}

/** The wire form of a canonical name ("a.b" → 1a1b0), lower case. Labels with dots are not supported. */
export function nameToWire(name: string): Buffer {
  if (name === '') return Buffer.from([0]);
  const labels = name.split('.');
  const out = Buffer.alloc(name.length + 2);
  let o = 0;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    out[o++] = bytes.length;
    bytes.copy(out, o);
    o += bytes.length;
  }
  out[o++] = 0;
  return out.subarray(0, o);
}

/** Length of a canonical name in wire form. */
export function wireLength(name: string): number {
  return name === '' ? 1 : Buffer.byteLength(name, 'latin1') + 2;
}
