/**
 * sip/codec/serializer: a message (sip/codec/message) to text, for every
 * header form the types allow: structured Via, From, To, Refer-To, Contact
 * (a list or '*'), Route, Record-Route, Path and CSeq; any other header as a
 * string or number (one line), or a list of strings (one line each: the
 * Authorization family, RFC 3261 §7.3.1). Hand-written because package
 * `sip`'s stringify was the second largest piece of JavaScript time under
 * load (a regex replace per header name, for..in over every parameter
 * object): this one looks header names up in a table and concatenates. It
 * sets headers['content-length'] from the body.
 * May import: sip/codec.
 */
import type { SipAor, SipCSeq, SipMessage, SipParams, SipRouteEntry, SipUri, SipVia } from './message.js';

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

/** A header name as written on the wire (each word capitalised for names not in the table). */
function headerName(n: string): string {
  const c = CANONICAL[n];
  if (c !== undefined) return c;
  let p = prettyCache.get(n);
  if (p === undefined) {
    p = n.replace(/\b([a-z])/g, (a) => a.toUpperCase());
    if (prettyCache.size < PRETTY_CACHE_MAX) prettyCache.set(n, p);
  }
  return p;
}

function stringifyParams(params: SipParams | undefined): string {
  let s = '';
  if (!params) return s;
  for (const n in params) {
    const v = params[n];
    s += v ? ';' + n + '=' + v : ';' + n;
  }
  return s;
}

function stringifyUri(uri: SipUri | string): string {
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
  const u = stringifyUri(a.uri);
  return (a.name ? a.name + ' <' : '<') + u + '>' + stringifyParams(a.params);
}

function via(v: SipVia): string {
  return 'Via: SIP/' + (v.version || '2.0') + '/' + v.protocol.toUpperCase() + ' ' + v.host + (v.port ? ':' + v.port : '') + stringifyParams(v.params) + '\r\n';
}

function aorList(name: string, list: readonly (SipAor | SipRouteEntry)[]): string {
  if (list.length === 0) return '';
  let s = name + ': ';
  for (let i = 0; i < list.length; i++) s += (i ? ', ' : '') + aor(list[i]);
  return s + '\r\n';
}

/** The message as text (latin1: the body is a binary string). Throws only on a message built wrongly (a value of no header form). */
export function stringify(m: SipMessage): string {
  let s = m.kind === 'response' ? 'SIP/' + (m.version || '2.0') + ' ' + m.status + ' ' + m.reason + '\r\n'
    : m.method + ' ' + m.uri + ' SIP/' + (m.version || '2.0') + '\r\n';
  const h = m.headers;
  h['content-length'] = (m.content || '').length;
  for (const n in h) {
    const v = h[n];
    if (v === undefined) continue;
    if (typeof v === 'string' || typeof v === 'number') {
      s += headerName(n) + ': ' + v + '\r\n';
      continue;
    }
    switch (n) {
      case 'via':
        for (const x of v as SipVia[]) if (x && x.host) s += via(x);
        continue;
      case 'to':
      case 'from':
      case 'refer-to':
        s += headerName(n) + ': ' + aor(v as SipAor) + '\r\n';
        continue;
      case 'cseq':
        s += 'CSeq: ' + (v as SipCSeq).seq + ' ' + (v as SipCSeq).method + '\r\n';
        continue;
      case 'contact':
      case 'route':
      case 'record-route':
      case 'path':
        s += aorList(headerName(n), v as SipAor[]);
        continue;
    }
    if (!Array.isArray(v)) throw new TypeError('header ' + n + ': not a header value');
    const name = headerName(n);
    for (const x of v) {
      if (typeof x !== 'string') throw new TypeError('header ' + n + ': not a header value');
      s += name + ': ' + x + '\r\n';
    }
  }
  s += '\r\n';
  if (m.content) s += m.content;
  return s;
}
