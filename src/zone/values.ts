/**
 * zone/values: the field syntaxes of master files — domain names (relative,
 * absolute, @, escapes), TTLs with BIND units (1h30m), unsigned numbers,
 * IPv4/IPv6 addresses and character-strings (\DDD and \X escapes). Each
 * parser returns a value or throws ValueError with a one-line message.
 * May import: shared, zone/name-index (its types).
 */
import { formatIPv6, readIp } from '../shared/ip.js';
import type { NameIndex } from './name-index.js';

export class ValueError extends Error {}

const MAX_TTL = 2147483647;

/** No escapes and nothing beyond ASCII: the bytes are the characters. */
function plainAscii(raw: string): boolean {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x5c || c > 0x7f) return false;
  }
  return true;
}

/** Decode the escapes of a raw token into bytes (\DDD: one octet; \X: X itself). */
export function decodeBytes(raw: string): Buffer {
  if (plainAscii(raw)) return Buffer.from(raw, 'latin1');
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length) {
      const ddd = raw.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(ddd)) {
        const v = Number(ddd);
        if (v > 255) throw new ValueError(`escape \\${ddd} is over 255`);
        out.push(v);
        i += 3;
        continue;
      }
      if (/^\d/.test(ddd)) throw new ValueError(`escape \\${ddd} needs three decimal digits`);
      i++;
    }
    const cp = raw.codePointAt(i) ?? 0;
    if (cp > 0xffff) i++;
    for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out.push(b);
  }
  return Buffer.from(out);
}

/** One <character-string>: at most 255 octets. */
export function parseCharString(raw: string): Buffer {
  const b = decodeBytes(raw);
  if (b.length > 255) throw new ValueError(`character-string of ${b.length} octets (at most 255)`);
  return b;
}

/** One <character-string> as a latin1 string (one character an octet): at most 255 octets. */
export function parseCharText(raw: string): string {
  if (plainAscii(raw)) {
    if (raw.length > 255) throw new ValueError(`character-string of ${raw.length} octets (at most 255)`);
    return raw;
  }
  return parseCharString(raw).toString('latin1');
}

const LABEL_CHAR = /^[\x21-\x7e]$/;

/**
 * The common case, checked in one pass (what /^[A-Za-z0-9_*-]{1,63}(\.[A-Za-z0-9_*-]{1,63})*\.?$/
 * matches): no escapes, no empty labels, labels of at most 63 characters.
 * 0: not such a name; 1: such a name in lower case; 2: such a name with capitals.
 */
function plainKind(raw: string): number {
  const n = raw.length;
  if (n === 0) return 0;
  let label = 0;
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === 46) { // '.'
      if (label === 0) return 0;
      label = 0;
      continue;
    }
    // a-z 0-9 - _ *
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 42) {
      // allowed as is
    } else if (c >= 65 && c <= 90) upper = true;
    else return 0;
    if (++label > 63) return 0;
  }
  return upper ? 2 : 1;
}

function plainName(raw: string, origin: string, upper: boolean): string {
  const absolute = raw.endsWith('.');
  let name = absolute ? raw.slice(0, -1) : raw;
  if (upper) name = name.toLowerCase();
  // join, not +: one flat string, rather than a pair that keeps the token (and the file's text) alive.
  if (!absolute && origin !== '') name = [name, origin].join('.');
  if (wireLength(name) > 255) throw new ValueError(`name '${raw}' is ${wireLength(name)} octets in wire form (at most 255)`);
  return name;
}

/**
 * A domain name token made absolute and canonical (lower case, no trailing
 * dot; the root is ""). `@` is the origin; a name without a final dot is
 * relative to the origin. Labels of at most 63 octets, names of at most 255.
 */
export function parseName(raw: string, origin: string): string {
  if (raw === '@') return origin;
  if (raw === '.') return '';
  const kind = plainKind(raw);
  if (kind !== 0) return plainName(raw, origin, kind === 2);
  const labels: string[] = [];
  let label = '';
  let absolute = false;
  for (let i = 0; i < raw.length; i++) {
    let c = raw[i];
    if (c === '.') {
      if (label === '') throw new ValueError(`empty label in name '${raw}'`);
      labels.push(label);
      label = '';
      if (i === raw.length - 1) absolute = true;
      continue;
    }
    if (c === '\\') {
      const ddd = raw.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(ddd)) {
        const v = Number(ddd);
        if (v > 255) throw new ValueError(`escape \\${ddd} is over 255 in name '${raw}'`);
        c = String.fromCharCode(v);
        i += 3;
      } else {
        c = raw[++i] ?? '';
      }
      if (c === '.' || c === '\\') throw new ValueError(`escaped '${c}' in a label is not supported in name '${raw}'`);
    }
    if (!LABEL_CHAR.test(c)) throw new ValueError(`character ${JSON.stringify(c)} not allowed in name '${raw}'`);
    label += c;
  }
  if (label !== '') labels.push(label);
  for (const l of labels) {
    if (l.length > 63) throw new ValueError(`label '${l.slice(0, 20)}...' is ${l.length} octets (at most 63)`);
  }
  let name = labels.join('.').replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (!absolute) name = origin === '' ? name : name + '.' + origin;
  if (wireLength(name) > 255) throw new ValueError(`name '${raw}' is ${wireLength(name)} octets in wire form (at most 255)`);
  return name;
}

/** How many raw names NameTable remembers (looked at before parsing a name and a map lookup). */
const RECENT = 8;

/**
 * parseName numbering names, for the records of one zone: a name met
 * again (an owner repeated, a target that is also an owner) comes back as
 * the very string parsed the first time, with the same number, so
 * the checks and the packed snapshot index records by number (see
 * name-index.ts) and any map keyed by names hashes each name once. A bad
 * name is not cached: it throws each time it is met.
 */
export class NameTable implements NameIndex {
  /** Every name handed out, by number. */
  readonly names: string[] = [];
  /** The number of every name handed out. */
  readonly ids = new Map<string, number>();
  private origin: string | undefined;
  /**
   * The last RECENT raw texts (under `origin`) and their numbers: a record's
   * owner or target is mostly a name written a few lines above it, and a few
   * short string comparisons cost less than parsing it and a lookup in a
   * large map.
   */
  private readonly recentRaw: string[] = new Array<string>(RECENT).fill('');
  private readonly recentId = new Int32Array(RECENT);
  private recentNext = 0;
  /** The number id() returned last. */
  last = -1;

  /** The number of the name `raw` spells under `origin`. */
  id(raw: string, origin: string): number {
    if (origin !== this.origin) {
      this.origin = origin;
      this.recentRaw.fill('');
    }
    for (let r = 0; r < RECENT; r++) if (this.recentRaw[r] === raw) return (this.last = this.recentId[r]!);
    const name = parseName(raw, origin);
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    this.recentRaw[this.recentNext] = raw;
    this.recentId[this.recentNext] = id;
    this.recentNext = (this.recentNext + 1) % RECENT;
    return (this.last = id);
  }

  parse(raw: string, origin: string): string {
    return this.names[this.id(raw, origin)]!;
  }
}

/** Octets of a canonical name in wire form (length bytes and the root included). */
function wireLength(name: string): number {
  return name === '' ? 1 : name.length + 2;
}

/** Only decimal digits, at least one (the common TTL and number: no regular expression needed). */
function allDigits(raw: string): boolean {
  if (raw.length === 0) return false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const TTL_UNITS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/** A TTL: seconds, or BIND units such as 1h30m, 2w, 1d12h (w d h m s, any case). */
export function parseTtl(raw: string): number {
  let total: number;
  if (allDigits(raw)) total = Number(raw);
  else {
    if (!/^(\d+[wdhms])*\d*$/i.test(raw) || !/\d/.test(raw)) throw new ValueError(`bad TTL '${raw}'`);
    total = 0;
    for (const m of raw.matchAll(/(\d+)([wdhms]?)/gi)) total += Number(m[1]) * (m[2] ? TTL_UNITS[m[2].toLowerCase()]! : 1);
  }
  if (total > MAX_TTL) throw new ValueError(`TTL '${raw}' is over ${MAX_TTL}`);
  return total;
}

export function isTtl(raw: string): boolean {
  return allDigits(raw) || (/^\d/.test(raw) && /^(\d+[wdhms])*\d*$/i.test(raw));
}

/** An unsigned decimal number in [0, max]. */
export function parseUint(raw: string, max: number, what: string): number {
  if (!allDigits(raw)) throw new ValueError(`${what} '${raw}' is not a number`);
  const v = Number(raw);
  if (v > max) throw new ValueError(`${what} ${raw} out of range (0-${max})`);
  return v;
}

/** The octets of the address being read (reused: no allocation per address). */
const scratch = new Uint8Array(16);

/** A dotted quad, strict: four decimal parts 0-255 without leading zeros. */
export function parseIPv4(raw: string): string {
  if (readIp(raw, scratch) !== 4) throw new ValueError(`bad IPv4 address '${raw}'`);
  return raw;
}

/** An IPv6 address in canonical text: lower case, longest zero run compressed (RFC 5952). */
export function parseIPv6(raw: string): string {
  if (raw.includes('%')) throw new ValueError(`bad IPv6 address '${raw}'`);
  return canonicalIPv6(raw);
}

export function canonicalIPv6(addr: string): string {
  if (readIp(addr, scratch) !== 6) throw new ValueError(`bad IPv6 address '${addr}'`);
  return formatIPv6(scratch);
}
