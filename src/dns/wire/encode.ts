/**
 * dns/wire/encode: the only place that turns records into wire bytes. It
 * encodes the answer, authority and additional sections of one response into
 * a Body that the query path copies behind the question; the header and
 * question are written per query by respond.ts from the same Body.
 *
 * Compression: the Body is encoded as if a "base" name stood in the question
 * at offset 12. For an exact match the base is the question name itself, so
 * owner names become pointers to the question and echo its case. For a name
 * answered by an ancestor's Body (NXDOMAIN, referral) the base is a suffix of
 * the question name; every pointer then moves by the same delta, so the Body
 * keeps the offsets of its pointers (`ptrs`) to relocate them.
 *
 * Not compressed, per their RFCs: SRV target (2782), NAPTR replacement (3403).
 *
 * May import: shared, zone/types, dns/wire.
 */
import { parseIp } from '../../shared/ip.js';
import type { RR } from '../../zone/types.js';
import { RR_TYPE_CODES } from '../../zone/types.js';
import { CLASS_IN, wireLength } from './wire.js';

/** The precomputed sections of one response. */
export interface Body {
  /** answer + authority + additional records, wire form, pointers relative to a base name at offset 12. */
  readonly bytes: Buffer;
  /** Offsets in `bytes` of every compression pointer (the high byte). */
  readonly ptrs: Uint16Array;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
  /** Offset in `bytes` where the additional section starts (a UDP answer may stop here). */
  readonly additionalStart: number;
  readonly rcode: number;
  readonly aa: boolean;
  /** Wire length of the base name this Body was compressed against. */
  readonly baseLen: number;
}

export interface Sections {
  answer: readonly RR[];
  authority: readonly RR[];
  additional: readonly RR[];
}

/** Pointers only reach offsets below 0x3fff; keep room for relocation by up to 255 octets. */
const MAX_POINTER_TARGET = 0x3fff - 256;

class Writer {
  buf = Buffer.alloc(512);
  len = 0;
  readonly ptrs: number[] = [];
  readonly names = new Map<string, number>();

  constructor(
    readonly bodyStart: number,
    base: string,
  ) {
    // The base name sits at offset 12: every suffix of it is a pointer target.
    let off = 12;
    let rest = base;
    while (rest !== '') {
      this.names.set(rest, off);
      const dot = rest.indexOf('.');
      const label = dot < 0 ? rest : rest.slice(0, dot);
      off += Buffer.byteLength(label, 'latin1') + 1;
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    }
  }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** A character-string: one length byte and at most 255 octets. */
  charString(b: Uint8Array): void {
    const n = Math.min(b.length, 255);
    this.u8(n);
    this.bytes(b.subarray(0, n));
  }
  name(name: string, compress: boolean): void {
    let rest = name;
    while (rest !== '') {
      const known = this.names.get(rest);
      if (compress && known !== undefined) {
        this.ptrs.push(this.len);
        this.u16(0xc000 | known);
        return;
      }
      const abs = this.bodyStart + this.len;
      if (known === undefined && abs < MAX_POINTER_TARGET) this.names.set(rest, abs);
      const dot = rest.indexOf('.');
      const label = Buffer.from(dot < 0 ? rest : rest.slice(0, dot), 'latin1');
      this.u8(label.length);
      this.bytes(label);
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    }
    this.u8(0);
  }
}

function address(text: string, family: 4 | 6): Buffer {
  const b = parseIp(text);
  if (!b || b.length !== (family === 4 ? 4 : 16)) throw new Error(`bad IPv${family} address ${text}`);
  return Buffer.from(b);
}

function writeRecord(w: Writer, rr: RR): void {
  w.name(rr.name, true);
  w.u16(RR_TYPE_CODES[rr.type]);
  w.u16(CLASS_IN);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  switch (rr.type) {
    case 'A':
      w.bytes(address(rr.data.address, 4));
      break;
    case 'AAAA':
      w.bytes(address(rr.data.address, 6));
      break;
    case 'NS':
      w.name(rr.data.host, true);
      break;
    case 'CNAME':
    case 'PTR':
      w.name(rr.data.target, true);
      break;
    case 'MX':
      w.u16(rr.data.preference);
      w.name(rr.data.exchange, true);
      break;
    case 'SOA':
      w.name(rr.data.mname, true);
      w.name(rr.data.rname, true);
      w.u32(rr.data.serial);
      w.u32(rr.data.refresh);
      w.u32(rr.data.retry);
      w.u32(rr.data.expire);
      w.u32(rr.data.minimum);
      break;
    case 'SRV':
      w.u16(rr.data.priority);
      w.u16(rr.data.weight);
      w.u16(rr.data.port);
      w.name(rr.data.target, false);
      break;
    case 'NAPTR':
      w.u16(rr.data.order);
      w.u16(rr.data.preference);
      w.charString(Buffer.from(rr.data.flags, 'latin1'));
      w.charString(Buffer.from(rr.data.service, 'latin1'));
      w.charString(Buffer.from(rr.data.regexp, 'latin1'));
      w.name(rr.data.replacement, false);
      break;
    case 'TXT':
      if (rr.data.strings.length === 0) w.u8(0);
      for (const s of rr.data.strings) w.charString(s);
      break;
    case 'CAA': {
      const tag = Buffer.from(rr.data.tag, 'latin1');
      w.u8(rr.data.flags);
      w.u8(tag.length);
      w.bytes(tag);
      w.bytes(rr.data.value);
      break;
    }
  }
  w.buf.writeUInt16BE(w.len - lenAt - 2, lenAt);
}

/**
 * Encode `sections` as the body of a response whose question (or question
 * suffix) is `base`, a canonical name.
 */
export function encodeBody(base: string, sections: Sections, rcode: number, aa: boolean): Body {
  const baseLen = wireLength(base);
  const w = new Writer(12 + baseLen + 4, base);
  for (const rr of sections.answer) writeRecord(w, rr);
  for (const rr of sections.authority) writeRecord(w, rr);
  const additionalStart = w.len;
  for (const rr of sections.additional) writeRecord(w, rr);
  return {
    bytes: Buffer.from(w.buf.subarray(0, w.len)),
    ptrs: Uint16Array.from(w.ptrs),
    an: sections.answer.length,
    ns: sections.authority.length,
    ar: sections.additional.length,
    additionalStart,
    rcode,
    aa,
    baseLen,
  };
}

/** A body with no records (REFUSED and the like). */
export function emptyBody(rcode: number, aa: boolean): Body {
  return { bytes: Buffer.alloc(0), ptrs: new Uint16Array(0), an: 0, ns: 0, ar: 0, additionalStart: 0, rcode, aa, baseLen: 1 };
}
