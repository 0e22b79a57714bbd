/**
 * sip/codec/uri: SIP URI parsing for routing decisions (RFC 3261 §19.1.1, IPv6
 * references per RFC 5118), hand-written: see parseUriText; and the one
 * place that says which transport and default port a URI means.
 * May import: sip/codec.
 */
import type { SipUri, Transport } from './message.js';
import { isIP } from 'node:net';

/**
 * Common parameter names as constants: a property stored under a string literal is
 * much cheaper than under a freshly sliced string (which must be looked up in V8's
 * string table on every store).
 */
const PARAM_NAMES = ['branch', 'tag', 'rport', 'received', 'lr', 'transport', 'maddr', 'ttl', 'user', 'expires', 'pair', 'method', 'q', 'ob'];
const PARAMS_BY_LENGTH: string[][] = [];
for (const p of PARAM_NAMES) (PARAMS_BY_LENGTH[p.length] ??= []).push(p);

/** The parameter name s[i, j): a constant when it is a common one written in lower case; else sliced (lower-cased when `lower`). */
export function paramName(s: string, i: number, j: number, lower: boolean): string {
  const cands = PARAMS_BY_LENGTH[j - i];
  if (cands) for (const c of cands) if (s.startsWith(c, i)) return c;
  const raw = s.slice(i, j);
  return lower ? raw.trim().toLowerCase() : raw;
}

let lastText: string | undefined;
let lastUri: SipUri | undefined;

/**
 * Parses a SIP/SIPS URI; undefined when it is not one. Never throws. The
 * last result is remembered (the proxy reads one Request-URI several times
 * per request); callers treat the result as read-only.
 */
export function parseSipUri(text: string): SipUri | undefined {
  if (typeof text !== 'string' || text.length > 4096) return undefined;
  if (text === lastText) return lastUri;
  const u = parseUriText(text);
  lastText = text;
  lastUri = u;
  return u;
}

function isHostChar(c: number): boolean {
  // [A-Za-z0-9_.-]
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95;
}

function hasSpace(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 62 /* > */ || c === 60 /* < */ || c === 127) return true;
  }
  return false;
}

/**
 * A fresh parse (no memory) of `sip:`/`sips:` user[:password]@host[:port];params?headers,
 * host a name, IPv4 or an IPv6 reference; port NaN when absent, parameter names as
 * written. Hand-written: package `sip`'s one large URI regex was a visible cost per
 * routed request, and it cannot read IPv6 references.
 */
export function parseUriText(s: string): SipUri | undefined {
  if (typeof s !== 'string' || s.length > 4096) return undefined;
  const n = s.length;
  let i: number;
  let schema: string;
  // the scheme is case-insensitive (RFC 3261 §19.1.4)
  if (s.startsWith('sip:') || ((s.charCodeAt(0) | 32) === 115 && (s.charCodeAt(1) | 32) === 105 && (s.charCodeAt(2) | 32) === 112 && s.charCodeAt(3) === 58)) {
    schema = 'sip';
    i = 4;
  } else if ((s.charCodeAt(0) | 32) === 115 && (s.charCodeAt(1) | 32) === 105 && (s.charCodeAt(2) | 32) === 112 && (s.charCodeAt(3) | 32) === 115 && s.charCodeAt(4) === 58) {
    schema = 'sips';
    i = 5;
  } else return undefined;
  if (hasSpace(s, i, n)) return undefined;
  let user: string | undefined;
  let password: string | undefined;
  // userinfo ends at the first '@': '@' is allowed nowhere else unescaped, while the user part may hold ; ? / (user-unreserved)
  const at = s.indexOf('@', i);
  if (at >= 0) {
    const c = s.indexOf(':', i);
    if (c >= 0 && c < at) {
      user = s.slice(i, c);
      password = s.slice(c + 1, at);
      if (!password) return undefined;
    } else user = s.slice(i, at);
    if (!user) return undefined;
    i = at + 1;
  }
  let host: string;
  if (s.charCodeAt(i) === 91 /* [ */) {
    const e = s.indexOf(']', i);
    if (e < 0) return undefined;
    const inner = s.slice(i + 1, e);
    if (isIP(inner) !== 6) return undefined;
    host = '[' + inner.toLowerCase() + ']';
    i = e + 1;
  } else {
    const h0 = i;
    while (i < n && isHostChar(s.charCodeAt(i))) i++;
    if (i === h0) return undefined;
    host = s.slice(h0, i);
  }
  let port = NaN;
  if (i < n && s.charCodeAt(i) === 58 /* : */) {
    const p0 = ++i;
    while (i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
    if (i === p0 || i - p0 > 5) return undefined;
    port = Number(s.slice(p0, i));
    if (port > 65535) return undefined;
  }
  const params: Record<string, string | null> = {};
  while (i < n && s.charCodeAt(i) === 59 /* ; */) {
    const k0 = ++i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 59 || c === 61 || c === 63) break;
      i++;
    }
    if (i === k0) return undefined;
    const key = paramName(s, k0, i, false);
    if (i < n && s.charCodeAt(i) === 61 /* = */) {
      const v0 = ++i;
      while (i < n && s.charCodeAt(i) !== 59 && s.charCodeAt(i) !== 63) i++;
      params[key] = i > v0 ? s.slice(v0, i) : null;
    } else params[key] = null;
  }
  const headers: Record<string, string> = {};
  if (i < n && s.charCodeAt(i) === 63 /* ? */) {
    for (const h of s.slice(i + 1).split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0 || eq === h.length - 1) return undefined;
      headers[h.slice(0, eq)] = h.slice(eq + 1);
    }
    i = n;
  }
  if (i !== n) return undefined;
  return { schema, user, password, host, port, params, headers };
}

/** The host of a URI as an address or canonical name: brackets removed, lower case, no trailing dot. */
export function uriHost(u: SipUri): string {
  let h = u.host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** The explicit port of a URI, or undefined. */
export function uriPort(u: SipUri): number | undefined {
  const p = u.port;
  return typeof p === 'number' && p > 0 && p < 65536 ? p : undefined;
}

/**
 * The transport a URI names (RFC 3263 §4.1): `sips:` or transport=tls: TLS;
 * transport=tcp: TCP; transport=udp: UDP; undefined when it names none (or
 * one srvproxy does not speak), and RFC 3263 resolution may choose.
 */
export function namedTransport(u: SipUri): Transport | undefined {
  if (u.schema === 'sips') return 'tls';
  const t = u.params.transport;
  if (typeof t !== 'string') return undefined;
  switch (t.toLowerCase()) {
    case 'tls':
      return 'tls';
    case 'tcp':
      return 'tcp';
    case 'udp':
      return 'udp';
    default:
      return undefined;
  }
}

/** The transport to reach a URI's target directly (an address, a known instance): the one it names, else UDP. */
export function transportFor(u: SipUri): Transport {
  return namedTransport(u) ?? 'udp';
}

/** The port a target listens on when nothing says (RFC 3263 §4.2): 5061 for TLS, else 5060. */
export function defaultPort(t: Transport): number {
  return t === 'tls' ? 5061 : 5060;
}

/** The URI parameter that names a transport, for a URI srvproxy writes: none for UDP (the default). */
export function transportParam(t: Transport): string {
  return t === 'udp' ? '' : ';transport=' + t;
}

/** `host` ready for a URI or Via: IPv6 addresses in brackets. */
export function hostForUri(address: string): string {
  return isIP(address) === 6 ? '[' + address + ']' : address;
}
