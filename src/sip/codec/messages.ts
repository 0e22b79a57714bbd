/**
 * sip/codec/messages: building the messages the stack originates (responses
 * it generates itself, hop-by-hop ACK and CANCEL) and reading the header
 * values the stack decides on; the one place a Via of ours is built.
 * May import: sip/codec.
 */
import type { SipHeaders, SipMessage, SipRequest, SipResponse, SipVia, Transport } from './message.js';
import { MAGIC_COOKIE, newTag } from './ids.js';
import { hostForUri } from './uri.js';

const REASONS: Record<number, string> = {
  100: 'Trying', 200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 416: 'Unsupported URI Scheme', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected',
  483: 'Too Many Hops', 487: 'Request Terminated', 500: 'Server Internal Error', 502: 'Bad Gateway',
  430: 'Flow Failed', 503: 'Service Unavailable', 505: 'Version Not Supported', 513: 'Message Too Large', 420: 'Bad Extension',
};

function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/**
 * A response to `req` generated here (RFC 3261 §8.2.6): Via, From, To, Call-ID and
 * CSeq copied; a To tag added to final responses that lack one.
 */
export function makeResponse(req: SipRequest, status: number, reason?: string, extra?: Record<string, string>): SipResponse {
  const h = req.headers;
  let to = h.to;
  if (status > 100 && to.params.tag == null) {
    to = { ...to, params: { ...to.params, tag: newTag() } };
  }
  const headers: SipHeaders = {
    via: h.via.slice(),
    from: h.from,
    to,
    'call-id': h['call-id'],
    cseq: h.cseq,
  };
  if (extra) for (const k of Object.keys(extra)) headers[k] = extra[k];
  return { kind: 'response', status, reason: reason ?? reasonPhrase(status), version: '2.0', headers, content: undefined };
}

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_RE = /[\x00-\x1f\x7f]/g;

/** The headers a response copies from its request (RFC 3261 §8.2.6.2), by lower-case name or compact form. */
const COPIED: Record<string, string> = { via: 'Via', v: 'Via', from: 'From', f: 'From', to: 'To', t: 'To', 'call-id': 'Call-ID', i: 'Call-ID', cseq: 'CSeq' };

/**
 * A response to a request too malformed to be parsed into a message (a bad
 * Via, From or To, a missing header), built from the raw lines of its head:
 * the Via, From, To, Call-ID and CSeq lines copied as written (unfolded,
 * control characters replaced by spaces), a To tag added. Undefined for a
 * response, an ACK, or a head without a Via line. Not a hot path.
 */
export function rawResponse(head: string, status: number, reason?: string): string | undefined {
  const lines = head.split('\r\n');
  const start = lines[0].trim();
  if (start.startsWith('SIP/') || /^ACK[ \t]/.test(start)) return undefined;
  let out = 'SIP/2.0 ' + status + ' ' + (reason ?? reasonPhrase(status)).replace(CONTROL_RE, ' ') + '\r\n';
  let vias = 0;
  let toLine = '';
  for (let i = 1; i < lines.length; i++) {
    let line = lines[i];
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1])) line += ' ' + lines[++i].trim();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = COPIED[line.slice(0, colon).trim().toLowerCase()];
    if (!name) continue;
    const value = line.slice(colon + 1).replace(CONTROL_RE, ' ').trim();
    if (name === 'Via') vias++;
    if (name === 'To') toLine = value;
    else out += name + ': ' + value + '\r\n';
  }
  if (vias === 0) return undefined;
  if (toLine) out += 'To: ' + toLine + (status > 100 && !/;[ \t]*tag[ \t]*=/i.test(toLine) ? ';tag=' + newTag() : '') + '\r\n';
  return out + 'Content-Length: 0\r\n\r\n';
}

const VIA_PROTOCOL: Record<Transport, string> = { udp: 'UDP', tcp: 'TCP', tls: 'TLS' };

/**
 * Our Via for a request we send (RFC 3261 §8.1.1.7, §16.6 step 8): sent-by is
 * the local listen address (IPv6 in brackets) and port, the transport in upper
 * case, `branch` fresh per request; `rport` (RFC 3581) asks for the response
 * at the source port.
 */
export function ownVia(transport: Transport, address: string, port: number, branch: string, rport = false): SipVia {
  return {
    version: '2.0',
    protocol: VIA_PROTOCOL[transport],
    host: hostForUri(address),
    port,
    params: rport ? { branch, rport: null } : { branch },
  };
}

export function branchOf(via: SipVia | undefined): string | undefined {
  const b = via?.params.branch;
  return typeof b === 'string' && b.length > 0 ? b : undefined;
}

export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length;
}

/** Max-Forwards as a number, or undefined when absent. Validated by the codec. */
export function maxForwards(msg: SipMessage): number | undefined {
  const v = msg.headers['max-forwards'];
  if (v === undefined) return undefined;
  return Number(String(v).trim());
}

export function toTag(msg: SipMessage): string | undefined {
  const t = msg.headers.to.params.tag;
  return typeof t === 'string' ? t : undefined;
}

export function fromTag(msg: SipMessage): string | undefined {
  const t = msg.headers.from.params.tag;
  return typeof t === 'string' ? t : undefined;
}

/** A shallow copy of a request that can be changed for forwarding without touching the original. */
export function copyForForward(req: SipRequest): SipRequest {
  const h = { ...req.headers };
  h.via = h.via.slice();
  if (h.route) h.route = h.route.slice();
  if (h['record-route']) h['record-route'] = h['record-route'].slice();
  return { kind: 'request', method: req.method, uri: req.uri, version: '2.0', headers: h, content: req.content };
}
