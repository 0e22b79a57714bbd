/**
 * sip/codec/peek: a look at the head of a request datagram without decoding
 * it, for the one decision that must cost less than a parse: overload control
 * refusing new requests (sip/proxy/fast-shed). It reads only the plain,
 * common form of a request from a user agent: a request line ending in
 * SIP/2.0; header lines that pass the head's byte rules (head.ts scanHead),
 * none folded; one Via value, `SIP/2.0/UDP host[:port]` with no whitespace
 * inside its parameters and an RFC 3261 branch; one From and one To that the
 * parser reads (the To without any "tag" in it), one Call-ID, one CSeq
 * naming the method. Anything else is `undefined` and takes the full decode,
 * which answers it as before (a 400 where it is malformed); what a response
 * copies from a peeked head is therefore well formed. Headers a response
 * does not copy are not read. May import: sip/codec/head, sip/codec/parser.
 */
import { scanHead } from './head.js';
import { isRfc3261Branch } from './messages.js';
import { parseAor } from './parser.js';

/** A request head read by peekRequest: the method, the top Via's addressing, and where the lines a response copies are. */
export interface PeekedRequest {
  readonly method: string;
  /** The Via: sent-by host as written (no brackets: IPv6 sent-by is not peeked), port (undefined when absent), branch, rport asked. */
  readonly host: string;
  readonly port: number | undefined;
  readonly branch: string;
  readonly rport: boolean;
  /** The Via line: [viaStart, viaEnd) with its CRLF. */
  readonly viaStart: number;
  readonly viaEnd: number;
  /** End of the Via value (the line's CR). */
  readonly topEnd: number;
  /** `received` and `rport` parameters of the Via, as [start, end) pairs (each starting at its ';'): a response leaves them out. */
  readonly dropped: readonly number[];
  /** [start, end) of the From, Call-ID and CSeq lines with their CRLF, and of the To line without it. */
  readonly from: readonly [number, number];
  readonly to: readonly [number, number];
  readonly callId: readonly [number, number];
  readonly cseq: readonly [number, number];
}

const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const SEMI = 59;
const COMMA = 44;
const EQ = 61;

const enum H {
  Other,
  Via,
  From,
  To,
  CallId,
  CSeq,
}

/** RFC 3261 token characters: letters, digits and -.!%*_+`'~. */
function isToken(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 33 || c === 37 || c === 42 || c === 95 || c === 43 || c === 96 || c === 39 || c === 126;
}

/** Lower-cases an ASCII letter. */
function lc(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** True when buf[s, e) is `word` (lower case) in any case. */
function isWord(buf: Buffer, s: number, e: number, word: string): boolean {
  if (e - s !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (lc(buf[s + k]!) !== word.charCodeAt(k)) return false;
  return true;
}

function headerKind(buf: Buffer, s: number, e: number): H {
  switch (e - s) {
    case 1: {
      const c = lc(buf[s]!);
      return c === 118 /* v */ ? H.Via : c === 102 /* f */ ? H.From : c === 116 /* t */ ? H.To : c === 105 /* i */ ? H.CallId : H.Other;
    }
    case 2:
      return isWord(buf, s, e, 'to') ? H.To : H.Other;
    case 3:
      return isWord(buf, s, e, 'via') ? H.Via : H.Other;
    case 4:
      return isWord(buf, s, e, 'from') ? H.From : isWord(buf, s, e, 'cseq') ? H.CSeq : H.Other;
    case 7:
      return isWord(buf, s, e, 'call-id') ? H.CallId : H.Other;
    default:
      return H.Other;
  }
}

/** Index of "tag" (any case) in buf[s, e), or -1. */
function findTag(buf: Buffer, s: number, e: number): number {
  for (let k = s; k + 3 <= e; k++) {
    if (lc(buf[k]!) === 116 && lc(buf[k + 1]!) === 97 && lc(buf[k + 2]!) === 103) return k;
  }
  return -1;
}

interface TopVia {
  host: string;
  port: number | undefined;
  branch: string;
  rport: boolean;
  topEnd: number;
  dropped: number[];
}

/** The top Via value at buf[s, e) (e: the line's CR), in its plain form (`alone`: the only value of its line); undefined otherwise. */
function readTopVia(buf: Buffer, s: number, e: number, alone = true): TopVia | undefined {
  if (s + 12 > e || !isWord(buf, s, s + 11, 'sip/2.0/udp')) return undefined;
  let i = s + 11;
  if (buf[i] !== SP && buf[i] !== HT) return undefined;
  while (i < e && (buf[i] === SP || buf[i] === HT)) i++;
  const hs = i;
  while (i < e) {
    const c = buf[i]!;
    if (c === COLON || c === SEMI || c === COMMA || c === SP || c === HT) break;
    // the codec's sent-by: letters, digits, '.', '-', '_' (an IPv6 reference in brackets is not peeked)
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 45 || c === 95)) return undefined;
    i++;
  }
  if (i === hs) return undefined;
  const host = buf.toString('latin1', hs, i);
  let port: number | undefined;
  if (buf[i] === COLON) {
    const ps = ++i;
    let v = 0;
    while (i < e && buf[i]! >= 48 && buf[i]! <= 57 && i - ps < 5) v = v * 10 + buf[i++]! - 48;
    if (i === ps || v < 1 || v > 65535) return undefined;
    port = v;
  }
  let branch: string | undefined;
  let rport = false;
  const dropped: number[] = [];
  while (i < e && buf[i] === SEMI) {
    const ps = i++;
    const ns = i;
    while (i < e && isToken(buf[i]!)) i++;
    const ne = i;
    if (ne === ns) return undefined;
    let vs = i;
    if (buf[i] === EQ) {
      vs = ++i;
      while (i < e && (isToken(buf[i]!) || buf[i] === COLON)) i++;
      if (i === vs) return undefined;
    }
    if (isWord(buf, ns, ne, 'branch')) {
      if (branch !== undefined) return undefined;
      branch = buf.toString('latin1', vs, i);
    } else if (isWord(buf, ns, ne, 'rport')) {
      rport = true;
      dropped.push(ps, i);
    } else if (isWord(buf, ns, ne, 'received')) {
      dropped.push(ps, i);
    }
  }
  // the value ends with the line (or, when not alone, at the next value); whitespace or anything else is not the plain form
  if (i !== e && (alone || buf[i] !== COMMA)) return undefined;
  if (!isRfc3261Branch(branch)) return undefined;
  return { host, port, branch, rport, topEnd: i, dropped };
}

/** The end of buf[s, e) without trailing whitespace. */
function trimEnd(buf: Buffer, s: number, e: number): number {
  while (e > s && (buf[e - 1] === SP || buf[e - 1] === HT)) e--;
  return e;
}

/** True when the CSeq value at buf[s, e) is `digits SP method` (RFC 3261 §8.1.1.5). */
function cseqNames(buf: Buffer, s: number, e: number, method: string): boolean {
  let i = s;
  while (i < e && buf[i]! >= 48 && buf[i]! <= 57) i++;
  if (i === s || i - s > 10 || (buf[i] !== SP && buf[i] !== HT)) return false;
  while (i < e && (buf[i] === SP || buf[i] === HT)) i++;
  let j = e;
  while (j > i && (buf[j - 1] === SP || buf[j - 1] === HT)) j--;
  if (j - i !== method.length) return false;
  for (let k = 0; k < method.length; k++) if (buf[i + k] !== method.charCodeAt(k)) return false;
  return true;
}

/**
 * Reads the head of the request datagram `buf` when its method is one of `methods` (keyed by
 * the request line's first word) and the head is in the plain form above; undefined otherwise.
 */
export function peekRequest(buf: Buffer, methods: ReadonlySet<string>): PeekedRequest | undefined {
  const len = buf.length;
  let sp = 0;
  while (sp < len && sp < 16 && buf[sp] !== SP) sp++;
  if (sp === 0 || sp >= len || buf[sp] !== SP) return undefined;
  const method = buf.toString('latin1', 0, sp);
  if (!methods.has(method)) return undefined;
  const headEnd = buf.indexOf('\r\n\r\n', sp, 'latin1');
  if (headEnd < 0 || scanHead(buf, 0, headEnd) < -1) return undefined;
  let lineEnd = buf.indexOf(LF, sp);
  if (lineEnd < 12 || !isWord(buf, lineEnd - 8, lineEnd - 1, 'sip/2.0')) return undefined;
  let top: TopVia | undefined;
  let viaStart = -1;
  let viaEnd = -1;
  let from: [number, number] | undefined;
  let to: [number, number] | undefined;
  let callId: [number, number] | undefined;
  let cseq: [number, number] | undefined;
  let s = lineEnd + 1;
  while (s < headEnd + 2) {
    lineEnd = buf.indexOf(LF, s);
    const e = lineEnd - 1; // the CR
    const c0 = buf[s]!;
    if (c0 === SP || c0 === HT) return undefined; // folded
    let n = s;
    while (n < e && buf[n] !== COLON && buf[n] !== SP && buf[n] !== HT) n++;
    const ne = n;
    while (n < e && (buf[n] === SP || buf[n] === HT)) n++;
    if (buf[n] !== COLON) return undefined;
    let v = n + 1;
    while (v < e && (buf[v] === SP || buf[v] === HT)) v++;
    switch (headerKind(buf, s, ne)) {
      case H.Via:
        if (viaStart >= 0) return undefined; // a second Via: not from a user agent directly
        top = readTopVia(buf, v, e);
        if (!top) return undefined;
        viaStart = s;
        viaEnd = lineEnd + 1;
        break;
      case H.From:
        if (from || !parseAor(buf.toString('latin1', v, trimEnd(buf, v, e)))) return undefined;
        from = [s, lineEnd + 1];
        break;
      case H.To:
        if (to || findTag(buf, v, e) >= 0 || !parseAor(buf.toString('latin1', v, trimEnd(buf, v, e)))) return undefined;
        to = [s, e];
        break;
      case H.CallId:
        if (callId || v === e) return undefined;
        callId = [s, lineEnd + 1];
        break;
      case H.CSeq:
        if (cseq || !cseqNames(buf, v, e, method)) return undefined;
        cseq = [s, lineEnd + 1];
        break;
      default:
        break;
    }
    s = lineEnd + 1;
  }
  if (!top || !from || !to || !callId || !cseq) return undefined;
  return { method, host: top.host, port: top.port, branch: top.branch, rport: top.rport, viaStart, viaEnd, topEnd: top.topEnd, dropped: top.dropped, from, to, callId, cseq };
}

/** A request's method and first Via value, as peekTopVia reads them. */
export interface PeekedVia {
  readonly method: string;
  readonly branch: string;
  readonly host: string;
  readonly port: number | undefined;
}

/**
 * The method and the first Via value (branch, sent-by) of a request datagram, read from its
 * request line and first Via when that value is in the plain form above; undefined otherwise
 * (and for a response). What sip/transaction/layer keys a server transaction by.
 */
export function peekTopVia(buf: Buffer): PeekedVia | undefined {
  const len = buf.length;
  let sp = 0;
  while (sp < len && sp < 16 && buf[sp]! >= 65 && buf[sp]! <= 90) sp++;
  if (sp === 0 || buf[sp] !== SP) return undefined;
  let s = buf.indexOf(LF, sp) + 1;
  while (s > 0 && s < len) {
    const lineEnd = buf.indexOf(LF, s);
    if (lineEnd < 0 || buf[lineEnd - 1] !== 13) return undefined;
    const e = lineEnd - 1;
    if (e === s) return undefined; // the end of the head: no Via
    let n = s;
    while (n < e && buf[n] !== COLON && buf[n] !== SP && buf[n] !== HT) n++;
    if (headerKind(buf, s, n) === H.Via) {
      while (n < e && (buf[n] === SP || buf[n] === HT)) n++;
      if (buf[n] !== COLON) return undefined;
      let v = n + 1;
      while (v < e && (buf[v] === SP || buf[v] === HT)) v++;
      const top = readTopVia(buf, v, e, false);
      if (!top) return undefined;
      return { method: buf.toString('latin1', 0, sp), branch: top.branch, host: top.host, port: top.port };
    }
    s = lineEnd + 1;
  }
  return undefined;
}
