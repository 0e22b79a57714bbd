/**
 * zone/rdata: the RDATA of each supported type, from the tokens after the
 * type. Throws RdataError with the line of the offending token (a missing
 * field is reported on the entry's last line, where the input ended).
 * May import: zone/values, zone/lexer, zone/types.
 */
import type { Token } from './lexer.js';
import type { RData, RRType } from './types.js';
import { ValueError, parseCharString, parseCharText, parseIPv4, parseIPv6, parseName, parseTtl, parseUint, decodeBytes, type NameTable } from './values.js';

export class RdataError extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}

export const SUPPORTED_TYPES: readonly RRType[] = ['SOA', 'NS', 'A', 'AAAA', 'CNAME', 'SRV', 'NAPTR', 'TXT', 'PTR', 'MX', 'CAA'];

/** Fixed field counts: fewer tokens than this is a missing field, reported as such. */
const ARITY: Partial<Record<RRType, number>> = { SOA: 7, SRV: 4, MX: 2, NAPTR: 6, CAA: 3 };

const FIELDS: Record<RRType, string> = {
  SOA: 'mname, rname, serial, refresh, retry, expire and minimum',
  NS: 'a host name',
  A: 'an IPv4 address',
  AAAA: 'an IPv6 address',
  CNAME: 'a target name',
  PTR: 'a target name',
  SRV: 'priority, weight, port and target',
  NAPTR: 'order, preference, flags, services, regexp and replacement',
  TXT: 'at least one character-string',
  MX: 'preference and exchange',
  CAA: 'flags, tag and value',
};

const U16 = 65535;
const U32 = 4294967295;

/** A ValueError from reading token `t` as the error of its record, at the token's line. */
function fieldError(type: RRType, t: Token, e: unknown): never {
  if (e instanceof ValueError) throw new RdataError(t.line, `${type}: ${e.message}`);
  throw e;
}

/** Reads fields in order from `toks[start..]`; reports errors at the token's line. */
class Fields {
  private i: number;
  constructor(private readonly type: RRType, private readonly toks: readonly Token[], start: number, private readonly endLine: number,
    private readonly origin: string, private readonly names: NameTable | undefined) {
    this.i = start;
  }

  private next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw new RdataError(this.endLine, `${this.type} record needs ${FIELDS[this.type]}: unexpected end of input`);
    return t;
  }
  private plain(): Token {
    const t = this.next();
    if (t.quoted) throw new RdataError(t.line, `${this.type}: unexpected quoted string "${t.text}"`);
    return t;
  }
  name(): string {
    const t = this.plain();
    try { return this.names ? this.names.parse(t.text, this.origin) : parseName(t.text, this.origin); } catch (e) { return fieldError(this.type, t, e); }
  }
  uint(max: number, what: string): number {
    const t = this.plain();
    try { return parseUint(t.text, max, what); } catch (e) { return fieldError(this.type, t, e); }
  }
  ttl(): number {
    const t = this.plain();
    try { return parseTtl(t.text); } catch (e) { return fieldError(this.type, t, e); }
  }
  charString(check?: (b: Buffer) => void): Buffer {
    const t = this.next();
    try {
      const b = parseCharString(t.text);
      check?.(b);
      return b;
    } catch (e) { return fieldError(this.type, t, e); }
  }
  /** A character-string as latin1 text (no Buffer). */
  charText(check?: (s: string) => void): string {
    const t = this.next();
    try {
      const s = parseCharText(t.text);
      check?.(s);
      return s;
    } catch (e) { return fieldError(this.type, t, e); }
  }
  bytes(): Buffer {
    const t = this.next();
    try { return decodeBytes(t.text); } catch (e) { return fieldError(this.type, t, e); }
  }
  raw(): Token { return this.plain(); }
  v4(): string {
    const t = this.plain();
    try { return parseIPv4(t.text); } catch (e) { return fieldError(this.type, t, e); }
  }
  v6(): string {
    const t = this.plain();
    try { return parseIPv6(t.text); } catch (e) { return fieldError(this.type, t, e); }
  }
  more(): boolean { return this.i < this.toks.length; }
  end(): void {
    const t = this.toks[this.i];
    if (t) throw new RdataError(t.line, `${this.type}: extra input text '${t.text}'`);
  }
}

/**
 * Parse the RDATA tokens (`toks[start..]`) of one record of `type`: its data
 * (RData's `data` for that type). Names go through `names` when given.
 */
export function parseRdata(type: RRType, toks: readonly Token[], start: number, endLine: number, origin: string, names?: NameTable): RData['data'] {
  const first = toks[start];
  if (first && !first.quoted && first.text === '\\#') {
    throw new RdataError(first.line, `${type}: generic RDATA (\\#) is not supported; write the ${type} record in its own syntax`);
  }
  const need = ARITY[type];
  const count = toks.length - start;
  if (need !== undefined && count < need) {
    throw new RdataError(endLine, `${type} record needs ${need} fields (${FIELDS[type]}); found ${count}`);
  }
  const f = new Fields(type, toks, start, endLine, origin, names);
  const rd = read(type, f);
  f.end();
  return rd;
}

function read(type: RRType, f: Fields): RData['data'] {
  switch (type) {
    case 'A': return { address: f.v4() };
    case 'AAAA': return { address: f.v6() };
    case 'NS': return { host: f.name() };
    case 'CNAME': return { target: f.name() };
    case 'PTR': return { target: f.name() };
    case 'MX': return { preference: f.uint(U16, 'preference'), exchange: f.name() };
    case 'SRV': return { priority: f.uint(U16, 'priority'), weight: f.uint(U16, 'weight'), port: f.uint(U16, 'port'), target: f.name() };
    case 'SOA': return {
      mname: f.name(), rname: f.name(), serial: f.uint(U32, 'serial'),
      refresh: f.ttl(), retry: f.ttl(), expire: f.ttl(), minimum: f.ttl(),
    };
    case 'NAPTR': {
      const order = f.uint(U16, 'order');
      const preference = f.uint(U16, 'preference');
      const flags = f.charText(checkNaptrFlags);
      const service = f.charText();
      const regexp = f.charText(checkNaptrRegexp);
      return { order, preference, flags, service, regexp, replacement: f.name() };
    }
    case 'TXT': {
      const strings = [f.charString()];
      while (f.more()) strings.push(f.charString());
      return { strings };
    }
    case 'CAA': {
      const flags = f.uint(255, 'flags');
      const tagTok = f.raw();
      if (!/^[a-z0-9]{1,255}$/i.test(tagTok.text)) throw new RdataError(tagTok.line, `CAA: tag '${tagTok.text}' must be letters or digits`);
      return { flags, tag: tagTok.text, value: f.bytes() };
    }
  }
}

function checkNaptrFlags(s: string): void {
  if (!/^[a-z0-9]*$/i.test(s)) throw new ValueError(`flags '${s}' must be letters or digits`);
}

/** RFC 3402 substitution expression: empty, or delim ERE delim repl delim [i]. */
function checkNaptrRegexp(s: string): void {
  if (s === '') return;
  const d = s[0];
  if (/[0-9\\i]/.test(d) || d === '\0') throw new ValueError(`regexp '${s}' has a bad delimiter '${d}'`);
  let count = 1;
  let end = -1;
  for (let i = 1; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === d && ++count === 3) { end = i; break; }
  }
  const rest = end < 0 ? '' : s.slice(end + 1);
  if (end < 0 || (rest !== '' && rest !== 'i')) throw new ValueError(`regexp '${s}' is not delim-regexp-delim-replacement-delim`);
}
