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
const VIA_RE = /^SIP\s*\/\s*(\d+\.\d+)\s*\/\s*([^\s/]+)\s+(\[[0-9a-fA-F:.]+\]|[^\s;:[\]]+)(?:\s*:\s*(\d{1,5}))?\s*(;[\s\S]*)?$/;
const CSEQ_RE = /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/;
const VERSION_RE = /^SIP\/(\d+\.\d+)$/i;

function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Parses the head of a message (`head`: start line and header lines, without
 * the blank line) and attaches `body`. Returns the message, or a failure.
 */
export function parseHead(head: string, maxHeaderLines: number): RawSipMessage | ParseFailure {
  const eol = head.indexOf('\r\n');
  const startLine = eol < 0 ? head : head.slice(0, eol);
  const msg = parseStartLine(startLine);
  if (!msg) return { error: 'unparseable start line or header' };
  const headers = msg.headers;
  let lines = 1;
  let pos = eol < 0 ? head.length : eol + 2;
  while (pos < head.length) {
    // one logical header line: continuation lines start with SP/HT (folding)
    const lineStart = pos;
    let end = head.indexOf('\r\n', pos);
    if (end < 0) end = head.length;
    const colon = head.indexOf(':', pos);
    if (colon <= pos || colon > end) return { error: 'unparseable start line or header', partial: msg };
    let value: string;
    if (end + 2 < head.length && isWs(head.charCodeAt(end + 2))) {
      let line = head.slice(colon + 1, end);
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
      // trimmed as String.prototype.trim would (a stray CR before the CRLF included)
      while (v0 < v1 && head.charCodeAt(v0) <= 32) v0++;
      while (v1 > v0 && head.charCodeAt(v1 - 1) <= 32) v1--;
      value = head.slice(v0, v1);
      pos = end + 2;
    }
    if (++lines > maxHeaderLines) return { error: 'too many header lines', partial: msg };
    const raw = head.slice(lineStart, colon);
    let name = KNOWN.get(raw);
    if (name === undefined) {
      name = raw.trim().toLowerCase();
      if (name.length === 0 || /\s/.test(name)) return { error: 'unparseable start line or header', partial: msg };
      if (name.length === 1) name = COMPACT[name] ?? name;
    }
    const problem = addHeader(headers, name, value);
    if (problem) return { error: problem, partial: msg };
  }
  return msg;
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
  // Request-Line = Method SP Request-URI SP SIP-Version
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0) return undefined;
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const v = VERSION_RE.exec(line.slice(sp2 + 1).trimEnd());
  if (!v || uri.length === 0 || !METHOD_RE.test(method)) return undefined;
  return { kind: 'request', method, uri, version: v[1], headers: {}, content: undefined };
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
      const m = CSEQ_RE.exec(value);
      if (!m) return 'bad CSeq';
      h.cseq = { seq: Number(m[1]), method: m[2] };
      return undefined;
    }
    case 'content-length':
      h['content-length'] = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
      return undefined;
    default: {
      const prev = h[name];
      if (prev === undefined) h[name] = value;
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

/** name-addr or addr-spec with header parameters (From, To, Contact, Route entries). */
function parseAor(v: string): SipAor | undefined {
  let name: string | undefined;
  let uri: string;
  let rest: number;
  let i = 0;
  if (v.charCodeAt(0) === 34 /* " */) {
    i = 1;
    while (i < v.length && v.charCodeAt(i) !== 34) i += v.charCodeAt(i) === 92 ? 2 : 1;
    if (i >= v.length) return undefined;
    i++;
  }
  const lt = v.indexOf('<', i);
  if (lt >= 0) {
    const gt = v.indexOf('>', lt + 1);
    if (gt < 0) return undefined;
    const n = v.slice(0, lt).trim();
    name = n.length ? n : undefined;
    uri = v.slice(lt + 1, gt).trim();
    rest = gt + 1;
  } else {
    if (i > 0) return undefined; // a display name needs <...>
    const semi = v.indexOf(';');
    uri = (semi < 0 ? v : v.slice(0, semi)).trim();
    rest = semi < 0 ? v.length : semi;
    if (/\s/.test(uri)) return undefined;
  }
  if (!uri) return undefined;
  const params: SipParams = {};
  if (!parseParams(v, rest, params)) return undefined;
  return { name, uri, params };
}
