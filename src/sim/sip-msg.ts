/**
 * sim/sip-msg: the few SIP message helpers the simulated SIP Server and the
 * test user agent share: decoding with package `sip`, building responses,
 * random tags and branches, and where a UDP response goes (RFC 3261 §18.2.2
 * with RFC 3581 rport). The sim tools are stand-ins for real peers and are
 * kept apart from the product's SIP plane on purpose: they never import
 * src/sip, so a bug there cannot hide behind a shared helper.
 * May import: package sip, node.
 */
import { randomBytes } from 'node:crypto';
import sip, { type SipAor, type SipMessage } from 'sip';

export type { SipMessage } from 'sip';

/** Parse one message; undefined when it is not SIP or lacks what a transaction needs. */
export function decodeMessage(buf: Buffer): SipMessage | undefined {
  if (buf.length > 65535) return undefined;
  let m: SipMessage | undefined;
  try {
    m = sip.parse(buf.toString('latin1'));
  } catch {
    return undefined;
  }
  if (!m || !m.headers) return undefined;
  const h = m.headers;
  if (!Array.isArray(h.via) || h.via.length === 0 || !h.via[0]?.host) return undefined;
  if (typeof h['call-id'] !== 'string' || !h.cseq || !Number.isFinite(h.cseq.seq) || !h.from || !h.to) return undefined;
  if (m.method === undefined && !(typeof m.status === 'number' && m.status >= 100 && m.status <= 699)) return undefined;
  return m;
}

export function encodeMessage(m: SipMessage): Buffer {
  return Buffer.from(sip.stringify(m), 'latin1');
}

/** A response to `rq` with the headers RFC 3261 §8.2.6.2 copies; `toTag` is added to To when given. */
export function makeResponse(rq: SipMessage, status: number, reason: string, toTag?: string, extra: Record<string, unknown> = {}): SipMessage {
  const to = rq.headers.to as SipAor;
  const toOut: SipAor = toTag && !to.params?.tag ? { ...to, params: { ...to.params, tag: toTag } } : to;
  return {
    status,
    reason,
    version: '2.0',
    headers: {
      via: rq.headers.via,
      to: toOut,
      from: rq.headers.from,
      'call-id': rq.headers['call-id'],
      cseq: rq.headers.cseq,
      ...extra,
    },
  };
}

export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

/** An RFC 3261 branch: the magic cookie and a random part. */
export function newBranch(): string {
  return 'z9hG4bK' + randomBytes(10).toString('hex');
}

export function tagOf(aor: unknown): string | undefined {
  const p = (aor as SipAor | undefined)?.params;
  const t = p?.tag;
  return typeof t === 'string' && t.length > 0 ? t : undefined;
}

/**
 * Where a response to a request received over UDP from src goes: the source
 * address (received) and, when the top Via asks with rport, the source port;
 * else the Via port (5060 by default). Records received/rport in the Via.
 */
export function responseDestination(rq: SipMessage, srcAddress: string, srcPort: number): { address: string; port: number } {
  const via = rq.headers.via![0]!;
  via.params = via.params ?? {};
  if (via.host !== srcAddress) via.params.received = srcAddress;
  if ('rport' in via.params) {
    via.params.rport = String(srcPort);
    return { address: srcAddress, port: srcPort };
  }
  return { address: srcAddress, port: via.port && Number.isFinite(via.port) ? via.port : 5060 };
}

export const T1 = 500;
export const T2 = 4000;
