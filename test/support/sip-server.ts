/**
 * test/support/sip-server: a scripted stand-in for one SIP Server of an HA
 * pair: answers OPTIONS 200 when active and 503 when standby, INVITE with
 * 100/180/200 (or rings until CANCEL when `autoAnswer` is off), BYE and
 * other requests with 200, and mirrors Record-Route. `freeze()` stops it
 * answering anything (no ICMP either). `fast()` switches it to a raw path for
 * suites that send 100k requests: every non-INVITE request is answered 200
 * straight from its bytes (no parsing by package sip) and its Call-ID counted.
 * `viaReport` adds parameters to the top Via of its responses (RFC 7339 `oc`).
 */
import { randomBytes } from 'node:crypto';
import type { SipMessage } from 'sip';
import { SipPeer, response, type Received } from './sip-peer.js';

export type ServerMode = 'active' | 'standby';

export class ScriptedSipServer {
  readonly peer: SipPeer;
  mode: ServerMode = 'active';
  autoAnswer = true;
  /** Pending unanswered INVITEs by Call-ID (for CANCEL → 487). */
  private readonly ringing = new Map<string, Received>();

  constructor(
    address: string,
    /** FQDN of this member, for Contact. */
    readonly name: string,
  ) {
    this.peer = new SipPeer(address);
    this.peer.onMessage = (r) => this.handle(r);
  }

  get address(): string {
    return this.peer.address;
  }
  get port(): number {
    return this.peer.port;
  }

  /** Distinct Call-IDs of the requests seen on the fast path. */
  readonly fastCallIds = new Set<string>();
  /** Requests seen on the fast path (retransmissions included). */
  fastRequests = 0;

  /** Raw fast path (see the header): nothing is parsed by package sip or recorded in `received` any more. */
  fast(): void {
    this.peer.keepRaw = false;
    this.peer.onRaw = (data, from) => {
      const head = rawHead(data);
      if (!head || head.startLine.startsWith('SIP/2.0 ')) return true;
      this.fastRequests++;
      const cid = head.get('call-id')[0];
      if (cid !== undefined) this.fastCallIds.add(cid.trim());
      if (head.startLine.startsWith('ACK ')) return true;
      const keep = head.lines.filter((l) => ['via', 'from', 'to', 'call-id', 'cseq'].includes(l.name));
      const out = ['SIP/2.0 200 OK', ...keep.map((l) => (l.name === 'to' && !/;\s*tag\s*=/i.test(l.value) ? `${l.raw};tag=m1` : l.raw)), 'Content-Length: 0', '', ''].join('\r\n');
      if (from.protocol === 'tcp' && from.socket) this.peer.sendTcp(from.socket, out);
      else this.peer.sendUdp(out, from.address, from.port);
      return true;
    };
  }

  start(port = 0): Promise<void> {
    return this.peer.start(port);
  }
  stop(): Promise<void> {
    return this.peer.stop();
  }
  freeze(): void {
    this.peer.freeze();
  }

  requests(method: string): Received[] {
    return this.peer.received.filter((r) => r.msg.method === method);
  }

  /**
   * When set, called for every response this server sends: the parameters it returns are added to
   * the response's top Via (the proxy's), as an overloaded SIP Server reports RFC 7339 overload control.
   */
  viaReport: (() => Record<string, string>) | undefined;

  private reply(r: Received, res: SipMessage): void {
    const report = this.viaReport?.();
    if (report && res.headers.via?.length) {
      const [top, ...rest] = res.headers.via;
      res = { ...res, headers: { ...res.headers, via: [{ ...top!, params: { ...top!.params, ...report } }, ...rest] } };
    }
    this.peer.reply(r, res);
  }

  private handle(r: Received): void {
    const m = r.msg;
    if (!m.method || m.method === 'ACK') return;
    if (m.method === 'OPTIONS') {
      this.reply(r, response(m, this.mode === 'active' ? 200 : 503, this.mode === 'active' ? 'OK' : 'Service Unavailable'));
      return;
    }
    if (this.mode === 'standby') {
      this.reply(r, response(m, 503, 'Service Unavailable'));
      return;
    }
    if (m.method === 'INVITE') {
      this.reply(r, response(m, 100, 'Trying'));
      const to = { ...m.headers.to!, params: { ...m.headers.to!.params, tag: randomBytes(4).toString('hex') } };
      const rr = m.headers['record-route'] ? { 'record-route': m.headers['record-route'] } : {};
      this.reply(r, { ...response(m, 180, 'Ringing', rr), headers: { ...response(m, 180, 'Ringing', rr).headers, to } });
      if (!this.autoAnswer) {
        this.ringing.set(m.headers['call-id']!, r);
        return;
      }
      const ok: SipMessage = response(m, 200, 'OK', { ...rr, contact: [{ uri: `sip:srv@${this.address}:${this.port}`, params: {} }], 'content-type': 'application/sdp' }, 'v=0\r\n');
      ok.headers.to = to;
      this.reply(r, ok);
      return;
    }
    if (m.method === 'CANCEL') {
      this.reply(r, response(m, 200, 'OK'));
      const inv = this.ringing.get(m.headers['call-id']!);
      if (inv) {
        this.ringing.delete(m.headers['call-id']!);
        const t = response(inv.msg, 487, 'Request Terminated');
        t.headers.to = { ...inv.msg.headers.to!, params: { ...inv.msg.headers.to!.params, tag: 'x487' } };
        this.reply(inv, t);
      }
      return;
    }
    this.reply(r, response(m, 200, 'OK'));
  }
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', e: 'content-encoding', s: 'subject', k: 'supported', o: 'event', r: 'refer-to', u: 'allow-events' };

export interface RawLine {
  /** Header name, lower case, compact forms expanded. */
  name: string;
  /** The value with folding undone (not trimmed of inner LWS). */
  value: string;
  /** The header line as received, folding undone. */
  raw: string;
}

/** The start line and unfolded header lines of a raw SIP message (latin1), or undefined without a blank line. */
export function rawHead(data: Buffer | string): { startLine: string; lines: RawLine[]; get(name: string): string[]; body: string } | undefined {
  const s = typeof data === 'string' ? data : data.toString('latin1');
  const end = s.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const unfolded = s.slice(0, end).replace(/\r\n[ \t]+/g, ' ');
  const [startLine, ...rest] = unfolded.split('\r\n');
  const lines: RawLine[] = [];
  for (const raw of rest) {
    const c = raw.indexOf(':');
    if (c <= 0) continue;
    const n = raw.slice(0, c).trim().toLowerCase();
    lines.push({ name: COMPACT[n] ?? n, value: raw.slice(c + 1).trim(), raw });
  }
  return { startLine: startLine ?? '', lines, get: (name) => lines.filter((l) => l.name === name).map((l) => l.value), body: s.slice(end + 4) };
}
