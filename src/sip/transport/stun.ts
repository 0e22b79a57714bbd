/**
 * sip/transport/stun: the part of STUN (RFC 5389) that keeps RFC 5626 flows
 * alive on the SIP UDP socket (§3.5.2 there): telling a STUN message from a
 * SIP one, and answering a Binding Request with a Binding Success Response
 * that carries the XOR-MAPPED-ADDRESS of the datagram's source (§15.2) and a
 * FINGERPRINT (§15.5). Nothing else of STUN: no authentication (a keepalive
 * server needs none), no other methods; indications and responses are
 * recognised only to be ignored. A message is STUN when its first two bits
 * are 0, the magic cookie stands at offset 4, its length is a multiple of 4
 * and matches the datagram, its attributes fill that length exactly, and a
 * FINGERPRINT, when there is one, is last and right. A SIP message cannot
 * pass: it starts with a letter (>= 0x40) or whitespace, and its bytes 4-7
 * are text, never the cookie (0x12 is no SIP character). Reading a request
 * allocates nothing; the response is one buffer. `readXorMappedAddress` is
 * the client's side, for tests and tools. May import: shared/ip.
 */
import { crc32 } from 'node:zlib';
import { formatIPv6, readIp } from '../../shared/ip.js';

export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_BYTES = 20;
export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_SUCCESS = 0x0101;
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const STUN_ATTR_FINGERPRINT = 0x8028;
/** Xored with the CRC-32 of the message in FINGERPRINT ("STUN"). */
const FINGERPRINT_XOR = 0x5354554e;

/** What a datagram is to STUN: not STUN at all, a Binding Request to answer, or other STUN (to ignore). */
export type StunKind = 'not-stun' | 'binding-request' | 'other';

/** Classifies a datagram (RFC 5389 §6, §7.3, §15.5). */
export function stunKind(buf: Buffer): StunKind {
  const len = buf.length;
  if (len < STUN_HEADER_BYTES || (buf[0]! & 0xc0) !== 0) return 'not-stun';
  if (buf.readUInt32BE(4) !== STUN_MAGIC_COOKIE) return 'not-stun';
  const bodyLen = buf.readUInt16BE(2);
  if ((bodyLen & 3) !== 0 || STUN_HEADER_BYTES + bodyLen !== len) return 'not-stun';
  // the attributes (type, length, value padded to 4) fill the body exactly; FINGERPRINT only last
  let at = STUN_HEADER_BYTES;
  while (at < len) {
    if (at + 4 > len) return 'not-stun';
    const type = buf.readUInt16BE(at);
    const vlen = buf.readUInt16BE(at + 2);
    const next = at + 4 + ((vlen + 3) & ~3);
    if (next > len) return 'not-stun';
    if (type === STUN_ATTR_FINGERPRINT) {
      if (vlen !== 4 || next !== len) return 'not-stun';
      if (buf.readUInt32BE(at + 4) !== fingerprint(buf, at)) return 'not-stun';
    }
    at = next;
  }
  return buf.readUInt16BE(0) === STUN_BINDING_REQUEST ? 'binding-request' : 'other';
}

/** FINGERPRINT of `buf[0..end)`: CRC-32 xor 0x5354554e (the header's length already counting the FINGERPRINT). */
function fingerprint(buf: Buffer, end: number): number {
  return (crc32(buf.subarray(0, end)) ^ FINGERPRINT_XOR) >>> 0;
}

/** Scratch for reading a source address (no allocation per request). */
const SCRATCH = new Uint8Array(16);

/**
 * The Binding Success Response to `request` (a Binding Request, as `stunKind` says): the same
 * transaction id, XOR-MAPPED-ADDRESS of `address`:`port` (IPv4 or IPv6), FINGERPRINT.
 * Undefined when `address` is not an IP literal.
 */
export function bindingSuccess(request: Buffer, address: string, port: number): Buffer | undefined {
  const family = readIp(address, SCRATCH);
  if (family === 0) return undefined;
  const alen = family === 4 ? 4 : 16;
  const xorLen = 4 + alen; // reserved, family, X-Port, X-Address
  const total = STUN_HEADER_BYTES + 4 + xorLen + 8;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt16BE(STUN_BINDING_SUCCESS, 0);
  out.writeUInt16BE(total - STUN_HEADER_BYTES, 2);
  request.copy(out, 4, 4, STUN_HEADER_BYTES); // magic cookie and transaction id
  let at = STUN_HEADER_BYTES;
  out.writeUInt16BE(STUN_ATTR_XOR_MAPPED_ADDRESS, at);
  out.writeUInt16BE(xorLen, at + 2);
  out[at + 4] = 0;
  out[at + 5] = family === 4 ? 0x01 : 0x02;
  out.writeUInt16BE((port ^ (STUN_MAGIC_COOKIE >>> 16)) & 0xffff, at + 6);
  // X-Address: the address xored with the cookie (IPv4), or with the cookie and the transaction id (IPv6)
  for (let i = 0; i < alen; i++) out[at + 8 + i] = SCRATCH[i]! ^ out[4 + i]!;
  at += 4 + xorLen;
  out.writeUInt16BE(STUN_ATTR_FINGERPRINT, at);
  out.writeUInt16BE(4, at + 2);
  out.writeUInt32BE(fingerprint(out, at), at + 4);
  return out;
}

/** The transport address in a XOR-MAPPED-ADDRESS value (what a client reads from a response), or undefined. */
export function readXorMappedAddress(msg: Buffer): { address: string; port: number } | undefined {
  let at = STUN_HEADER_BYTES;
  while (at + 4 <= msg.length) {
    const type = msg.readUInt16BE(at);
    const vlen = msg.readUInt16BE(at + 2);
    if (type === STUN_ATTR_XOR_MAPPED_ADDRESS && at + 4 + vlen <= msg.length) {
      const v = at + 4;
      const family = msg[v + 1];
      const alen = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
      if (alen === 0 || vlen !== 4 + alen) return undefined;
      const port = msg.readUInt16BE(v + 2) ^ (STUN_MAGIC_COOKIE >>> 16);
      const b = new Uint8Array(alen);
      for (let i = 0; i < alen; i++) b[i] = msg[v + 4 + i]! ^ msg[4 + i]!;
      return { address: alen === 4 ? b.join('.') : formatIPv6(b), port };
    }
    at += 4 + ((vlen + 3) & ~3);
  }
  return undefined;
}
