/**
 * test/support/sip-ua: builds the requests of a scripted user agent: an
 * initial INVITE, and in-dialog requests (ACK, BYE) that follow the route
 * set learned from a 2xx's Record-Route (RFC 3261 §12.1.2, loose routing).
 */
import { randomBytes } from 'node:crypto';
import type { SipMessage, SipRouteEntry } from 'sip';
import type { SipPeer } from './sip-peer.js';

const rnd = () => randomBytes(6).toString('hex');

function newBranch(): string {
  return 'z9hG4bK' + rnd();
}

export interface RequestSpec {
  ruri: string;
  callId?: string;
  fromTag?: string;
  to?: string;
  toTag?: string;
  cseq?: number;
  maxForwards?: number;
  route?: SipRouteEntry[];
  protocol?: 'UDP' | 'TCP';
  branch?: string;
  extra?: Record<string, unknown>;
}

export function request(ua: SipPeer, method: string, spec: RequestSpec): SipMessage {
  const headers: SipMessage['headers'] = {
    via: [{ version: '2.0', protocol: spec.protocol ?? 'UDP', host: ua.address, port: ua.port, params: { branch: spec.branch ?? newBranch(), rport: null } }],
    'max-forwards': String(spec.maxForwards ?? 70),
    from: { uri: `sip:alice@${ua.address}`, params: { tag: spec.fromTag ?? rnd() } },
    to: { uri: spec.to ?? spec.ruri, params: spec.toTag ? { tag: spec.toTag } : {} },
    'call-id': spec.callId ?? rnd(),
    cseq: { seq: spec.cseq ?? 1, method },
    contact: [{ uri: `sip:alice@${ua.address}:${ua.port}`, params: {} }],
    ...spec.extra,
  };
  if (spec.route) headers.route = spec.route;
  return { method, uri: spec.ruri, version: '2.0', headers, content: method === 'INVITE' ? 'v=0\r\n' : undefined };
}

/** An in-dialog request built from the INVITE and its 2xx (route set = Record-Route, remote target = Contact). */
export function inDialog(ua: SipPeer, method: string, invite: SipMessage, ok: SipMessage, cseq: number): SipMessage {
  const contact = ok.headers.contact as { uri: string }[];
  const route = (ok.headers['record-route'] ?? []).slice();
  return request(ua, method, {
    ruri: contact[0].uri,
    callId: invite.headers['call-id'],
    fromTag: invite.headers.from!.params.tag!,
    to: ok.headers.to!.uri,
    toTag: ok.headers.to!.params.tag!,
    cseq: method === 'ACK' ? invite.headers.cseq!.seq : cseq,
    route: route.length ? route : undefined,
  });
}
