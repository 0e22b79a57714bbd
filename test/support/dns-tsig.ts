/**
 * test/support/dns-tsig: a client's side of TSIG (RFC 8945, hmac-sha256) for
 * tests — sign a query, read the TSIG record of a response, verify a signed
 * response. Independent of src/dns (a second implementation, so a shared bug
 * cannot hide); node:crypto does the HMAC.
 */
import crypto from 'node:crypto';
import { encodeName } from './dns-wire.js';

export interface ClientKey {
  name: string;
  secret: Buffer;
}

const ALGORITHM = 'hmac-sha256';

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function time48(sec: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(sec / 2 ** 32), 0);
  b.writeUInt32BE(sec % 2 ** 32, 2);
  return b;
}

/** The TSIG variables covered by the MAC (§4.3.3). */
function variables(key: ClientKey, timeSigned: number, fudge: number, error: number, other: Buffer): Buffer {
  return Buffer.concat([encodeName(key.name), u16(255), Buffer.alloc(4), encodeName(ALGORITHM), time48(timeSigned), u16(fudge), u16(error), u16(other.length), other]);
}

/** The TSIG record (owner through RDATA) with `mac`. */
export function tsigRecord(key: ClientKey, id: number, timeSigned: number, fudge: number, mac: Buffer): Buffer {
  const rdata = Buffer.concat([encodeName(ALGORITHM), time48(timeSigned), u16(fudge), u16(mac.length), mac, u16(id), u16(0), u16(0)]);
  return Buffer.concat([encodeName(key.name), u16(250), u16(255), Buffer.alloc(4), u16(rdata.length), rdata]);
}

/** `query` (no TSIG in it) signed with `key` at `timeSigned` (seconds), its TSIG appended last. */
export function signQuery(query: Buffer, key: ClientKey, timeSigned: number, fudge = 300): { message: Buffer; mac: Buffer } {
  const mac = crypto.createHmac('sha256', key.secret).update(query).update(variables(key, timeSigned, fudge, 0, Buffer.alloc(0))).digest();
  const message = Buffer.concat([query, tsigRecord(key, query.readUInt16BE(0), timeSigned, fudge, mac)]);
  message.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message, mac };
}

export interface ReadTsig {
  keyName: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
  /** Where the record starts in the message. */
  start: number;
}

function skipName(buf: Buffer, p: number): number {
  for (;;) {
    const l = buf[p]!;
    if (l === 0) return p + 1;
    if ((l & 0xc0) === 0xc0) return p + 2;
    p += l + 1;
  }
}

function nameAt(buf: Buffer, p: number): string {
  const labels: string[] = [];
  for (;;) {
    const l = buf[p]!;
    if (l === 0) return labels.join('.');
    if ((l & 0xc0) === 0xc0) {
      p = ((l & 0x3f) << 8) | buf[p + 1]!;
      continue;
    }
    labels.push(buf.toString('latin1', p + 1, p + 1 + l).toLowerCase());
    p += l + 1;
  }
}

/** The TSIG record of `msg` when it is the last record; undefined when there is none there. */
export function readTsig(msg: Buffer): ReadTsig | undefined {
  const qd = msg.readUInt16BE(4);
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  let p = 12;
  for (let i = 0; i < qd; i++) p = skipName(msg, p) + 4;
  let last: ReadTsig | undefined;
  for (let i = 0; i < records; i++) {
    const start = p;
    const afterName = skipName(msg, p);
    const type = msg.readUInt16BE(afterName);
    const rdata = afterName + 10;
    const end = rdata + msg.readUInt16BE(afterName + 8);
    last = undefined;
    if (type === 250) {
      let r = skipName(msg, rdata);
      const timeSigned = msg.readUInt16BE(r) * 2 ** 32 + msg.readUInt32BE(r + 2);
      const fudge = msg.readUInt16BE(r + 6);
      const macLen = msg.readUInt16BE(r + 8);
      const mac = msg.subarray(r + 10, r + 10 + macLen);
      r += 10 + macLen;
      last = { keyName: nameAt(msg, start), timeSigned, fudge, mac, originalId: msg.readUInt16BE(r), error: msg.readUInt16BE(r + 2), other: msg.subarray(r + 6, end), start };
    }
    p = end;
  }
  return last;
}

/** Does the response `msg` carry a TSIG, last, that `key` signed over `requestMac`? */
export function verifiesAsAnswer(msg: Buffer, key: ClientKey, requestMac: Buffer): boolean {
  const t = readTsig(msg);
  if (!t || t.keyName !== key.name.toLowerCase()) return false;
  const body = Buffer.from(msg.subarray(0, t.start));
  body.writeUInt16BE(t.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const expected = crypto
    .createHmac('sha256', key.secret)
    .update(u16(requestMac.length))
    .update(requestMac)
    .update(body)
    .update(variables(key, t.timeSigned, t.fudge, t.error, Buffer.from(t.other)))
    .digest();
  return t.mac.length === expected.length && crypto.timingSafeEqual(t.mac, expected);
}
