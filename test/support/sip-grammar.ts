/**
 * test/support/sip-grammar: valid SIP requests generated from the RFC 3261
 * ABNF (§25) with random legal oddities, for the grammar fuzz suites: LWS and
 * header folding (HCOLON, SEMI, EQUAL, COMMA, SLASH, LAQUOT/RAQUOT allow
 * them), header names in any case and in compact form (i m v f t l c s k),
 * method tokens of extension methods in any case (methods are case-sensitive,
 * so each is just another extension method), %-escapes in URI users and
 * parameters, odd but legal tokens and generic parameters (valueless, quoted
 * values with quoted-pairs), display names as tokens or quoted strings with
 * escapes and UTF-8, IPv6 references (loopback only), several values
 * comma-joined in one header or in separate headers, leading zeros in
 * numbers. Every request is out of dialog, non-INVITE and addressed to a user
 * at the pair (tserver.example.com), so a proxy forwards every one of them.
 * Deterministic: the PRNG (test/support/sip-fuzz Rng) is seeded.
 */
import { Rng } from './sip-fuzz.js';

export interface GrammarEnds {
  /** The sender's address and port (Via sent-by when it names itself, Contact). */
  local: string;
  localPort: number;
  protocol: 'UDP' | 'TCP';
}

const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGIT = '0123456789';
const TOKEN_EXTRA = "-.!%*_+`'~";
const UNRESERVED_MARK = "-_.!~*'()";
const USER_UNRESERVED = '&=+$,;?/';
const PARAM_UNRESERVED = '[]/:&+$';

function chars(rng: Rng, set: string, min: number, max: number): string {
  let s = '';
  for (let n = min + rng.int(max - min + 1); n > 0; n--) s += set[rng.int(set.length)];
  return s;
}

/** A token: alphanum and -.!%*_+`'~, at least one alphanum first (readability, still a token). */
function token(rng: Rng, min = 1, max = 10): string {
  return chars(rng, ALPHA + DIGIT, 1, 1) + chars(rng, ALPHA + DIGIT + TOKEN_EXTRA, min - 1, max - 1);
}

function randomCase(rng: Rng, s: string): string {
  let o = '';
  for (const c of s) o += rng.next() < 0.5 ? c.toUpperCase() : c.toLowerCase();
  return o;
}

const hex = (c: string) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');

/** URI user: unreserved, user-unreserved and escapes (any octet may be escaped). */
function user(rng: Rng): string {
  let s = '';
  for (let n = 1 + rng.int(10); n > 0; n--) {
    const r = rng.next();
    if (r < 0.6) s += chars(rng, ALPHA + DIGIT, 1, 1);
    else if (r < 0.75) s += chars(rng, UNRESERVED_MARK, 1, 1);
    else if (r < 0.85) s += chars(rng, USER_UNRESERVED.replace(';', '').replace('?', ''), 1, 1);
    else s += hex(chars(rng, ALPHA + DIGIT + '@:<> "', 1, 1));
  }
  return s;
}

/** uri-parameter: other-param = pname [ "=" pvalue ], paramchar = param-unreserved / unreserved / escaped. */
function uriParam(rng: Rng): string {
  const pchar = () => {
    const r = rng.next();
    if (r < 0.7) return chars(rng, ALPHA + DIGIT, 1, 1);
    if (r < 0.85) return chars(rng, PARAM_UNRESERVED + UNRESERVED_MARK, 1, 1);
    return hex(chars(rng, ';=?@ ', 1, 1));
  };
  let name = chars(rng, ALPHA, 1, 1);
  for (let n = rng.int(6); n > 0; n--) name += pchar();
  if (rng.next() < 0.3) return ';' + name;
  let v = '';
  for (let n = 1 + rng.int(8); n > 0; n--) v += pchar();
  return `;${name}=${v}`;
}

/** Optional LWS: SWS = [LWS], LWS = [*WSP CRLF] 1*WSP (folding now and then). */
function sws(rng: Rng, p = 0.25): string {
  const r = rng.next();
  if (r >= p) return '';
  if (r < p * 0.3) return rng.pick([' ', '\t']).repeat(1 + rng.int(2)) + '\r\n' + rng.pick([' ', '\t', '  ']);
  if (r < p * 0.5) return '\r\n ';
  return rng.pick([' ', '  ', '\t', ' \t']);
}
/** LWS that must be there (between tokens). */
const lws = (rng: Rng) => (rng.next() < 0.1 ? '\r\n\t' : rng.pick([' ', ' ', '  ', '\t']));
const semi = (rng: Rng) => `${sws(rng)};${sws(rng)}`;
const equal = (rng: Rng) => `${sws(rng)}=${sws(rng)}`;
const comma = (rng: Rng) => `${sws(rng)},${sws(rng)}`;
const slash = (rng: Rng) => `${sws(rng)}/${sws(rng)}`;

/** quoted-string with qdtext (incl. UTF-8) and quoted-pairs (not CR or LF). */
function quoted(rng: Rng): string {
  let s = '';
  for (let n = rng.int(12); n > 0; n--) {
    const r = rng.next();
    if (r < 0.65) s += chars(rng, ALPHA + DIGIT + ' !#$%&\'()*+,-./:;<=>?@[]^_`{|}~', 1, 1);
    else if (r < 0.8) s += '\\' + chars(rng, '"\\ab\x01\x7f', 1, 1);
    else s += rng.pick(['\xc3\xa9', '\xe2\x82\xac', '\xe5\xa4\xa7', '\xd0\xb6']);
  }
  return `"${s}"`;
}

/** generic-param: token [ EQUAL gen-value ], gen-value = token / host / quoted-string. */
function genericParam(rng: Rng): string {
  const name = token(rng, 1, 8);
  const r = rng.next();
  if (r < 0.25) return semi(rng) + name;
  if (r < 0.5) return semi(rng) + name + equal(rng) + quoted(rng);
  if (r < 0.6) return semi(rng) + name + equal(rng) + rng.pick(['[::1]', '127.0.0.1', 'host.example.com']);
  return semi(rng) + name + equal(rng) + token(rng, 1, 10);
}

/** name-addr or addr-spec (addr-spec only when the URI has no ; , ? so that header params stay header params). */
function nameAddr(rng: Rng, uri: string, params: string): string {
  const plainUri = !/[;,?]/.test(uri);
  const r = rng.next();
  if (plainUri && r < 0.25) return uri + params;
  let display = '';
  if (r < 0.55) display = quoted(rng) + sws(rng, 0.5);
  else if (r < 0.8) display = [token(rng, 1, 6), token(rng, 1, 6)].slice(0, 1 + rng.int(2)).join(lws(rng)) + lws(rng);
  return `${display}<${uri}>${sws(rng)}${params}`;
}

function hname(rng: Rng, full: string, compact?: string): string {
  const n = compact && rng.next() < 0.35 ? compact : full;
  const cased = rng.next() < 0.3 ? randomCase(rng, n) : n;
  return cased + rng.pick(['', '', '', ' ', '\t', '  ']);
}
const hcolon = (rng: Rng) => ':' + (rng.next() < 0.1 ? '\r\n ' : rng.pick([' ', ' ', '', '\t', '   ']));

const METHODS = ['OPTIONS', 'MESSAGE', 'INFO', 'NOTIFY', 'PUBLISH', 'SUBSCRIBE', 'REFER', 'UPDATE'];

function sentBy(rng: Rng, e: GrammarEnds): string {
  const self = e.local.includes(':') ? `[${e.local}]` : e.local;
  return rng.pick([`${self}:${e.localPort}`, `${self}:${e.localPort}`, `[::1]:${e.localPort}`, `[0:0:0:0:0:0:0:1]:${e.localPort}`, `ua${rng.int(99)}.example.com`, `localhost:${e.localPort}`]);
}

export interface GrammarMessage {
  bytes: Buffer;
  callId: string;
  method: string;
}

/** One valid, forwardable request; `n` makes Call-ID and branch unique. */
export function grammarRequest(e: GrammarEnds, n: number, rng: Rng): GrammarMessage {
  const method = rng.next() < 0.7 ? rng.pick(METHODS) : randomCase(rng, token(rng, 3, 12)).replace(/^(INVITE|ACK|CANCEL|BYE|REGISTER|PRACK)$/i, 'X$1');
  const scheme = rng.next() < 0.1 ? rng.pick(['SIP:', 'Sip:']) : 'sip:';
  let ruriParams = '';
  for (let k = rng.int(3); k > 0; k--) ruriParams += uriParam(rng);
  if (rng.next() < 0.2) ruriParams += ';user=phone';
  const ruri = `${scheme}${rng.next() < 0.2 ? '+1555' + chars(rng, DIGIT, 7, 7) : user(rng)}@${rng.next() < 0.1 ? 'TSERVER.Example.COM' : 'tserver.example.com'}${ruriParams}`;
  const callId = `g${n}.${chars(rng, ALPHA + DIGIT + "-.!%*_+`'~()<>:\\\"/[]?{}", 4, 12)}${rng.next() < 0.5 ? '@' + token(rng, 2, 8) : ''}`;
  const branch = `z9hG4bK${n}${token(rng, 2, 8)}`;
  const headers: string[] = [];

  // Via: the sender's own first (rport so that the answer goes to the packet's source), maybe more below
  const viaParams = [`${semi(rng)}branch${equal(rng)}${branch}`, `${semi(rng)}rport`];
  if (rng.next() < 0.3) viaParams.push(genericParam(rng));
  if (rng.next() < 0.2) viaParams.push(`${semi(rng)}ttl${equal(rng)}${rng.int(256)}`);
  for (let i = viaParams.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [viaParams[i], viaParams[j]] = [viaParams[j]!, viaParams[i]!];
  }
  const proto = (p: string) => `${rng.next() < 0.2 ? 'sip' : 'SIP'}${slash(rng)}2.0${slash(rng)}${rng.next() < 0.2 ? p.toLowerCase() : p}`;
  const topVia = `${proto(e.protocol)}${lws(rng)}${sentBy(rng, e)}${viaParams.join('')}`;
  const lower = Array.from({ length: rng.int(3) }, (_, i) => `${proto(rng.pick(['UDP', 'TCP', 'TLS', 'SCTP']))}${lws(rng)}${rng.pick(['[::1]:5071', 'proxy.example.net', '127.0.0.1:5072'])};branch=z9hG4bKlow${n}x${i};received=127.0.0.1`);
  if (lower.length && rng.next() < 0.5) headers.push(`${hname(rng, 'Via', 'v')}${hcolon(rng)}${[topVia, ...lower].join(comma(rng))}`);
  else for (const v of [topVia, ...lower]) headers.push(`${hname(rng, 'Via', 'v')}${hcolon(rng)}${v}`);

  const mf = rng.next() < 0.2 ? '0'.repeat(1 + rng.int(3)) + String(2 + rng.int(68)) : String(2 + rng.int(254));
  headers.push(`${hname(rng, 'Max-Forwards')}${hcolon(rng)}${mf}`);
  const fromUri = `sip:${user(rng)}@${rng.pick(['example.com', '[::1]', '127.0.0.1:5090', 'a-b.example.org'])}${rng.next() < 0.3 ? uriParam(rng) : ''}`;
  headers.push(`${hname(rng, 'From', 'f')}${hcolon(rng)}${nameAddr(rng, fromUri, `${semi(rng)}tag${equal(rng)}${token(rng, 3, 12)}${rng.next() < 0.3 ? genericParam(rng) : ''}`)}`);
  headers.push(`${hname(rng, 'To', 't')}${hcolon(rng)}${nameAddr(rng, ruri.replace(/^sip:/i, 'sip:'), rng.next() < 0.2 ? genericParam(rng) : '')}`);
  headers.push(`${hname(rng, 'Call-ID', 'i')}${hcolon(rng)}${callId}`);
  const cseqNum = rng.int(2 ** 31);
  headers.push(`${hname(rng, 'CSeq')}${hcolon(rng)}${rng.next() < 0.2 ? '00' : ''}${cseqNum}${lws(rng)}${method}`);

  if (rng.next() < 0.6) {
    const self = e.local.includes(':') ? `[${e.local}]` : e.local;
    const contacts = Array.from({ length: 1 + rng.int(2) }, () => nameAddr(rng, `sip:${user(rng)}@${rng.pick([`${self}:${e.localPort}`, '[::1]:5070', 'ua.example.com'])}${rng.next() < 0.4 ? uriParam(rng) : ''}`, rng.next() < 0.4 ? `${semi(rng)}q${equal(rng)}0.${rng.int(10)}` : rng.next() < 0.5 ? genericParam(rng) : ''));
    if (rng.next() < 0.5) headers.push(`${hname(rng, 'Contact', 'm')}${hcolon(rng)}${contacts.join(comma(rng))}`);
    else for (const c of contacts) headers.push(`${hname(rng, 'Contact', 'm')}${hcolon(rng)}${c}`);
  }
  const lists: [string, string | undefined, string[]][] = [
    ['Accept', undefined, ['application/sdp', 'text/plain;charset=utf-8', 'message/sipfrag', 'application/pidf+xml', '*/*']],
    ['Supported', 'k', ['timer', '100rel', 'path', 'outbound', 'gruu', 'x-odd.tok~en']],
    ['Allow', undefined, ['INVITE', 'ACK', 'OPTIONS', 'BYE', 'CANCEL', 'MESSAGE', 'INFO']],
  ];
  for (const [name, compact, values] of lists) {
    if (rng.next() < 0.4) continue;
    const vs = values.filter(() => rng.next() < 0.5);
    if (vs.length === 0) vs.push(values[0]!);
    const fixSemis = (v: string) => v.replace(';', semi(rng)).replace('=', equal(rng));
    if (rng.next() < 0.5) headers.push(`${hname(rng, name, compact)}${hcolon(rng)}${vs.map(fixSemis).join(comma(rng))}`);
    else for (const v of vs) headers.push(`${hname(rng, name, compact)}${hcolon(rng)}${fixSemis(v)}`);
  }
  if (rng.next() < 0.4) headers.push(`${hname(rng, 'Subject', 's')}${hcolon(rng)}${rng.pick(['', 'hi', 'caf\xc3\xa9 \xe2\x82\xac', 'a' + lws(rng) + 'b'])}`);
  if (rng.next() < 0.3) headers.push(`${hname(rng, 'User-Agent')}${hcolon(rng)}${token(rng, 2, 8)}/${token(rng, 1, 4)} (${chars(rng, ALPHA + ' ', 1, 10)})`);
  if (rng.next() < 0.3) headers.push(`X-${token(rng, 1, 10)}${hcolon(rng)}${rng.pick([token(rng), quoted(rng), ';;,,;;', '', 'v' + genericParam(rng)])}`);
  if (method === 'SUBSCRIBE' || method === 'NOTIFY' || method === 'PUBLISH') headers.push(`${hname(rng, 'Event', 'o')}${hcolon(rng)}presence${rng.next() < 0.3 ? genericParam(rng) : ''}`);
  if (method === 'NOTIFY') headers.push(`Subscription-State${hcolon(rng)}active${semi(rng)}expires${equal(rng)}${rng.int(3600)}`);
  if (method === 'REFER') headers.push(`${hname(rng, 'Refer-To', 'r')}${hcolon(rng)}<sip:${user(rng)}@example.com>`);

  let body = '';
  if (method === 'MESSAGE' || (method === 'INFO' && rng.next() < 0.5)) {
    body = rng.next() < 0.5 ? 'hello\r\n' : `caf\xc3\xa9 ${chars(rng, ALPHA + ' ', 0, 40)}\r\n`;
    headers.push(`${hname(rng, 'Content-Type', 'c')}${hcolon(rng)}text/plain${semi(rng)}charset${equal(rng)}${rng.pick(['utf-8', 'UTF-8', '"utf-8"'])}`);
  }
  const len = Buffer.byteLength(body, 'latin1');
  headers.push(`${hname(rng, 'Content-Length', 'l')}${hcolon(rng)}${rng.next() < 0.1 ? '0' : ''}${len}`);
  // header order is free, except that the Via values keep their order among themselves
  const vias = headers.filter((h) => /^v(ia)?[ \t]*:/i.test(h));
  const rest = headers.filter((h) => !/^v(ia)?[ \t]*:/i.test(h));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  const at = rng.int(rest.length + 1);
  const all = [...rest.slice(0, at), ...vias, ...rest.slice(at)];
  const text = `${method} ${ruri} SIP/2.0\r\n${all.join('\r\n')}\r\n\r\n${body}`;
  return { bytes: Buffer.from(text, 'latin1'), callId, method };
}
