/**
 * The test user agent's RFC 3261 behaviour, checked on the wire through a
 * small Record-Routing relay between it and a simulated SIP Server: the route
 * set from the 2xx's Record-Route is followed by ACK and BYE, a lost INVITE is
 * retransmitted at T1; and the simulated server's CANCEL handling.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { startSimPair, type SimPair } from '../../../src/sim/ha-pair.js';
import { freePort } from '../../support/ports.js';
import { decodeMessage, encodeMessage, type SipMessage } from '../../../src/sim/sip-msg.js';
import { UserAgent } from '../../../src/sim/ua.js';

const PRIMARY = '127.0.0.21';
const BACKUP = '127.0.0.22';
const RELAY = '127.0.0.31';

/** A stateless Record-Routing relay: UA → relay → server, responses back by Via. */
class Relay {
  readonly seen: SipMessage[] = [];
  dropInvites = 0;
  routeHost: string = RELAY;
  private sock = dgram.createSocket('udp4');
  port = 0;
  constructor(private readonly server: { address: string; port: number }) {}

  async start(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, RELAY, () => r()));
    this.port = this.sock.address().port;
    this.sock.on('message', (buf, rinfo) => this.onMessage(buf, rinfo.address, rinfo.port));
  }

  close(): void {
    this.sock.close();
  }

  private onMessage(buf: Buffer, address: string, port: number): void {
    const m = decodeMessage(buf);
    if (!m) return;
    const vias = m.headers.via!;
    if (m.status !== undefined) {
      vias.shift();
      const v = vias[0]!;
      const host = String(v.params.received ?? v.host);
      const p = v.params.rport ? Number(v.params.rport) : (v.port ?? 5060);
      this.sock.send(encodeMessage(m), p, host);
      return;
    }
    this.seen.push(decodeMessage(buf)!);
    if (m.method === 'INVITE' && this.dropInvites > 0) {
      this.dropInvites--;
      return;
    }
    vias[0]!.params.received = address;
    if ('rport' in vias[0]!.params) vias[0]!.params.rport = String(port);
    vias.unshift({ version: '2.0', protocol: 'UDP', host: RELAY, port: this.port, params: { branch: 'z9hG4bKrelay' + Math.random().toString(36).slice(2) } });
    let dest = this.server;
    const route = m.headers.route;
    if (Array.isArray(route) && route.length > 0) {
      while (route.length > 0 && route[0]!.uri?.host === this.routeHost) route.shift(); // our own Routes
      if (route.length === 0) delete m.headers.route;
      const u = /^sips?:(?:[^@]*@)?([^:;>]+)(?::(\d+))?/.exec(String(m.uri));
      dest = { address: u![1]!, port: Number(u![2] ?? 5060) };
    } else if (m.method === 'INVITE') {
      // As if two proxies had Record-Routed: p1 (nearest the UA) first, then p2 on top.
      const rr = (n: string) => ({ uri: { schema: 'sip', host: this.routeHost, port: this.port, params: { lr: null, n }, headers: {} }, params: {} });
      m.headers['record-route'] = [rr('p2'), rr('p1'), ...(Array.isArray(m.headers['record-route']) ? m.headers['record-route'] : [])];
    }
    this.sock.send(encodeMessage(m), dest.port, dest.address);
  }
}

describe('e2e: simulated user agent and server on the wire', function () {
  this.timeout(20000);
  let pair: SimPair | undefined;
  let relay: Relay | undefined;
  let ua: UserAgent | undefined;
  let port = 0;

  afterEach(async () => {
    ua?.close();
    relay?.close();
    await pair?.stop();
    ua = undefined;
    relay = undefined;
    pair = undefined;
  });

  async function setup(ringMs = 0, resolveNames = false): Promise<void> {
    port = await freePort(PRIMARY);
    pair = await startSimPair({ primary: { address: PRIMARY, port }, backup: { address: BACKUP, port }, ringMs });
    relay = new Relay({ address: PRIMARY, port });
    await relay.start();
    if (resolveNames) relay.routeHost = 'relay.example.com';
    const relayPort = relay.port;
    ua = await UserAgent.open({
      proxy: { address: RELAY, port: relayPort },
      transactionTimeoutMs: 4000,
      resolve: resolveNames
        ? async (host) => {
            if (host !== 'relay.example.com') throw new Error(`unexpected name ${host}`);
            return { address: RELAY, port: relayPort };
          }
        : undefined,
    });
  }

  it('ACK and BYE follow the route set (Record-Route reversed), with the remote target as Request-URI', async () => {
    await setup();
    const r = await ua!.call({ to: 'sip:x@tserver.example.com' });
    expect(r).to.include({ ok: true, status: 200, byeStatus: 200, answeredBy: `${PRIMARY}:${port}` });
    const methods = relay!.seen.map((m) => m.method);
    expect(methods).to.deep.equal(['INVITE', 'ACK', 'BYE']);
    const [, ack, bye] = relay!.seen;
    for (const m of [ack!, bye!]) {
      expect(m.uri).to.equal(`sip:sim@${PRIMARY}:${port}`);
      const route = m.headers.route!;
      // The 2xx carried Record-Route p2, p1: the route set is its reverse.
      expect(route.map((r) => r.uri!.params.n)).to.deep.equal(['p1', 'p2']);
      expect(route[0]!.uri!.host).to.equal(RELAY);
      expect(route[0]!.uri!.params).to.have.property('lr');
      expect(m.headers.to!.params.tag).to.be.a('string');
    }
    expect(ack!.headers.cseq).to.deep.equal({ seq: 1, method: 'ACK' });
    expect(bye!.headers.cseq).to.deep.equal({ seq: 2, method: 'BYE' });
    expect(ack!.headers.via![0]!.params.branch).to.not.equal(relay!.seen[0]!.headers.via![0]!.params.branch);
  });

  it('a route naming a host is resolved with the resolve option', async () => {
    await setup(0, true);
    const r = await ua!.call({ to: 'sip:x@tserver.example.com' });
    expect(r).to.include({ ok: true, byeStatus: 200 });
    expect(relay!.seen.map((m) => m.method)).to.deep.equal(['INVITE', 'ACK', 'BYE']);
    expect(relay!.seen[2]!.headers.route![0]!.uri!.host).to.equal('relay.example.com');
  });

  it('a lost INVITE is retransmitted T1 (500 ms) later, with the same branch', async () => {
    await setup();
    relay!.dropInvites = 1;
    const r = await ua!.call({ to: 'sip:x@tserver.example.com' });
    expect(r.ok).to.equal(true);
    expect(r.inviteRetransmits).to.equal(1);
    expect(r.setupMs).to.be.within(480, 900);
    const invites = relay!.seen.filter((m) => m.method === 'INVITE');
    expect(invites).to.have.length(2);
    expect(invites[0]!.headers.via![0]!.params.branch).to.equal(invites[1]!.headers.via![0]!.params.branch);
  });

  it('a server that does not answer makes the call fail with status null after the transaction timeout', async () => {
    await setup();
    relay!.dropInvites = 100;
    const t0 = performance.now();
    const r = await ua!.call({ to: 'sip:x@tserver.example.com' });
    expect(r.ok).to.equal(false);
    expect(r.status).to.equal(null);
    expect(performance.now() - t0).to.be.within(3900, 5000);
    // Timer A doubles: retransmissions at 0.5, 1.5, 3.5 s within 4 s.
    expect(r.inviteRetransmits).to.equal(3);
  });

  it('the server answers CANCEL of a ringing INVITE with 200, and the INVITE with 487', async () => {
    await setup(3000);
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    try {
      const lp = s.address().port;
      const got: string[] = [];
      s.on('message', (b) => got.push(b.toString('latin1').split('\r\n')[0]! + ' / ' + /CSeq: (.*)/.exec(b.toString('latin1'))![1]));
      const head = (method: string) =>
        `${method} sip:x@${PRIMARY}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bKcancel1;rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:ua@example.com>;tag=c1\r\nTo: <sip:x@tserver.example.com>\r\nCall-ID: cancel-test@127.0.0.1\r\n` +
        `CSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
      s.send(head('INVITE'), port, PRIMARY);
      await waitUntil(() => got.some((g) => g.startsWith('SIP/2.0 180')));
      s.send(head('CANCEL'), port, PRIMARY);
      await waitUntil(() => got.some((g) => g.startsWith('SIP/2.0 487')));
      expect(got).to.include('SIP/2.0 200 OK / 1 CANCEL');
      expect(got).to.include('SIP/2.0 487 Request Terminated / 1 INVITE');
      expect(got.some((g) => g.startsWith('SIP/2.0 200') && g.endsWith('INVITE'))).to.equal(false);
    } finally {
      s.close();
    }
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
