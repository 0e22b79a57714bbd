/**
 * test/support/v6-member: a minimal stand-in SIP Server on an IPv6 address
 * (UDP), reading and writing with srvproxy's own codec (which reads `[v6]`
 * in Via): OPTIONS 200, INVITE 100 + 200 (To tag, Contact on its address),
 * BYE 200, ACK absorbed, anything else 200. Responses go to the top Via's
 * received/rport, else its sent-by. Records every request it receives.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { decode, encode, type SipMessage, type SipRequest } from '../../src/sip/codec/codec.js';
import { makeResponse } from '../../src/sip/codec/messages.js';

export class V6Member {
  readonly requests: SipRequest[] = [];
  private sock: dgram.Socket | undefined;
  port = 0;

  /** `name`: the host in Contact (the user agent under test reads names, not [v6] references). */
  constructor(
    readonly address: string,
    readonly name: string,
  ) {}

  async start(port = 0): Promise<void> {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    s.on('error', () => undefined);
    s.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
    await new Promise<void>((resolve) => s.bind(port, this.address, () => resolve()));
    this.sock = s;
    this.port = s.address().port;
  }

  stop(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }

  private onMessage(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    const r = decode(buf);
    if (!r.ok || r.msg.kind !== 'request') return;
    const rq = r.msg;
    this.requests.push(rq);
    if (rq.method === 'ACK') return;
    const via = rq.headers.via[0];
    const host = via.host.replace(/^\[|\]$/g, '');
    const address = typeof via.params.received === 'string' ? via.params.received : host;
    const port = typeof via.params.rport === 'string' ? Number(via.params.rport) : via.port ?? 5060;
    const send = (m: SipMessage) => this.sock?.send(encode(m), port || rinfo.port, address || rinfo.address);
    if (rq.method === 'INVITE') {
      send(makeResponse(rq, 100, 'Trying'));
      const ok = makeResponse(rq, 200, 'OK');
      ok.headers.to = { ...rq.headers.to, params: { ...rq.headers.to.params, tag: randomBytes(4).toString('hex') } };
      ok.headers.contact = [{ uri: `sip:member@${this.name}:${this.port}`, params: {} }];
      if (rq.headers['record-route']) ok.headers['record-route'] = rq.headers['record-route'];
      send(ok);
      return;
    }
    send(makeResponse(rq, 200, 'OK'));
  }
}
