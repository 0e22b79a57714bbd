/**
 * sip/codec/codec: one SIP message from bytes and back, behind guards: size,
 * header-count and line-length limits, a framing check before the parser
 * sees the text, validation of the headers the stack relies on (what makes
 * a parsed message a validated SipRequest or SipResponse of
 * sip/codec/message). The parser and serializer are hand-written
 * (sip/codec/parser, sip/codec/serializer). Nothing here throws on input.
 * May import: sip/codec.
 */
import type { SipHeaders, RawSipMessage, SipMessage, SipRequest } from './message.js';
import { HEAD_NO_CONTENT_LENGTH, headError, scanHead } from './head.js';
import { parseHead } from './parser.js';
import { stringify } from './serializer.js';
import { parseSipUri } from './uri.js';

export type { SipMessage, SipRequest, SipResponse, SipHeaders, SipVia, SipUri, SipRouteEntry, SipAor } from './message.js';

/** Largest message accepted on any transport (bytes). */
export const MAX_MESSAGE_BYTES = 65535;
/** Largest number of header lines accepted. */
export const MAX_HEADER_LINES = 256;
/** Longest start line or header line accepted (bytes, a folded header counts per physical line). */
export const MAX_LINE_BYTES = 8192;

/** A message that cannot be handed to the stack, and what is known to answer it. */
export interface DecodeFailure {
  ok: false;
  error: string;
  /** The status due when it is a request: 400, or 505 for a SIP version other than 2.0. */
  status: 400 | 505;
  /** Parsed far enough to build the answer from, when it is a request. */
  msg?: SipRequest;
  /** The head as text when it is a request but `msg` could not be built (its answer copies the raw lines: sip/codec/messages rawResponse). */
  head?: string;
}

export type DecodeResult = { ok: true; msg: SipMessage } | DecodeFailure;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:/i;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:./;
const SIP_SCHEME_RE = /^sips?:/i;

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
  if (buf.length > MAX_MESSAGE_BYTES) return failure('message too large');
  const start = skipLeadingWhitespace(buf);
  if (start >= buf.length) return failure('empty');
  const headEnd = buf.indexOf(CRLFCRLF, start);
  if (hasLongLine(buf, start, headEnd < 0 ? buf.length : headEnd)) return longLineFailure(buf, start, headEnd);
  if (headEnd < 0) return failure('no end of headers');
  // the byte-level rules every transport shares: CRLF line ends, no NUL, one Content-Length
  const scan = scanHead(buf, start, headEnd);
  const text = buf.toString('latin1', start, headEnd);
  const r = parseHead(text, MAX_HEADER_LINES);
  if (scan < HEAD_NO_CONTENT_LENGTH) return failed(headError(scan), 'error' in r ? r.partial : r, text);
  if ('error' in r) return failed(r.error, r.partial, text);
  const msg = r;
  const bodyAt = headEnd + 4;
  const cl = scan === HEAD_NO_CONTENT_LENGTH ? undefined : scan;
  if (cl !== undefined && cl > buf.length - bodyAt) return failed('bad Content-Length', msg, text);
  // bytes after Content-Length are not part of the message (RFC 3261 §18.3)
  const bodyEnd = cl === undefined ? buf.length : bodyAt + cl;
  if (bodyEnd > bodyAt) msg.content = buf.toString('latin1', bodyAt, bodyEnd);
  const problem = validate(msg);
  if (problem) return failed(problem, msg, text);
  return { ok: true, msg: msg as SipMessage };
}

function failure(error: string): DecodeFailure {
  return { ok: false, error, status: 400 };
}

/** A failure with what is known to answer it: the parsed request when answerable, else its head text (requests only). */
function failed(error: string, partial: RawSipMessage | undefined, head: string): DecodeFailure {
  const status = error === UNSUPPORTED_VERSION ? 505 : 400;
  if (partial && answerable(partial)) return { ok: false, error, status, msg: partial };
  const isRequest = partial ? partial.kind === 'request' : !head.startsWith('SIP/');
  return isRequest ? { ok: false, error, status, head } : { ok: false, error, status };
}

const UNSUPPORTED_VERSION = 'unsupported SIP version';

/** True when a line of buf[start, end) is longer than MAX_LINE_BYTES (a folded header counts per physical line). */
function hasLongLine(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; ) {
    let j = buf.indexOf(10, i);
    if (j < 0 || j > end) j = end;
    if (j - i > MAX_LINE_BYTES) return true;
    i = j + 1;
  }
  return false;
}

/** A head with an over-long line: answerable with 400 when the head without its long lines (and without Content-Length) is a request. */
function longLineFailure(buf: Buffer, start: number, headEnd: number): DecodeResult {
  const error = 'header line too long';
  if (headEnd < 0) return failure(error);
  const kept = buf
    .toString('latin1', start, headEnd)
    .split('\r\n')
    .filter((l) => l.length < MAX_LINE_BYTES && !CONTENT_LENGTH.test(l));
  const again = Buffer.from(kept.join('\r\n') + '\r\n\r\n', 'latin1');
  // never recurse twice (lines split on bare LF are counted differently)
  if (hasLongLine(again, 0, again.length - 4)) return failure(error);
  const r = decode(again);
  const m = r.msg;
  return { ok: false, error, status: 400, msg: m && m.kind === 'request' && m.method !== 'ACK' ? m : undefined };
}

/**
 * The request a head names, for answering a TCP framing error (400/513): parsed
 * without its body, when it is a request other than ACK that a response can be
 * built and routed for; else undefined.
 */
export function answerableHead(head: string): SipRequest | undefined {
  const r = parseHead(head, MAX_HEADER_LINES);
  const m = 'error' in r ? r.partial : r;
  return m && answerable(m) && m.method !== 'ACK' ? m : undefined;
}

/** True when this is a request for which a 400 can be built and routed (its Via, Call-ID, CSeq, From and To are there). */
function answerable(msg: RawSipMessage): msg is SipRequest<SipHeaders> {
  const h = msg.headers;
  return (
    msg.kind === 'request' &&
    Array.isArray(h.via) && h.via.length > 0 && typeof h.via[0].host === 'string' && h.via[0].host.length > 0 &&
    typeof h['call-id'] === 'string' && !!h.cseq && !!h.from && !!h.to
  );
}

/** The first thing wrong with a parsed message that the stack relies on; undefined when fine. */
function validate(msg: RawSipMessage): string | undefined {
  const h = msg.headers;
  if (msg.kind === 'response') {
    if (!(msg.status >= 100 && msg.status <= 699)) return 'bad status code';
  } else {
    // RFC 3261 §19.1: a sip/sips URI must parse and may not carry headers in a Request-URI (RFC 4475 §3.1.2.11);
    // any other scheme only needs to be one (the proxy core answers 416 for those it does not route)
    const u = parseSipUri(msg.uri);
    if (u) {
      for (const k in u.headers) return 'headers in the Request-URI (' + k + ')';
    } else if (!SCHEME_RE.test(msg.uri) || SIP_SCHEME_RE.test(msg.uri)) return 'bad Request-URI';
  }
  if (msg.version !== '2.0') return UNSUPPORTED_VERSION;
  if (!Array.isArray(h.via) || h.via.length === 0) return 'missing Via';
  for (const v of h.via) {
    if (!v || typeof v.host !== 'string' || !/^[\w.\-:[\]]+$/.test(v.host) || v.host === '[') return 'bad Via';
    if (typeof v.protocol !== 'string' || !v.params) return 'bad Via';
  }
  if (typeof h['call-id'] !== 'string' || h['call-id'].length === 0) return 'missing Call-ID';
  const cs = h.cseq;
  if (!cs || !Number.isFinite(cs.seq) || cs.seq < 0 || cs.seq > 0xffffffff || typeof cs.method !== 'string') return 'bad CSeq';
  if (msg.kind === 'request' && cs.method !== msg.method) {
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
  return undefined;
}

/** Serializes a message (binary-safe: the body is a latin1 string). Throws only on a message the stack built wrongly. */
export function encode(msg: SipMessage): Buffer {
  return Buffer.from(stringify(msg), 'latin1');
}
