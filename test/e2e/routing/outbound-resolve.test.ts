/**
 * Outbound RFC 3263 resolution end to end on loopback: a real SipService
 * (127.0.0.11) whose resolver asks (through the DNS plane's stub resolver) a real DnsServer (127.0.0.1, port 0)
 * serving carrier.test (NAPTR → SRV → A, pointing at a scripted gateway on
 * 127.0.0.61). A pair member (127.0.0.22) sends to sip:+1555@carrier.test:
 * the gateway gets it; the second request is answered from the cache; an
 * NXDOMAIN name gets 404; a user agent's request for the same URI is not
 * resolved (no open relay).
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import { StubResolver } from '../../../src/dns/client/stub.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { SipResolver } from '../../../src/sip/proxy/resolver.js';
import { SipService } from '../../../src/sip/service.js';
import { zonesFromText } from '../../support/dns-zone.js';
import { PairStand } from '../../support/pair-stand.js';
import { SipPeer, response, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { request } from '../../support/sip-ua.js';

const PROXY = '127.0.0.11';

function carrierZone(gwPort: number): string {
  return [
    '$TTL 300',
    '@ IN SOA ns.carrier.test. hostmaster.carrier.test. 1 3600 600 86400 60',
    '@ IN NS ns.carrier.test.',
    'ns IN A 127.0.0.1',
    '@ IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.carrier.test.',
    `_sip._udp IN SRV 10 50 ${gwPort} gw.carrier.test.`,
    'gw IN A 127.0.0.61',
    '',
  ].join('\n');
}

describe('e2e: outbound RFC 3263 resolution (NAPTR/SRV/A through a real DNS server)', function () {
  this.timeout(10_000);
  let ua: SipPeer;
  let gw: SipPeer;
  let dnsServer: DnsServer;
  let stand: PairStand;
  let a: ScriptedSipServer;
  let b: ScriptedSipServer;
  let svc: SipService;
  let port: number;

  beforeEach(async () => {
    ua = new SipPeer('127.0.0.50');
    gw = new SipPeer('127.0.0.61');
    await Promise.all([ua.start(), gw.start()]);
    const zones = zonesFromText({ 'carrier.test.zone': carrierZone(gw.port) });
    dnsServer = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: buildAnswerTable(zones).table });
    await dnsServer.listen();
    stand = await PairStand.start({
      proxy: PROXY,
      service: {
        hopTimeoutMs: 300,
        resolver: { client: new StubResolver({ servers: [{ address: '127.0.0.1', port: dnsServer.port }], timeoutMs: 1000 }), timeoutMs: 1000 },
      },
    });
    ({ a, b, svc, port } = stand);
  });

  afterEach(async () => {
    await stand.stop();
    await dnsServer.close();
    await Promise.all([ua.stop(), gw.stop()]);
  });

  const isResp = (status: number, callId: string, method = 'INVITE') => (r: Received) =>
    r.msg.status === status && r.msg.headers['call-id'] === callId && r.msg.headers.cseq?.method === method;
  const isReq = (method: string, callId: string) => (r: Received) => r.msg.method === method && r.msg.headers['call-id'] === callId;

  it('a pair member reaches sip:+1555@carrier.test through NAPTR → SRV → A; the second request comes from the cache', async () => {
    const inv = request(b.peer, 'INVITE', { ruri: 'sip:+1555@carrier.test' });
    const cid = inv.headers['call-id']!;
    b.peer.sendUdp(inv, PROXY, port);
    const got = await gw.waitFor(isReq('INVITE', cid), 3000, 'INVITE at the SRV target');
    expect(got.msg.uri).to.equal('sip:+1555@carrier.test');
    expect(got.msg.headers.via![0].host).to.equal(PROXY);
    expect(got.msg.headers['record-route']![0].uri!.host).to.equal('sipproxy.example.com');
    gw.reply(got, response(got.msg, 486, 'Busy Here'));
    await b.peer.waitFor(isResp(486, cid), 2000, '486 back at the member');
    const q = dnsServer.counters.queries;
    expect([q.NAPTR, q.SRV, q.A]).to.deep.equal([1, 1, 1]);

    const msg = request(b.peer, 'MESSAGE', { ruri: 'sip:+1555@carrier.test' });
    b.peer.sendUdp(msg, PROXY, port);
    const got2 = await gw.waitFor(isReq('MESSAGE', msg.headers['call-id']!), 2000, 'MESSAGE at the SRV target');
    gw.reply(got2, response(got2.msg, 200, 'OK'));
    await b.peer.waitFor(isResp(200, msg.headers['call-id']!, 'MESSAGE'), 2000, '200 back at the member');
    expect([q.NAPTR, q.SRV, q.A, q.AAAA]).to.deep.equal([1, 1, 1, 0]);
    expect(svc.resolver!.counters.hits).to.equal(1);
  });

  it('a port in the URI means A only (RFC 3263 §4.2)', async () => {
    const m = request(b.peer, 'MESSAGE', { ruri: `sip:+1555@gw.carrier.test:${gw.port}` });
    b.peer.sendUdp(m, PROXY, port);
    const got = await gw.waitFor(isReq('MESSAGE', m.headers['call-id']!), 3000, 'MESSAGE at gw');
    gw.reply(got, response(got.msg, 200, 'OK'));
    await b.peer.waitFor(isResp(200, m.headers['call-id']!, 'MESSAGE'), 2000, '200');
    const q = dnsServer.counters.queries;
    expect([q.NAPTR, q.SRV, q.A]).to.deep.equal([0, 0, 1]);
  });

  it('NXDOMAIN gets 404', async () => {
    const inv = request(b.peer, 'INVITE', { ruri: 'sip:+1555@nowhere.carrier.test' });
    b.peer.sendUdp(inv, PROXY, port);
    await b.peer.waitFor(isResp(404, inv.headers['call-id']!), 3000, '404');
    expect(dnsServer.counters.responses.NXDOMAIN).to.be.greaterThan(0);
    expect(gw.received).to.have.length(0);
  });

  it('a user agent sending the same request is not resolved or relayed (it goes to the serving pair)', async () => {
    const inv = request(ua, 'INVITE', { ruri: 'sip:+1555@carrier.test' });
    const cid = inv.headers['call-id']!;
    ua.sendUdp(inv, PROXY, port);
    await a.peer.waitFor(isReq('INVITE', cid), 2000, 'INVITE at the serving pair');
    await ua.waitFor(isResp(200, cid), 2000, '200');
    // a Route to the carrier is refused
    const routed = request(ua, 'MESSAGE', {
      ruri: 'sip:+1555@carrier.test',
      route: [{ uri: { schema: 'sip', host: 'carrier.test', params: { lr: null }, headers: {} }, params: {} }],
    });
    ua.sendUdp(routed, PROXY, port);
    await ua.waitFor(isResp(403, routed.headers['call-id']!, 'MESSAGE'), 2000, '403');
    await new Promise((r) => setTimeout(r, 100));
    expect(gw.received).to.have.length(0);
    const q = dnsServer.counters.queries;
    expect(q.NAPTR + q.SRV + q.A + q.AAAA).to.equal(0);
  });
});

describe('e2e: SipResolver against a DNS server that never answers', function () {
  this.timeout(5000);
  it('answers 503 within its bound, coalesces concurrent lookups, and keeps the failure briefly', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    let received = 0;
    silent.on('message', () => received++);
    const r = new SipResolver({ client: new StubResolver({ servers: [{ address: '127.0.0.1', port: silent.address().port }], timeoutMs: 200 }), timeoutMs: 300 });
    try {
      const t0 = Date.now();
      const q = { host: 'carrier.test', secure: false };
      const [o1, o2] = await Promise.all([r.resolve(q), r.resolve(q)]);
      expect(Date.now() - t0).to.be.lessThan(1500);
      expect(o1).to.deep.equal({ ok: false, status: 503, reason: 'Service Unavailable (DNS)' });
      expect(o2).to.equal(o1);
      expect(r.counters.misses).to.equal(1);
      expect(r.cached(q)).to.deep.equal(o1);
      expect(received).to.be.greaterThan(0);
    } finally {
      r.close();
      silent.close();
    }
  });
});
