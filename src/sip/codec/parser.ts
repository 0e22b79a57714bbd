/**
 * sip/codec/parser: a hand-written SIP message parser (RFC 3261 §7, §20, §25)
 * that produces srvproxy's message types (sip/codec/message): a request or a
 * response, a plain object of one shape per kind.
 *
 * Why not package `sip`'s parser (which srvproxy used at first): under load
 * it was the largest piece of JavaScript time in the process (see
 * docs/profiling.md): it splits the
 * whole head with a look-ahead regex, matches every line with a lazy regex,
 * runs a global regex per parameter and its large URI regex for every Route
 * entry, and it cannot read IPv6 references (`[::1]`) in Via or URIs. This
 * parser scans with indexOf/charCodeAt, gives structure only to the headers
 * the stack reads (Via, From, To, Contact, Route, Record-Route, Path, CSeq,
 * Content-Length) and keeps every other header as its text, untouched, for
 * the serializer to copy.
 *
 * Folded header lines are unfolded with one space; compact header names are
 * expanded; headers that must not be combined into one line (the
 * Authorization family, RFC 3261 §7.3.1) stay one string per line (an array
 * when repeated); a malformed Via, CSeq, From, To or Route makes the whole
 * message unparseable (`sip` silently dropped the header). Nothing here
 * throws on input.
 * May import: sip/codec.
 */
import type { RawSipHeaders, RawSipMessage, SipAor, SipParams, SipRouteEntry, SipVia } from './message.js';
import { paramName, parseUriText } from './uri.js';

/** A parse failure: what was wrong, and the message as far as it was read (for a 400). */
export interface ParseFailure {
  error: string;
  partial?: RawSipMessage;
}

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to', u: 'allow-events',
};

/** Header names as usually written, to their lower-case form (skips trim/lower-case/checks for most lines). */
const KNOWN = new Map<string, string>();
for (const n of [
  'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Max-Forwards', 'Route', 'Record-Route', 'Content-Length', 'Content-Type',
  'Subject', 'User-Agent', 'Server', 'Allow', 'Supported', 'Expires', 'Accept', 'Session-Expires', 'Min-SE', 'P-Asserted-Identity',
  'Call-Id', 'Cseq', 'Record-route', 'Max-forwards', 'Content-length', 'Content-type',
]) KNOWN.set(n, n.toLowerCase());
for (const [c, n] of Object.entries({ v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' })) KNOWN.set(c, n);

/** Headers whose repeated lines may not be joined with commas (RFC 3261 §7.3.1). */
const NOT_COMBINABLE = new Set(['www-authenticate', 'authorization', 'proxy-authenticate', 'proxy-authorization']);

const METHOD_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const VIA_RE = /^SIP\s*\/\s*(\d+\.\d+)\s*\/\s*([^\s/]+)\s+(\[[0-9a-fA-F:.]+\]|[^\s;:[\]]+)(?:\s*:\s*(\d{1,5}))?\s*(;[\s\S]*)?$/i;
const CSEQ_RE = /^0*(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/;
const VERSION_RE = /^SIP\/(\d+\.\d+)$/i;
const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
/** display-name = *(token LWS) / quoted-string: the unquoted form (RFC 3261 §25.1). */
const DISPLAY_TOKENS_RE = /^[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*$/;
/** Headers that may appear once only (RFC 3261 §7.3.1, §20); the Via, Contact, Route families are lists. */
const SINGLETON = new Set(['call-id', 'content-type', 'max-forwards', 'content-length', 'cseq', 'from', 'to']);

function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Parses the head of a message (`head`: start line and header lines, without
 * the blank line) and attaches `body`. Returns the message, or a failure:
 * the first thing wrong, with the message as far as it could be read (a
 * malformed header is skipped and the rest still read, so that a 400 can
 * copy what it needs). Folding (CRLF then SP/HT) is unfolded here, for every
 * header (sip/codec/head reads Content-Length with the same rule).
 */
export function parseHead(head: string, maxHeaderLines: number): RawSipMessage | ParseFailure {
  const eol = head.indexOf('\r\n');
  const startLine = eol < 0 ? head : head.slice(0, eol);
  let firstError: string | undefined;
  let msg = parseStartLine(startLine);
  if (!msg) {
    msg = lenientRequestLine(startLine);
    if (!msg) return { error: 'unparseable start line or header' };
    firstError = 'bad Request-Line';
  }
  const headers = msg.headers;
  let lines = 1;
  let pos = eol < 0 ? head.length : eol + 2;
  while (pos < head.length) {
    // one logical header line: continuation lines start with SP/HT (folding)
    const lineStart = pos;
    let end = head.indexOf('\r\n', pos);
    if (end < 0) end = head.length;
    const colon = head.indexOf(':', pos);
    let value: string | undefined;
    if (end + 2 < head.length && isWs(head.charCodeAt(end + 2))) {
      let line = colon > pos && colon < end ? head.slice(colon + 1, end) : '';
      pos = end + 2;
      while (pos < head.length && isWs(head.charCodeAt(pos))) {
        let e2 = head.indexOf('\r\n', pos);
        if (e2 < 0) e2 = head.length;
        line += ' ' + head.slice(pos, e2).trim();
        pos = e2 + 2;
        lines++;
      }
      value = line.trim();
    } else {
      let v0 = colon + 1;
      let v1 = end;
      while (v0 < v1 && isWs(head.charCodeAt(v0))) v0++;
      while (v1 > v0 && isWs(head.charCodeAt(v1 - 1))) v1--;
      value = head.slice(v0, v1);
      pos = end + 2;
    }
    if (++lines > maxHeaderLines) return { error: 'too many header lines', partial: msg };
    if (colon <= lineStart || colon > end) {
      firstError ??= 'unparseable start line or header';
      continue;
    }
    const raw = head.slice(lineStart, colon);
    let name = KNOWN.get(raw);
    if (name === undefined) {
      name = raw.trim().toLowerCase();
      if (!TOKEN_RE.test(name)) {
        firstError ??= 'unparseable start line or header';
        continue;
      }
      if (name.length === 1) name = COMPACT[name] ?? name;
    }
    const problem = addHeader(headers, name, value);
    if (problem) firstError ??= problem;
  }
  return firstError === undefined ? msg : { error: firstError, partial: msg };
}

function parseStartLine(line: string): RawSipMessage | undefined {
  if (line.length > 4 && (line.charCodeAt(0) | 32) === 115 /* s */ && line.startsWith('SIP/')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const sp = line.indexOf(' ');
    if (sp < 0) return undefined;
    const v = VERSION_RE.exec(line.slice(0, sp));
    if (!v) return undefined;
    let i = sp;
    while (i < line.length && line.charCodeAt(i) === 32) i++;
    let j = i;
    while (j < line.length && line.charCodeAt(j) >= 48 && line.charCodeAt(j) <= 57) j++;
    if (j === i || j - i > 3) return undefined;
    if (j < line.length && !isWs(line.charCodeAt(j))) return undefined;
    return { kind: 'response', status: Number(line.slice(i, j)), reason: line.slice(j).trim(), version: v[1], headers: {}, content: undefined };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version: one SP each, nothing after the version (RFC 4475 §3.1.2.8-10)
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 === sp1 + 1) return undefined;
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const v = VERSION_RE.exec(line.slice(sp2 + 1));
  if (!v || !METHOD_RE.test(method)) return undefined;
  for (let i = 0; i < uri.length; i++) if (uri.charCodeAt(i) <= 32 || uri.charCodeAt(i) === 127) return undefined;
  return { kind: 'request', method, uri, version: v[1], headers: {}, content: undefined };
}

/** A request line that is not well formed but still names a method and a version: read so that the request can be answered 400. */
function lenientRequestLine(line: string): RawSipMessage | undefined {
  const parts = line.trim().split(/[ \t]+/);
  if (parts.length < 3 || !METHOD_RE.test(parts[0]) || !/^SIP\/\d+\.\d+$/i.test(parts[parts.length - 1])) return undefined;
  return { kind: 'request', method: parts[0], uri: parts.slice(1, -1).join(' '), version: '2.0', headers: {}, content: undefined };
}

/** Adds one header line's value; a message with a malformed structured header is refused. */
function addHeader(h: RawSipHeaders, name: string, value: string): string | undefined {
  switch (name) {
    case 'via': {
      const list = h.via ?? (h.via = []);
      for (const item of splitList(value)) {
        const v = parseVia(item);
        if (!v) return 'bad Via';
        list.push(v);
      }
      return undefined;
    }
    case 'from':
    case 'to': {
      if (h[name] !== undefined) return 'repeated ' + name;
      const a = parseAor(value);
      if (!a) return 'bad ' + (name === 'to' ? 'To' : 'From');
      h[name] = a;
      return undefined;
    }
    case 'contact': {
      if (value === '*') {
        h.contact = '*';
        return undefined;
      }
      const list = Array.isArray(h.contact) ? h.contact : (h.contact = []);
      for (const item of splitList(value)) {
        const a = parseAor(item);
        if (!a) return 'bad Contact';
        list.push(a);
      }
      return undefined;
    }
    case 'route':
    case 'record-route':
    case 'path': {
      const list = (h[name] as SipRouteEntry[] | undefined) ?? [];
      h[name] = list;
      for (const item of splitList(value)) {
        const a = parseAor(item);
        const uri = a && parseUriText(a.uri);
        if (!a || !uri) return 'bad ' + name;
        list.push({ name: a.name, uri, params: a.params });
      }
      return undefined;
    }
    case 'cseq': {
      if (h.cseq !== undefined) return 'repeated CSeq';
      const m = CSEQ_RE.exec(value);
      if (!m) return 'bad CSeq';
      h.cseq = { seq: Number(m[1]), method: m[2] };
      return undefined;
    }
    case 'content-length':
      // the value the codec uses comes from sip/codec/head (the rule the TCP framer shares); this one is checked to agree
      if (h['content-length'] !== undefined) return 'several Content-Length values';
      h['content-length'] = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
      return undefined;
    case 'max-forwards': {
      // 1*DIGIT (leading zeros allowed), 0-255 (RFC 3261 §20.22)
      if (h['max-forwards'] !== undefined) return 'repeated Max-Forwards';
      if (!/^\d{1,10}$/.test(value) || Number(value) > 255) return 'bad Max-Forwards';
      h['max-forwards'] = Number(value);
      return undefined;
    }
    default: {
      const prev = h[name];
      if (prev === undefined) h[name] = value;
      else if (SINGLETON.has(name)) return 'repeated ' + name;
      else if (NOT_COMBINABLE.has(name)) h[name] = Array.isArray(prev) ? [...(prev as string[]), value] : [prev as string, value];
      else h[name] = (prev as string) + ',' + value; // a combinable extension header: always text
      return undefined;
    }
  }
}

/** Splits a header value at commas outside <...> and quoted strings. */
function splitList(v: string): string[] {
  if (v.indexOf(',') < 0) return v.length ? [v] : [];
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let from = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (quoted) {
      if (c === 92 /* \ */) i++;
      else if (c === 34) quoted = false;
    } else if (c === 34 /* " */) quoted = true;
    else if (c === 60 /* < */) depth++;
    else if (c === 62 /* > */) depth = depth > 0 ? depth - 1 : 0;
    else if (c === 44 /* , */ && depth === 0) {
      const s = v.slice(from, i).trim();
      if (s) out.push(s);
      from = i + 1;
    }
  }
  const s = v.slice(from).trim();
  if (s) out.push(s);
  return out;
}

/** `;name[=value]...` (names lower-cased, values as written; quoted values keep their quotes). */
function parseParams(s: string, from: number, into: SipParams): boolean {
  let i = from;
  const n = s.length;
  while (i < n) {
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (i >= n) break;
    if (s.charCodeAt(i) !== 59 /* ; */) return false;
    i++;
    let j = i;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === 59 || c === 61 /* = */) break;
      j++;
    }
    const pname = paramName(s, i, j, true);
    if (!pname) return false;
    if (j < n && s.charCodeAt(j) === 61) {
      let k = j + 1;
      while (k < n && isWs(s.charCodeAt(k))) k++;
      let e = k;
      if (k < n && s.charCodeAt(k) === 34) {
        e = k + 1;
        while (e < n && s.charCodeAt(e) !== 34) e += s.charCodeAt(e) === 92 ? 2 : 1;
        if (e >= n) return false;
        e++;
      } else {
        while (e < n && s.charCodeAt(e) !== 59) e++;
      }
      into[pname] = s.slice(k, e).trim();
      i = e;
    } else {
      into[pname] = null;
      i = j;
    }
  }
  return true;
}

/** One via-parm: `SIP/2.0/UDP host[:port];params`. */
function parseVia(item: string): SipVia | undefined {
  const m = VIA_RE.exec(item);
  if (!m) return undefined;
  const params: SipParams = {};
  if (m[5] && !parseParams(m[5], 0, params)) return undefined;
  return { version: m[1], protocol: m[2], host: m[3], port: m[4] ? Number(m[4]) : undefined, params };
}

/**
 * name-addr or addr-spec with header parameters (From, To, Contact, Route
 * entries), RFC 3261 §20.10: a display name is a quoted string or tokens; the
 * URI in <> has no LWS inside the brackets; an addr-spec (no <>) ends at the
 * first `;` and may not contain `,` `?` or LWS.
 */
export function parseAor(v: string): SipAor | undefined {
  const n = v.length;
  let name: string | undefined;
  let lt: number;
  if (v.charCodeAt(0) === 34 /* " */) {
    let i = 1;
    while (i < n && v.charCodeAt(i) !== 34) i += v.charCodeAt(i) === 92 ? 2 : 1;
    if (i >= n) return undefined;
    name = v.slice(0, i + 1);
    i++;
    while (i < n && isWs(v.charCodeAt(i))) i++;
    if (v.charCodeAt(i) !== 60 /* < */) return undefined; // a display name needs <...>
    lt = i;
  } else {
    let j = 0;
    while (j < n) {
      const c = v.charCodeAt(j);
      if (c === 60 || c === 59 /* ; */) break;
      j++;
    }
    if (j < n && v.charCodeAt(j) === 60) {
      let e = j;
      while (e > 0 && isWs(v.charCodeAt(e - 1))) e--;
      if (e > 0) {
        const dn = v.slice(0, e);
        if (!DISPLAY_TOKENS_RE.test(dn)) return undefined;
        name = dn;
      }
      lt = j;
    } else {
      let e = j;
      while (e > 0 && isWs(v.charCodeAt(e - 1))) e--;
      const uri = v.slice(0, e);
      if (!uri) return undefined;
      for (let k = 0; k < uri.length; k++) {
        const c = uri.charCodeAt(k);
        if (c <= 32 || c === 44 /* , */ || c === 63 /* ? */ || c === 34 || c === 62 /* > */) return undefined;
      }
      const params: SipParams = {};
      if (!parseParams(v, j, params)) return undefined;
      return { name: undefined, uri, params };
    }
  }
  const gt = v.indexOf('>', lt + 1);
  if (gt < 0) return undefined;
  const uri = v.slice(lt + 1, gt);
  if (!uri) return undefined;
  for (let k = 0; k < uri.length; k++) if (uri.charCodeAt(k) <= 32) return undefined;
  const params: SipParams = {};
  if (!parseParams(v, gt + 1, params)) return undefined;
  return { name, uri, params };
}
