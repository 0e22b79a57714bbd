/**
 * dns/secondary/tsig: TSIG (RFC 8945) with HMAC-SHA256 — the key file, and
 * signing and verifying messages: a request, the first response to it, and
 * each later message of a multi-message zone transfer (signed over the prior
 * MAC and the timers only, §5.3.1).
 *
 * The key file is BIND's syntax, as `tsig-keygen` writes it:
 *   key "name" { algorithm hmac-sha256; secret "base64"; };
 *
 * Hand-written: dns2 3.1.1 has no TSIG, and the whole of it is an HMAC over a
 * few fields (node:crypto does the cryptography). MACs are compared in
 * constant time.
 *
 * May import: shared, dns/wire.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ConfigError } from '../../shared/errors.js';
import { canonicalWire, readMessage, readName } from '../wire/message.js';
import { wireLength } from '../wire/wire.js';

const TYPE_TSIG = 250;
const CLASS_ANY = 255;
const ALGORITHM = 'hmac-sha256';
/** Seconds of clock difference accepted (RFC 8945 §10 recommends 300). */
const DEFAULT_FUDGE = 300;
/**
 * The largest fudge honoured: a message's Fudge above it counts as this
 * (BIND does the same), so a peer cannot widen the time window at will.
 */
export const MAX_FUDGE = 300;
/** Octets of an HMAC-SHA256 MAC. */
const MAC_LEN = 32;

/** TSIG error codes (RFC 8945 §3); 0 is no error. */
export const TSIG_ERROR = { NONE: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

/** The name of a TSIG error, for logs. */
export function tsigErrorName(error: number): string {
  return error === 16 ? 'BADSIG' : error === 17 ? 'BADKEY' : error === 18 ? 'BADTIME' : error === 22 ? 'BADTRUNC' : String(error);
}

export interface TsigKey {
  /** Canonical key name (lower case, no trailing dot). */
  name: string;
  algorithm: typeof ALGORITHM;
  secret: Buffer;
}

/** A TSIG record as found at the end of a message. */
export interface TsigRecord {
  keyName: string;
  algorithm: string;
  /** Seconds since the epoch. */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
  /** Offset of the TSIG record in the message (the message without TSIG ends here). */
  start: number;
}

// ---- key file -------------------------------------------------------------

interface Token {
  text: string;
  quoted: boolean;
  line: number;
}

function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  const fail = (msg: string): never => {
    throw new ConfigError(`--tsig-key: ${file}:${line}: ${msg}`);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) fail('unterminated comment');
      for (let j = i; j < end; j++) if (text[j] === '\n') line++;
      i = end + 2;
    } else if (c === '{' || c === '}' || c === ';') {
      out.push({ text: c, quoted: false, line });
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0 || text.slice(i + 1, end).includes('\n')) fail('unterminated string');
      out.push({ text: text.slice(i + 1, end), quoted: true, line });
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s{};"#]/.test(text[j]!)) j++;
      out.push({ text: text.slice(i, j), quoted: false, line });
      i = j;
    }
  }
  return out;
}

/** Parse one key in BIND key-file syntax. Errors name the file and line. */
export function parseKeyFile(text: string, file: string): TsigKey {
  const t = tokenize(text, file);
  let i = 0;
  const lastLine = t.length ? t[t.length - 1]!.line : 1;
  const fail = (msg: string, at: Token | undefined = t[i]): never => {
    throw new ConfigError(`--tsig-key: ${file}:${at?.line ?? lastLine}: ${msg}`);
  };
  const expect = (s: string): void => {
    if (t[i]?.text !== s || t[i]!.quoted) fail(`expected '${s}'${t[i] ? ` before '${t[i]!.text}'` : ' at the end'}`);
    i++;
  };
  if (t.length === 0) fail('no key in the file');
  if (t[i]?.text !== 'key' || t[i]!.quoted) fail("expected 'key \"name\" { algorithm hmac-sha256; secret \"...\"; };'");
  i++;
  const nameTok = t[i];
  if (!nameTok || (!nameTok.quoted && /[{};]/.test(nameTok.text)) || nameTok.text === '') fail('expected the key name');
  i++;
  const name = nameTok!.text.toLowerCase().replace(/\.$/, '');
  if (name === '' || name.length > 253 || name.split('.').some((l) => l === '' || l.length > 63)) fail(`'${nameTok!.text}' is not a valid key name`, nameTok);
  expect('{');
  let algorithm: string | undefined;
  let secret: Buffer | undefined;
  while (t[i] && t[i]!.text !== '}') {
    const k = t[i]!;
    i++;
    const v = t[i];
    if (!v || (!v.quoted && /^[{};]$/.test(v.text))) fail(`'${k.text}' needs a value`, k);
    i++;
    expect(';');
    if (k.text === 'algorithm') algorithm = v!.text.toLowerCase();
    else if (k.text === 'secret') {
      const s = v!.text.replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4 !== 0) fail('secret is not base64', v);
      secret = Buffer.from(s, 'base64');
      if (secret.length === 0) fail('secret is empty', v);
    } else fail(`unknown statement '${k.text}'`, k);
  }
  expect('}');
  expect(';');
  if (i < t.length) fail('one key per file');
  if (algorithm === undefined) fail('no algorithm', nameTok);
  if (algorithm !== ALGORITHM) fail(`algorithm '${algorithm}' is not supported (use hmac-sha256)`, nameTok);
  if (!secret) fail('no secret', nameTok);
  return { name, algorithm: ALGORITHM, secret: secret! };
}

/** Read and parse a key file; a ConfigError names the file and the reason. */
export function loadKeyFile(file: string): TsigKey {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--tsig-key: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseKeyFile(text, file);
}

// ---- records ----------------------------------------------------------------

/**
 * The TSIG record of `msg`, if it has one. It must be the last record of the
 * additional section (RFC 8945 §5.1); 'malformed' when it is anywhere else or
 * unreadable.
 */
export function findTsig(msg: Uint8Array): TsigRecord | null | 'malformed' {
  const m = readMessage(msg);
  if (!m) return 'malformed';
  const all = [...m.answer, ...m.authority, ...m.additional];
  const idx = all.findIndex((r) => r.type === TYPE_TSIG);
  if (idx < 0) return null;
  if (idx !== all.length - 1 || m.additional.length === 0) return 'malformed';
  const r = all[idx]!;
  if (r.klass !== CLASS_ANY || r.ttl !== 0) return 'malformed';
  const alg = readName(msg, r.rdata, r.rdata + r.rdlength);
  if (!alg) return 'malformed';
  const end = r.rdata + r.rdlength;
  let p = alg.end;
  if (p + 10 > end) return 'malformed';
  const timeSigned = ((msg[p]! << 8) | msg[p + 1]!) * 2 ** 32 + (((msg[p + 2]! << 24) | (msg[p + 3]! << 16) | (msg[p + 4]! << 8) | msg[p + 5]!) >>> 0);
  const fudge = (msg[p + 6]! << 8) | msg[p + 7]!;
  const macSize = (msg[p + 8]! << 8) | msg[p + 9]!;
  p += 10;
  if (p + macSize + 6 > end) return 'malformed';
  const mac = Buffer.from(msg.subarray(p, p + macSize));
  p += macSize;
  const originalId = (msg[p]! << 8) | msg[p + 1]!;
  const error = (msg[p + 2]! << 8) | msg[p + 3]!;
  const otherLen = (msg[p + 4]! << 8) | msg[p + 5]!;
  p += 6;
  if (p + otherLen !== end) return 'malformed';
  return {
    keyName: r.name,
    algorithm: alg.name,
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    otherData: Buffer.from(msg.subarray(p, end)),
    start: r.start,
  };
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

function time48(sec: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(sec / 2 ** 32) & 0xffff, 0);
  b.writeUInt32BE(sec % 2 ** 32 >>> 0, 2);
  return b;
}

/** `msg` as it was before the TSIG record was added: TSIG cut off, ARCOUNT less one, the original ID. */
function unsignedPart(msg: Uint8Array, rec: TsigRecord): Buffer {
  const b = Buffer.from(msg.subarray(0, rec.start));
  b.writeUInt16BE(rec.originalId, 0);
  b.writeUInt16BE(b.readUInt16BE(10) - 1, 10);
  return b;
}

export interface SignFields {
  /** Seconds since the epoch. */
  timeSigned: number;
  fudge?: number;
  error?: number;
  otherData?: Buffer;
}

function variables(key: TsigKey, f: SignFields): Buffer {
  const other = f.otherData ?? Buffer.alloc(0);
  return Buffer.concat([
    canonicalWire(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    canonicalWire(key.algorithm),
    time48(f.timeSigned),
    u16(f.fudge ?? DEFAULT_FUDGE),
    u16(f.error ?? 0),
    u16(other.length),
    other,
  ]);
}

function hmac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = crypto.createHmac('sha256', key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

function lengthPrefixed(mac: Buffer): Buffer[] {
  return [u16(mac.length), mac];
}

/** Append a TSIG record with `mac` to `msg` (which has no TSIG yet); ARCOUNT goes up by one. */
function appendTsig(msg: Buffer, keyName: string, algorithm: string, f: SignFields, mac: Buffer): Buffer {
  const other = f.otherData ?? Buffer.alloc(0);
  const rdata = Buffer.concat([
    canonicalWire(algorithm),
    time48(f.timeSigned),
    u16(f.fudge ?? DEFAULT_FUDGE),
    u16(mac.length),
    mac,
    u16(msg.readUInt16BE(0)),
    u16(f.error ?? 0),
    u16(other.length),
    other,
  ]);
  const head = Buffer.concat([canonicalWire(keyName), u16(TYPE_TSIG), u16(CLASS_ANY), Buffer.alloc(4), u16(rdata.length)]);
  const out = Buffer.concat([msg, head, rdata]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

export interface Signed {
  message: Buffer;
  /** The MAC, to chain the next message of a stream to. */
  mac: Buffer;
}

/**
 * Sign `msg` (no TSIG in it). `requestMac` for the first response to a signed
 * request, `priorMac` for a later message of a multi-message response (then
 * only the timers are covered); neither for a request.
 */
export function sign(msg: Buffer, key: TsigKey, f: SignFields, chain: { requestMac?: Buffer; priorMac?: Buffer } = {}): Signed {
  let mac: Buffer;
  if (chain.priorMac) {
    mac = hmac(key, [...lengthPrefixed(chain.priorMac), msg, time48(f.timeSigned), u16(f.fudge ?? DEFAULT_FUDGE)]);
  } else {
    mac = hmac(key, [...(chain.requestMac ? lengthPrefixed(chain.requestMac) : []), msg, variables(key, f)]);
  }
  return { message: appendTsig(msg, key.name, key.algorithm, f, mac), mac };
}

/**
 * Octets of the TSIG record sign() appends with `key` (no other data): what
 * a signed answer must leave free under the client's size limit.
 */
export function tsigLength(key: TsigKey): number {
  // owner, type, class, TTL, RDLENGTH; algorithm, time, fudge, MAC size, MAC, original ID, error, other len.
  return wireLength(key.name) + 10 + wireLength(key.algorithm) + 6 + 2 + 2 + MAC_LEN + 2 + 2 + 2;
}

/** Is `timeSigned` within `fudge` (at most MAX_FUDGE) of `nowSec`? */
export function inTime(timeSigned: number, fudge: number, nowSec: number): boolean {
  return Math.abs(nowSec - timeSigned) <= Math.min(fudge, MAX_FUDGE);
}

/**
 * An error response's TSIG (BADKEY, BADSIG: RFC 8945 §5.3.2): the record
 * with an empty MAC, unsigned.
 */
export function unsignedError(msg: Buffer, rec: TsigRecord, error: number): Buffer {
  return appendTsig(msg, rec.keyName, rec.algorithm, { timeSigned: rec.timeSigned, fudge: rec.fudge, error }, Buffer.alloc(0));
}

/** The outcome of checking a request's TSIG. */
export interface Verified {
  error: number;
  /** The request's MAC (responses are signed over it); set when error is NONE or BADTIME. */
  mac?: Buffer;
}

/**
 * Check the TSIG `rec` of request `msg` against `key` at `nowSec` (seconds
 * since the epoch). BADKEY for no key, another key or another algorithm
 * (§5.2.1), BADSIG for a wrong or truncated MAC (§5.2.2), BADTIME outside
 * the fudge window, the fudge capped at MAX_FUDGE (§5.2.3).
 */
export function verify(msg: Uint8Array, rec: TsigRecord, key: TsigKey | undefined, nowSec: number): Verified {
  if (!key || rec.keyName !== key.name || rec.algorithm !== key.algorithm) return { error: TSIG_ERROR.BADKEY };
  const expected = hmac(key, [unsignedPart(msg, rec), variables(key, { timeSigned: rec.timeSigned, fudge: rec.fudge, error: rec.error, otherData: rec.otherData })]);
  // Truncated MACs (RFC 8945 §5.2.2.1) are not accepted: srvproxy's peers send full ones.
  if (rec.mac.length !== expected.length || !crypto.timingSafeEqual(rec.mac, expected)) return { error: TSIG_ERROR.BADSIG };
  if (!inTime(rec.timeSigned, rec.fudge, nowSec)) return { error: TSIG_ERROR.BADTIME, mac: rec.mac };
  return { error: TSIG_ERROR.NONE, mac: rec.mac };
}

/**
 * Check one message of a signed response stream (as a client does): the
 * first against the request's MAC, later ones against the prior MAC.
 * Returns the message's MAC, or null when it does not verify.
 */
export function verifyResponse(msg: Uint8Array, key: TsigKey, chain: { requestMac?: Buffer; priorMac?: Buffer }): Buffer | null {
  const rec = findTsig(msg);
  if (!rec || rec === 'malformed' || rec.keyName !== key.name) return null;
  const body = unsignedPart(msg, rec);
  const expected = chain.priorMac
    ? hmac(key, [...lengthPrefixed(chain.priorMac), body, time48(rec.timeSigned), u16(rec.fudge)])
    : hmac(key, [...(chain.requestMac ? lengthPrefixed(chain.requestMac) : []), body, variables(key, rec)]);
  return rec.mac.length === expected.length && crypto.timingSafeEqual(rec.mac, expected) ? rec.mac : null;
}
