/**
 * zone/rdata: the RDATA of each supported type, from the tokens after the
 * type. Throws RdataError with the line of the offending token (a missing
 * field is reported on the entry's last line, where the input ended).
 * May import: zone/values, zone/lexer, zone/types.
 */
import type { Token } from './lexer.js';
import type { RData, RRType } from './types.js';
import { ValueError, parseCharString, parseIPv4, parseIPv6, parseName, parseTtl, parseUint, decodeBytes } from './values.js';

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

/** Reads fields in order; reports errors at the token's line. */
class Fields {
  private i = 0;
  constructor(private readonly type: RRType, private readonly toks: Token[], private readonly endLine: number, private readonly origin: string) {}

  private next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw new RdataError(this.endLine, `${this.type} record needs ${FIELDS[this.type]}: unexpected end of input`);
    return t;
  }
  private wrap<T>(t: Token, f: (raw: string) => T): T {
    try {
      return f(t.text);
    } catch (e) {
      if (e instanceof ValueError) throw new RdataError(t.line, `${this.type}: ${e.message}`);
      throw e;
    }
  }
  private plain(): Token {
    const t = this.next();
    if (t.quoted) throw new RdataError(t.line, `${this.type}: unexpected quoted string "${t.text}"`);
    return t;
  }
  name(): string { const t = this.plain(); return this.wrap(t, (r) => parseName(r, this.origin)); }
  uint(max: number, what: string): number { const t = this.plain(); return this.wrap(t, (r) => parseUint(r, max, what)); }
  ttl(): number { const t = this.plain(); return this.wrap(t, parseTtl); }
  charString(check?: (b: Buffer) => void): Buffer {
    const t = this.next();
    return this.wrap(t, (r) => { const b = parseCharString(r); check?.(b); return b; });
  }
  bytes(): Buffer { const t = this.next(); return this.wrap(t, decodeBytes); }
  raw(): Token { return this.plain(); }
  v4(): string { const t = this.plain(); return this.wrap(t, parseIPv4); }
  v6(): string { const t = this.plain(); return this.wrap(t, parseIPv6); }
  more(): boolean { return this.i < this.toks.length; }
  end(): void {
    const t = this.toks[this.i];
    if (t) throw new RdataError(t.line, `${this.type}: extra input text '${t.text}'`);
  }
}

/** Parse the RDATA tokens of one record of `type`. */
export function parseRdata(type: RRType, toks: Token[], endLine: number, origin: string): RData {
  const f = new Fields(type, toks, endLine, origin);
  if (toks[0] && !toks[0].quoted && toks[0].text === '\\#') {
    throw new RdataError(toks[0].line, `${type}: generic RDATA (\\#) is not supported; write the ${type} record in its own syntax`);
  }
  const need = ARITY[type];
  if (need !== undefined && toks.length < need) {
    throw new RdataError(endLine, `${type} record needs ${need} fields (${FIELDS[type]}); found ${toks.length}`);
  }
  const rd = read(type, f);
  f.end();
  return rd;
}

function read(type: RRType, f: Fields): RData {
  switch (type) {
    case 'A': return { type, data: { address: f.v4() } };
    case 'AAAA': return { type, data: { address: f.v6() } };
    case 'NS': return { type, data: { host: f.name() } };
    case 'CNAME': return { type, data: { target: f.name() } };
    case 'PTR': return { type, data: { target: f.name() } };
    case 'MX': return { type, data: { preference: f.uint(U16, 'preference'), exchange: f.name() } };
    case 'SRV': return {
      type,
      data: { priority: f.uint(U16, 'priority'), weight: f.uint(U16, 'weight'), port: f.uint(U16, 'port'), target: f.name() },
    };
    case 'SOA': return {
      type,
      data: {
        mname: f.name(), rname: f.name(), serial: f.uint(U32, 'serial'),
        refresh: f.ttl(), retry: f.ttl(), expire: f.ttl(), minimum: f.ttl(),
      },
    };
    case 'NAPTR': {
      const order = f.uint(U16, 'order');
      const preference = f.uint(U16, 'preference');
      const flags = f.charString(checkNaptrFlags).toString('latin1');
      const service = f.charString().toString('latin1');
      const regexp = f.charString(checkNaptrRegexp).toString('latin1');
      return { type, data: { order, preference, flags, service, regexp, replacement: f.name() } };
    }
    case 'TXT': {
      const strings = [f.charString()];
      while (f.more()) strings.push(f.charString());
      return { type, data: { strings } };
    }
    case 'CAA': {
      const flags = f.uint(255, 'flags');
      const tagTok = f.raw();
      if (!/^[a-z0-9]{1,255}$/i.test(tagTok.text)) throw new RdataError(tagTok.line, `CAA: tag '${tagTok.text}' must be letters or digits`);
      return { type, data: { flags, tag: tagTok.text, value: f.bytes() } };
    }
  }
}

function checkNaptrFlags(b: Buffer): void {
  if (!/^[a-z0-9]*$/i.test(b.toString('latin1'))) throw new ValueError(`flags '${b.toString('latin1')}' must be letters or digits`);
}

/** RFC 3402 substitution expression: empty, or delim ERE delim repl delim [i]. */
function checkNaptrRegexp(b: Buffer): void {
  const s = b.toString('latin1');
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
