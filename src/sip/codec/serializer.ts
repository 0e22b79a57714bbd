/**
 * sip/serializer: SipMessage to text, for the message shapes sip/parser
 * produces and the stack builds. Hand-written because package `sip`'s
 * stringify was the second largest piece of JavaScript time under load (a
 * regex replace per header name, for..in over every parameter object): this
 * one looks header names up in a table and concatenates. Values it does not
 * know how to write (objects built for package `sip`'s own stringifiers)
 * make it hand the whole message to `sip.stringify`, so nothing is lost.
 * Like `sip.stringify`, it sets headers['content-length'] from the body.
 * May import: package sip.
 */
import sip, { type SipAor, type SipMessage, type SipParams, type SipRouteEntry, type SipUri, type SipVia } from 'sip';

const CANONICAL: Record<string, string> = {
  via: 'Via', to: 'To', from: 'From', contact: 'Contact', route: 'Route', 'record-route': 'Record-Route', path: 'Path',
  cseq: 'CSeq', 'call-id': 'Call-ID', 'max-forwards': 'Max-Forwards', 'content-length': 'Content-Length',
  'content-type': 'Content-Type', 'www-authenticate': 'WWW-Authenticate', 'proxy-authenticate': 'Proxy-Authenticate',
  authorization: 'Authorization', 'proxy-authorization': 'Proxy-Authorization', 'authentication-info': 'Authentication-Info',
  'retry-after': 'Retry-After', allow: 'Allow', accept: 'Accept', supported: 'Supported', require: 'Require',
  'user-agent': 'User-Agent', server: 'Server', expires: 'Expires', 'refer-to': 'Refer-To', event: 'Event',
  'content-encoding': 'Content-Encoding', subject: 'Subject', 'allow-events': 'Allow-Events', 'session-expires': 'Session-Expires',
  'min-se': 'Min-SE', 'p-asserted-identity': 'P-Asserted-Identity', 'content-disposition': 'Content-Disposition',
  'subscription-state': 'Subscription-State', 'proxy-require': 'Proxy-Require', unsupported: 'Unsupported',
  'rack': 'RAck', 'rseq': 'RSeq', 'call-info': 'Call-Info', 'alert-info': 'Alert-Info', date: 'Date', timestamp: 'Timestamp',
};
const prettyCache = new Map<string, string>();
const PRETTY_CACHE_MAX = 512;

/** A header name as written on the wire (package `sip`'s capitalisation for names not in the table). */
export function headerName(n: string): string {
  const c = CANONICAL[n];
  if (c !== undefined) return c;
  let p = prettyCache.get(n);
  if (p === undefined) {
    p = n.replace(/\b([a-z])/g, (a) => a.toUpperCase());
    if (prettyCache.size < PRETTY_CACHE_MAX) prettyCache.set(n, p);
  }
  return p;
}

export function stringifyParams(params: SipParams | undefined): string {
  let s = '';
  if (!params) return s;
  for (const n in params) {
    const v = params[n];
    s += v ? ';' + n + '=' + v : ';' + n;
  }
  return s;
}

export function stringifyUri(uri: SipUri | string): string {
  if (typeof uri === 'string') return uri;
  let s = (uri.schema || 'sip') + ':';
  if (uri.user) s += uri.password ? uri.user + ':' + uri.password + '@' : uri.user + '@';
  s += uri.host;
  if (uri.port) s += ':' + uri.port;
  s += stringifyParams(uri.params);
  if (uri.headers) {
    let first = true;
    for (const k in uri.headers) {
      s += (first ? '?' : '&') + k + '=' + uri.headers[k];
      first = false;
    }
  }
  return s;
}

function aor(a: SipAor | SipRouteEntry): string {
  const u = stringifyUri(a.uri as SipUri | string);
  return (a.name ? a.name + ' <' : '<') + u + '>' + stringifyParams(a.params);
}

function via(v: SipVia): string {
  return 'Via: SIP/' + (v.version || '2.0') + '/' + v.protocol.toUpperCase() + ' ' + v.host + (v.port ? ':' + v.port : '') + stringifyParams(v.params) + '\r\n';
}

function aorList(name: string, list: unknown): string | undefined {
  if (!Array.isArray(list)) return undefined;
  if (list.length === 0) return '';
  let s = name + ': ';
  for (let i = 0; i < list.length; i++) {
    const a = list[i] as SipAor | undefined;
    if (!a || typeof a !== 'object' || a.uri === undefined) return undefined;
    s += (i ? ', ' : '') + aor(a);
  }
  return s + '\r\n';
}

/** The message as text (latin1: the body is a binary string). Throws only on a message built wrongly. */
export function stringify(m: SipMessage): string {
  let s = m.status ? 'SIP/' + (m.version || '2.0') + ' ' + m.status + ' ' + m.reason + '\r\n'
    : m.method + ' ' + stringifyUri(m.uri as string) + ' SIP/' + (m.version || '2.0') + '\r\n';
  const h = m.headers;
  h['content-length'] = (m.content || '').length;
  for (const n in h) {
    const v = h[n];
    if (v === undefined) continue;
    if (typeof v === 'string' || typeof v === 'number') {
      s += headerName(n) + ': ' + v + '\r\n';
      continue;
    }
    let line: string | undefined;
    switch (n) {
      case 'via':
        if (Array.isArray(v)) {
          line = '';
          for (const x of v as SipVia[]) if (x && x.host) line += via(x);
        }
        break;
      case 'to':
      case 'from':
      case 'refer-to':
        if (typeof v === 'object' && (v as SipAor).uri !== undefined) line = headerName(n) + ': ' + aor(v as SipAor) + '\r\n';
        break;
      case 'cseq':
        line = 'CSeq: ' + (v as { seq: number }).seq + ' ' + (v as { method: string }).method + '\r\n';
        break;
      case 'contact':
      case 'route':
      case 'record-route':
      case 'path':
        line = aorList(headerName(n), v);
        break;
      default:
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
          line = '';
          const name = headerName(n);
          for (const x of v as string[]) line += name + ': ' + x + '\r\n';
        }
    }
    if (line === undefined) return sip.stringify(m); // a shape only package sip knows
    s += line;
  }
  s += '\r\n';
  if (m.content) s += m.content;
  return s;
}
