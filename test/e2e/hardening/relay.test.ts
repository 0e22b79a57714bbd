/**
 * No open relay, proven on the wire: requests from a user agent (not a pair
 * member) whose Request-URI or Route points elsewhere go only to the pair's
 * active member or are rejected. An 'outside' host on 127.0.0.99 (UDP and
 * TCP) and a stray port on the primary's own address must receive nothing.
 * One case per trick. A real SipService on 127.0.0.33; scripted pair members.
 */
import { expect } from 'chai';
import type { SipMessage, SipRouteEntry } from 'sip';
import { SipService } from '../../../src/sip/service.js';
import { PairStand } from '../../support/pair-stand.js';
import { sleep } from '../../support/processes.js';
import { SipPeer, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { request } from '../../support/sip-ua.js';

const PROXY = '127.0.0.33';
const OUTSIDE = '127.0.0.99';

describe('e2e: no open relay', function () {
  this.timeout(10_000);
  let ua: SipPeer;
  let outside: SipPeer;
  let stray: SipPeer;
  let stand: PairStand;
  let a: ScriptedSipServer;
  let b: ScriptedSipServer;
  let svc: SipService;
  let port: number;

  before(async () => {
    ua = new SipPeer('127.0.0.50');
    outside = new SipPeer(OUTSIDE);
    // a listener on the primary's address but another port: a Request-URI naming it must not reach it
    stray = new SipPeer('127.0.0.21');
    stand = await PairStand.start({ proxy: PROXY, peers: [ua, outside, stray], service: { hopTimeoutMs: 300 } });
    ({ a, b, svc, port } = stand);
  });

  after(() => stand.stop());

  const route = (uri: string): SipRouteEntry => {
    const m = /^<(.*)>$/.exec(uri)!;
    return { uri: m[1]! as unknown as SipRouteEntry['uri'], params: {} };
  };

  interface Trick {
    name: string;
    ruri: () => string;
    route?: () => string[];
    method?: string;
    protocol?: 'UDP' | 'TCP';
  }
  const o = () => `${OUTSIDE}:${outside.port}`;
  const tricks: Trick[] = [
    { name: 'Request-URI an outside IP literal', ruri: () => `sip:victim@${o()}` },
    { name: 'Request-URI an outside IP literal with transport=tcp', ruri: () => `sip:victim@${o()};transport=tcp`, protocol: 'TCP' },
    { name: 'Request-URI an outside FQDN', ruri: () => 'sip:+15551234@pbx.elsewhere.test' },
    { name: 'Request-URI with maddr to outside', ruri: () => `sip:bob@tserver.example.com;maddr=${OUTSIDE}` },
    { name: 'Request-URI with an outside IP and maddr to outside', ruri: () => `sip:victim@${o()};maddr=${OUTSIDE}` },
    { name: 'Route set to an outside host (loose, lr)', ruri: () => 'sip:bob@tserver.example.com', route: () => [`<sip:${o()};lr>`] },
    { name: 'strict Route (no lr) to an outside host', ruri: () => 'sip:bob@tserver.example.com', route: () => [`<sip:${o()}>`] },
    { name: 'our own Route first, then an outside host', ruri: () => 'sip:bob@tserver.example.com', route: () => ['<sip:sipproxy.example.com;lr;pair=tserver.example.com>', `<sip:${o()};lr>`] },
    { name: 'an outside Route carrying our pair parameter', ruri: () => `sip:victim@${o()}`, route: () => [`<sip:${o()};lr;pair=tserver.example.com>`] },
    { name: 'strict-router rewrite: Request-URI with our pair parameter, outside host last in Route', ruri: () => 'sip:sipproxy.example.com;pair=tserver.example.com', route: () => [`<sip:victim@${o()}>`] },
    { name: 'Request-URI naming the proxy itself with maddr to outside', ruri: () => `sip:proxy1.example.com:${port};maddr=${OUTSIDE}` },
    { name: 'Route naming the proxy itself with maddr to outside', ruri: () => `sip:victim@${o()}`, route: () => [`<sip:${PROXY}:${port};lr;maddr=${OUTSIDE}>`] },
    { name: "Request-URI naming a pair member's address with another port", ruri: () => `sip:bob@127.0.0.21:${stray.port}` },
    { name: "Route naming a pair member's address with another port", ruri: () => 'sip:bob@tserver.example.com', route: () => [`<sip:127.0.0.21:${stray.port};lr>`] },
    { name: 'REGISTER with an outside registrar URI', ruri: () => `sip:${o()}`, method: 'REGISTER' },
    { name: 'OPTIONS to an outside host', ruri: () => `sip:${o()}`, method: 'OPTIONS' },
  ];

  const final = (cid: string) => (r: Received) => r.msg.status !== undefined && r.msg.status >= 200 && r.msg.headers['call-id'] === cid;

  for (const t of tricks) {
    it(`${t.name}: to the pair or rejected, never outside`, async () => {
      const method = t.method ?? 'INVITE';
      const spec = { ruri: t.ruri(), protocol: t.protocol };
      const req: SipMessage = request(ua, method, spec);
      const cid = req.headers['call-id']!;
      if (t.route) req.headers.route = t.route().map(route);
      const before = { a: a.peer.received.length, b: b.peer.received.length };
      if (t.protocol === 'TCP') {
        const s = await ua.connectTcp(PROXY, port);
        ua.sendTcp(s, req);
      } else ua.sendUdp(req, PROXY, port);
      const res = await ua.waitFor(final(cid), 3000, `final response to ${method}`);
      await sleep(200);
      expect(outside.received, 'messages at the outside host').to.have.length(0);
      expect(stray.received, "messages at the member's other port").to.have.length(0);
      const atMember = [...a.peer.received.slice(before.a), ...b.peer.received.slice(before.b)].filter((r) => r.msg.headers['call-id'] === cid);
      if (res.msg.status! < 300 || atMember.length > 0) {
        // went to the pair: the active member (the primary) got it, on its own port
        expect(atMember.length, 'request at the pair').to.be.greaterThan(0);
        expect(atMember.every((r) => r.address === PROXY)).to.equal(true);
        expect(a.peer.received.slice(before.a).some((r) => r.msg.headers['call-id'] === cid)).to.equal(true);
      } else {
        expect(res.msg.status, 'rejected').to.be.within(400, 699);
      }
    });
  }

  it('a response that matches no transaction is dropped, not bounced to its second Via (no reflection)', async () => {
    const forged = [
      'SIP/2.0 200 OK',
      `Via: SIP/2.0/UDP ${PROXY}:${port};branch=z9hG4bKforged1`,
      `Via: SIP/2.0/UDP ${OUTSIDE}:${outside.port};branch=z9hG4bKvictim`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      'Call-ID: reflect-1',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const dropped = svc.proxy.counters.strayDropped;
    ua.sendUdp(forged, PROXY, port);
    await sleep(300);
    expect(outside.received, 'messages at the outside host').to.have.length(0);
    expect(svc.proxy.counters.strayDropped).to.equal(dropped + 1);
  });
});
