/**
 * sip/codec: one SIP message from bytes and back, with package `sip`'s parser
 * and serializer behind guards: size limits, a timeout-free framing check
 * before the regex parser sees the text, validation of the headers the stack
 * relies on, and a fix-up for IPv6 references that `sip` 0.0.6 mangles in
 * Via and Route/Record-Route. Nothing here throws on input.
 * May import: shared, package sip, sip/uri.
 */
import sip, { type SipMessage, type SipVia, type SipRouteEntry } from 'sip';
import { parseSipUri } from './uri.js';

export type { SipMessage, SipVia, SipRouteEntry } from 'sip';

/** Largest message accepted on any transport (bytes). */
export const MAX_MESSAGE_BYTES = 65535;
/** Largest number of header lines accepted. */
export const MAX_HEADER_LINES = 256;
/** Longest start line or header line accepted (bytes, a folded header counts per physical line). */
export const MAX_LINE_BYTES = 8192;

export type DecodeResult =
  | { ok: true; msg: SipMessage }
  | { ok: false; error: string; /** Parsed far enough to answer with 400, when it is a request. */ msg?: SipMessage };

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Index of the first byte that is not CR/LF/space/tab (keep-alives and stray CRLFs before a message). */
export function skipLeadingWhitespace(buf: Buffer, from = 0): number {
  let i = from;
  while (i < buf.length) {
    const c = buf[i];
    if (c !== 13 && c !== 10 && c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

/** Decodes one whole message (a UDP datagram, or a TCP message already framed). */
export function decode(buf: Buffer): DecodeResult {
  if (buf.length > MAX_MESSAGE_BYTES) return { ok: false, error: 'message too large' };
  const start = skipLeadingWhitespace(buf);
  if (start >= buf.length) return { ok: false, error: 'empty' };
  const headEnd = buf.indexOf(CRLFCRLF, start);
  if (headEnd < 0) return { ok: false, error: 'no end of headers' };
  if (longestLine(buf, start, headEnd) > MAX_LINE_BYTES) return overlong(buf.toString('latin1', start, headEnd));
  const text = buf.toString('latin1', start);
  let msg: SipMessage | undefined;
  try {
    msg = sip.parse(text);
  } catch {
    msg = undefined;
  }
  if (!msg || typeof msg !== 'object' || !msg.headers) return { ok: false, error: 'unparseable start line or header' };
  const head = text.slice(0, headEnd - start);
  if (countLines(head) > MAX_HEADER_LINES) {
    return { ok: false, error: 'too many header lines', msg: msg.method && msg.method !== 'ACK' && answerable(msg) ? msg : undefined };
  }
  if (head.indexOf('[') >= 0) fixIpv6(head, msg);
  const cl = msg.headers['content-length'];
  if (cl !== undefined && (!Number.isFinite(cl) || cl < 0 || cl > buf.length - (headEnd + 4))) {
    return { ok: false, error: 'bad Content-Length', msg: msg.method && answerable(msg) ? msg : undefined };
  }
  const problem = validate(msg);
  if (problem) return { ok: false, error: problem, msg: msg.method && answerable(msg) ? msg : undefined };
  return { ok: true, msg };
}

/** Length of the longest line in buf[from, to) (bytes between line feeds). */
function longestLine(buf: Buffer, from: number, to: number): number {
  let max = 0;
  let i = from;
  while (i < to) {
    let j = buf.indexOf(10, i);
    if (j < 0 || j > to) j = to;
    if (j - i > max) max = j - i;
    i = j + 1;
  }
  return max;
}

/** A message with a line over MAX_LINE_BYTES: rejected; answerable (400) when the head parses without its long lines. */
function overlong(head: string): DecodeResult {
  const error = 'header line too long';
  const kept = head.split('\n').filter((l) => l.length <= MAX_LINE_BYTES);
  if (kept.length > MAX_HEADER_LINES) return { ok: false, error };
  let msg: SipMessage | undefined;
  try {
    msg = sip.parse(kept.join('\n') + '\r\n\r\n');
  } catch {
    msg = undefined;
  }
  if (!msg || !msg.headers || !msg.method || msg.method === 'ACK' || !answerable(msg)) return { ok: false, error };
  return { ok: false, error, msg };
}

function countLines(s: string): number {
  let n = 0;
  let i = -1;
  while ((i = s.indexOf('\n', i + 1)) >= 0) n++;
  return n + 1;
}

/** True when a 400 can be built and routed for this request. */
export function answerable(msg: SipMessage): boolean {
  const h = msg.headers;
  return (
    Array.isArray(h.via) && h.via.length > 0 && typeof h.via[0].host === 'string' && h.via[0].host.length > 0 &&
    typeof h['call-id'] === 'string' && !!h.cseq && !!h.from && !!h.to
  );
}

/** The first thing wrong with a parsed message that the stack relies on; undefined when fine. */
export function validate(msg: SipMessage): string | undefined {
  const h = msg.headers;
  if (msg.method === undefined) {
    if (typeof msg.status !== 'number' || !(msg.status >= 100 && msg.status <= 699)) return 'bad status code';
  } else {
    if (typeof msg.uri !== 'string' || !/^sips?:/i.test(msg.uri)) return 'bad Request-URI';
  }
  if (msg.version !== '2.0') return 'unsupported SIP version';
  if (!Array.isArray(h.via) || h.via.length === 0) return 'missing Via';
  for (const v of h.via) {
    if (!v || typeof v.host !== 'string' || !/^[\w.\-:[\]]+$/.test(v.host) || v.host === '[') return 'bad Via';
    if (typeof v.protocol !== 'string' || !v.params) return 'bad Via';
  }
  if (typeof h['call-id'] !== 'string' || h['call-id'].length === 0) return 'missing Call-ID';
  const cs = h.cseq;
  if (!cs || !Number.isFinite(cs.seq) || cs.seq < 0 || cs.seq > 0xffffffff || typeof cs.method !== 'string') return 'bad CSeq';
  if (msg.method !== undefined && cs.method !== msg.method && !(msg.method === 'ACK' && cs.method === 'ACK')) {
    return 'CSeq method does not match';
  }
  if (!h.from || typeof h.from.uri !== 'string' || !h.from.params) return 'bad From';
  if (!h.to || typeof h.to.uri !== 'string' || !h.to.params) return 'bad To';
  for (const name of ['route', 'record-route'] as const) {
    const r = h[name];
    if (r === undefined) continue;
    if (!Array.isArray(r)) return 'bad ' + name;
    for (const e of r) if (!e || !e.uri || !e.params) return 'bad ' + name;
  }
  const mf = h['max-forwards'];
  if (mf !== undefined && !/^\s*\d{1,3}\s*$/.test(String(mf))) return 'bad Max-Forwards';
  return undefined;
}

/** Serializes a message (binary-safe: the body is a latin1 string). Throws only on a message the stack built wrongly. */
export function encode(msg: SipMessage): Buffer {
  return Buffer.from(sip.stringify(msg), 'latin1');
}

// ---- IPv6 fix-up -------------------------------------------------------

/** Header lines of a head, unfolded, as [lower-case name, value]. */
function headerLines(head: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = head.split(/\r\n(?![ \t])/);
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].indexOf(':');
    if (c <= 0) continue;
    out.push([lines[i].slice(0, c).trim().toLowerCase(), lines[i].slice(c + 1).replace(/\r\n[ \t]+/g, ' ').trim()]);
  }
  return out;
}

/** Splits a header value at commas that are outside <...> and quotes. */
function splitList(v: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let from = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') depth++;
    else if (c === '>') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(v.slice(from, i).trim());
      from = i + 1;
    }
  }
  out.push(v.slice(from).trim());
  return out.filter((s) => s.length > 0);
}

function parseParams(s: string): Record<string, string | null> {
  const params: Record<string, string | null> = {};
  for (const p of s.split(';')) {
    const t = p.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq < 0) params[t.toLowerCase()] = null;
    else params[t.slice(0, eq).trim().toLowerCase()] = t.slice(eq + 1).trim();
  }
  return params;
}

const VIA_RE = /^SIP\s*\/\s*(\d+\.\d+)\s*\/\s*(\S+)\s+(\[[0-9a-fA-F:.]+\]|[^\s;:]+)(?:\s*:\s*(\d{1,5}))?\s*(;.*)?$/;

export function parseViaValue(v: string): SipVia | undefined {
  const m = VIA_RE.exec(v);
  if (!m) return undefined;
  return { version: m[1], protocol: m[2], host: m[3], port: m[4] ? Number(m[4]) : undefined, params: parseParams(m[5] ?? '') };
}

function parseRouteValue(v: string): SipRouteEntry | undefined {
  const lt = v.indexOf('<');
  const gt = v.indexOf('>', lt + 1);
  if (lt < 0 || gt < 0) return undefined;
  const uri = parseSipUri(v.slice(lt + 1, gt).trim());
  if (!uri) return undefined;
  const name = v.slice(0, lt).trim();
  return { name: name || undefined, uri, params: parseParams(v.slice(gt + 1)) };
}

function fixIpv6(head: string, msg: SipMessage): void {
  const via: SipVia[] = [];
  const route: SipRouteEntry[] = [];
  const rr: SipRouteEntry[] = [];
  let bad = false;
  for (const [name, value] of headerLines(head)) {
    if (name === 'via' || name === 'v') {
      for (const item of splitList(value)) {
        const p = parseViaValue(item);
        if (p) via.push(p);
        else bad = true;
      }
    } else if (name === 'route' || name === 'record-route') {
      for (const item of splitList(value)) {
        const p = parseRouteValue(item);
        if (p) (name === 'route' ? route : rr).push(p);
        else bad = true;
      }
    }
  }
  if (bad) return; // leave sip's result; validate() rejects what it mangled
  msg.headers.via = via;
  if (route.length) msg.headers.route = route;
  if (rr.length) msg.headers['record-route'] = rr;
}
