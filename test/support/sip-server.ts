/**
 * test/support/sip-server: a scripted stand-in for one SIP Server of an HA
 * pair: answers OPTIONS 200 when active and 503 when standby, INVITE with
 * 100/180/200 (or rings until CANCEL when `autoAnswer` is off), BYE and
 * other requests with 200, and mirrors Record-Route. `freeze()` stops it
 * answering anything (no ICMP either).
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

  private handle(r: Received): void {
    const m = r.msg;
    if (!m.method || m.method === 'ACK') return;
    if (m.method === 'OPTIONS') {
      this.peer.reply(r, response(m, this.mode === 'active' ? 200 : 503, this.mode === 'active' ? 'OK' : 'Service Unavailable'));
      return;
    }
    if (this.mode === 'standby') {
      this.peer.reply(r, response(m, 503, 'Service Unavailable'));
      return;
    }
    if (m.method === 'INVITE') {
      this.peer.reply(r, response(m, 100, 'Trying'));
      const to = { ...m.headers.to!, params: { ...m.headers.to!.params, tag: randomBytes(4).toString('hex') } };
      const rr = m.headers['record-route'] ? { 'record-route': m.headers['record-route'] } : {};
      this.peer.reply(r, { ...response(m, 180, 'Ringing', rr), headers: { ...response(m, 180, 'Ringing', rr).headers, to } });
      if (!this.autoAnswer) {
        this.ringing.set(m.headers['call-id']!, r);
        return;
      }
      const ok: SipMessage = response(m, 200, 'OK', { ...rr, contact: [{ uri: `sip:srv@${this.address}:${this.port}`, params: {} }], 'content-type': 'application/sdp' }, 'v=0\r\n');
      ok.headers.to = to;
      this.peer.reply(r, ok);
      return;
    }
    if (m.method === 'CANCEL') {
      this.peer.reply(r, response(m, 200, 'OK'));
      const inv = this.ringing.get(m.headers['call-id']!);
      if (inv) {
        this.ringing.delete(m.headers['call-id']!);
        const t = response(inv.msg, 487, 'Request Terminated');
        t.headers.to = { ...inv.msg.headers.to!, params: { ...inv.msg.headers.to!.params, tag: 'x487' } };
        this.peer.reply(inv, t);
      }
      return;
    }
    this.peer.reply(r, response(m, 200, 'OK'));
  }
}
