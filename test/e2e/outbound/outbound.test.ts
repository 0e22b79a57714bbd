/**
 * The outbound half end to end on loopback: a real SipService (127.0.0.11)
 * with the site's wiring for outbound names (zone/names for the served zone
 * example.com, dns/client's stub resolver against a DNS stand-in on
 * 127.0.0.1 serving carrier.test, as the system resolver would). A pair
 * member (127.0.0.22) sends to: a gateway named by an A record in the zone
 * (and by a CNAME to it);
 * a gateway pool named by SRV whose first target is silent (the second
 * answers within the per-hop timeout); a NAPTR/SRV choice of TCP; a TCP
 * target that refuses the connection (the next one at once); a name
 * outside the zones with two SRV targets, the first answering 503; an IP
 * target with transport=tls (TLS only: a UDP socket on the same port counts
 * no datagram). No query reaches the stand-in for a name in the zone. The
 * TTL test: an outside SRV record with TTL 2 s is asked again after 2 s, not
 * before.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { StubResolver } from '../../../src/dns/client/stub.js';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { SipService } from '../../../src/sip/service.js';
import { ZoneNames } from '../../../src/zone/names.js';
import { zonesFromText } from '../../support/dns-zone.js';
import { PairStand } from '../../support/pair-stand.js';
import { SipPeer, response, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { request } from '../../support/sip-ua.js';
import { testCerts } from '../../support/tls-certs.js';
import { TlsMember } from '../../support/tls-member.js';

const PROXY = '127.0.0.11';
const HOP_MS = 300;

/** A bound UDP socket that never answers, counting what it gets. */
class Silent {
  readonly sock = dgram.createSocket('udp4');
  datagrams = 0;
  port = 0;
  constructor(readonly address: string) {}
  async start(port = 0): Promise<void> {
    this.sock.on('message', () => this.datagrams++);
    await new Promise<void>((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(port, this.address, () => resolve());
    });
    this.port = this.sock.address().port;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}

describe('e2e: outbound requests from a pair member (zone names, SRV failover, outside names, TLS)', function () {
  this.timeout(15_000);
  let b: ScriptedSipServer;
  let gw: SipPeer; // carrier.example.com (A record)
  let dead: Silent; // first SRV target of gwpool.example.com
  let gw2: SipPeer; // second SRV target
  let tcpGw: SipPeer; // NAPTR SIP+D2T
  let outDead: SipPeer; // first SRV target outside (answers 503)
  let outGw: SipPeer; // second SRV target outside
  let dnsServer: DnsServer;
  let stand: PairStand | undefined;
  let svc: SipService;
  let port: number;
  let closedPort: number; // a TCP port nothing listens on, at 127.0.0.67

  const ownZone = () =>
    [
      '$ORIGIN example.com.',
      '$TTL 30',
      '@ SOA ns1 hostmaster 1 3600 600 86400 5',
      '@ NS ns1',
      'ns1 A 127.0.0.11',
      'carrier A 127.0.0.61',
      'dead A 127.0.0.62',
      'gw2 A 127.0.0.63',
      `_sip._udp.gwpool SRV 10 50 ${dead.port} dead`,
      `_sip._udp.gwpool SRV 20 50 ${gw2.port} gw2`,
      'gwalias CNAME carrier',
      'tcpgw NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.tcpgw',
      `_sip._tcp.tcpgw SRV 10 0 ${tcpGw.port} tcp-host`,
      'tcp-host A 127.0.0.64',
      `_sip._tcp.tcppool SRV 10 0 ${closedPort} closed-host`,
      `_sip._tcp.tcppool SRV 20 0 ${tcpGw.port} tcp-host`,
      'closed-host A 127.0.0.67',
      '',
    ].join('\n');

  const outsideZone = () =>
    [
      '$TTL 300',
      '@ SOA ns.carrier.test. hostmaster.carrier.test. 1 3600 600 86400 60',
      '@ NS ns.carrier.test.',
      'ns A 127.0.0.1',
      `_sip._udp.pool SRV 10 0 ${outDead.port} busy`,
      `_sip._udp.pool SRV 20 0 ${outGw.port} gw`,
      `_sip._udp.ttl 2 SRV 10 0 ${outGw.port} gw`,
      'busy A 127.0.0.65',
      'gw A 127.0.0.66',
      '',
    ].join('\n');

  beforeEach(async () => {
    gw = new SipPeer('127.0.0.61');
    dead = new Silent('127.0.0.62');
    gw2 = new SipPeer('127.0.0.63');
    tcpGw = new SipPeer('127.0.0.64');
    outDead = new SipPeer('127.0.0.65');
    outGw = new SipPeer('127.0.0.66');
    await Promise.all([gw.start(), dead.start(), gw2.start(), tcpGw.start(), outDead.start(), outGw.start()]);
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.67', () => r()));
    closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    dnsServer = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: buildAnswerTable(zonesFromText({ 'carrier.test.zone': outsideZone() })).table });
    await dnsServer.listen();
    const names = new ZoneNames(zonesFromText({ 'example.com.zone': ownZone() }));
    const certs = testCerts();
    const proxyCert = certs.leaf('proxy1.example.com', '127.0.0.36');
    stand = await PairStand.start({
      proxy: PROXY,
      service: {
        hopTimeoutMs: HOP_MS,
        transport: { tls: { cert: proxyCert.cert, key: proxyCert.key, ca: certs.ca.cert, port: 0 } },
        resolver: { client: new StubResolver({ servers: [{ address: '127.0.0.1', port: dnsServer.port }], timeoutMs: 1000 }), names: () => names, timeoutMs: 2000 },
      },
    });
    ({ b, svc, port } = stand);
  });

  afterEach(async () => {
    await stand?.stop();
    stand = undefined;
    await dnsServer?.close();
    await Promise.all([gw.stop(), dead.stop(), gw2.stop(), tcpGw.stop(), outDead.stop(), outGw.stop()]);
  });

  const isResp = (status: number, callId: string, method = 'INVITE') => (r: Received) =>
    r.msg.status === status && r.msg.headers['call-id'] === callId && r.msg.headers.cseq?.method === method;
  const isReq = (method: string, callId: string) => (r: Received) => r.msg.method === method && r.msg.headers['call-id'] === callId;
  const dnsQueries = () => {
    const q = dnsServer.counters.queries;
    return (q.NAPTR ?? 0) + (q.SRV ?? 0) + (q.A ?? 0) + (q.AAAA ?? 0);
  };

  it('a gateway named by an A record in the zone (port in the URI): reached, no DNS query', async () => {
    const inv = request(b.peer, 'INVITE', { ruri: `sip:+1555@carrier.example.com:${gw.port}` });
    const cid = inv.headers['call-id']!;
    b.peer.sendUdp(inv, PROXY, port);
    const got = await gw.waitFor(isReq('INVITE', cid), 3000, 'INVITE at the gateway');
    expect(got.protocol).to.equal('udp');
    expect(got.msg.headers.via![0].host).to.equal(PROXY);
    gw.reply(got, response(got.msg, 486, 'Busy Here'));
    await b.peer.waitFor(isResp(486, cid), 2000, '486 back at the member');
    // a CNAME in the zone is followed
    const viaAlias = request(b.peer, 'MESSAGE', { ruri: `sip:+1555@gwalias.example.com:${gw.port}` });
    b.peer.sendUdp(viaAlias, PROXY, port);
    const got2 = await gw.waitFor(isReq('MESSAGE', viaAlias.headers['call-id']!), 3000, 'MESSAGE at the gateway by its alias');
    gw.reply(got2, response(got2.msg, 200, 'OK'));
    await b.peer.waitFor(isResp(200, viaAlias.headers['call-id']!, 'MESSAGE'), 2000, '200 back at the member');
    // a name the zone does not have: 404, still no DNS query
    const nx = request(b.peer, 'MESSAGE', { ruri: 'sip:+1555@nothere.example.com' });
    b.peer.sendUdp(nx, PROXY, port);
    await b.peer.waitFor(isResp(404, nx.headers['call-id']!, 'MESSAGE'), 2000, '404');
    expect(dnsQueries()).to.equal(0);
  });

  it('a gateway pool named by SRV with a dead first target: the second answers within the per-hop timeout plus the call', async () => {
    const inv = request(b.peer, 'INVITE', { ruri: 'sip:+1555@gwpool.example.com' });
    const cid = inv.headers['call-id']!;
    const t0 = Date.now();
    b.peer.sendUdp(inv, PROXY, port);
    const got = await gw2.waitFor(isReq('INVITE', cid), 3000, 'INVITE at the second target');
    const took = Date.now() - t0;
    expect(took).to.be.within(HOP_MS - 20, HOP_MS + 400);
    expect(dead.datagrams).to.be.greaterThan(0); // it was tried first
    gw2.reply(got, response(got.msg, 200, 'OK', { to: { ...got.msg.headers.to, params: { tag: 'gw2' } } }));
    await b.peer.waitFor(isResp(200, cid), 2000, '200 back at the member');
    expect(svc.counters.targetFailures).to.deep.equal({ [`udp:127.0.0.62:${dead.port}`]: 1 });
    // the failed target is tried after the other for a while: the next request goes to gw2 at once
    const before = dead.datagrams;
    const msg = request(b.peer, 'MESSAGE', { ruri: 'sip:+1555@gwpool.example.com' });
    const t1 = Date.now();
    b.peer.sendUdp(msg, PROXY, port);
    const got2 = await gw2.waitFor(isReq('MESSAGE', msg.headers['call-id']!), 2000, 'MESSAGE at the second target');
    expect(Date.now() - t1).to.be.lessThan(HOP_MS);
    gw2.reply(got2, response(got2.msg, 200, 'OK'));
    await b.peer.waitFor(isResp(200, msg.headers['call-id']!, 'MESSAGE'), 2000, '200');
    expect(dead.datagrams).to.equal(before);
    expect(dnsQueries()).to.equal(0);
  });

  it('a NAPTR/SRV choice of TCP in the zone: the request goes over TCP', async () => {
    const m = request(b.peer, 'MESSAGE', { ruri: 'sip:+1555@tcpgw.example.com' });
    b.peer.sendUdp(m, PROXY, port);
    const got = await tcpGw.waitFor(isReq('MESSAGE', m.headers['call-id']!), 3000, 'MESSAGE at the TCP gateway');
    expect(got.protocol).to.equal('tcp');
    expect(got.msg.headers.via![0].protocol?.toUpperCase()).to.equal('TCP');
    tcpGw.reply(got, response(got.msg, 200, 'OK'));
    await b.peer.waitFor(isResp(200, m.headers['call-id']!, 'MESSAGE'), 2000, '200 back at the member');
  });

  it('a TCP target that refuses the connection: the next target at once (a transport error, no per-hop wait)', async () => {
    const m = request(b.peer, 'MESSAGE', { ruri: 'sip:+1555@tcppool.example.com;transport=tcp' });
    const t0 = Date.now();
    b.peer.sendUdp(m, PROXY, port);
    const got = await tcpGw.waitFor(isReq('MESSAGE', m.headers['call-id']!), 3000, 'MESSAGE at the second TCP target');
    expect(Date.now() - t0).to.be.lessThan(HOP_MS);
    expect(got.protocol).to.equal('tcp');
    tcpGw.reply(got, response(got.msg, 200, 'OK'));
    await b.peer.waitFor(isResp(200, m.headers['call-id']!, 'MESSAGE'), 2000, '200 back at the member');
    expect(svc.counters.targetFailures).to.deep.equal({ [`tcp:127.0.0.67:${closedPort}`]: 1 });
  });

  it('a name outside the zones with two SRV targets, through the DNS stand-in: a 503 from the first, the second answers', async () => {
    outDead.onMessage = (r) => {
      if (r.msg.method && r.msg.method !== 'ACK') outDead.reply(r, response(r.msg, 503, 'Service Unavailable'));
    };
    const inv = request(b.peer, 'INVITE', { ruri: 'sip:+1555@pool.carrier.test' });
    const cid = inv.headers['call-id']!;
    b.peer.sendUdp(inv, PROXY, port);
    const got = await outGw.waitFor(isReq('INVITE', cid), 3000, 'INVITE at the second outside target');
    expect(outDead.received.filter((r) => r.msg.method === 'INVITE')).to.have.length(1);
    outGw.reply(got, response(got.msg, 200, 'OK', { to: { ...got.msg.headers.to, params: { tag: 'out' } } }));
    await b.peer.waitFor(isResp(200, cid), 2000, '200 back at the member');
    expect(b.peer.received.filter(isResp(503, cid))).to.have.length(0);
    const q = dnsServer.counters.queries;
    expect([q.NAPTR, q.SRV]).to.deep.equal([1, 1]);
    expect(svc.counters.targetFailures).to.deep.equal({ [`udp:127.0.0.65:${outDead.port}`]: 1 });
  });

  it('an IP target with transport=tls: TLS only, no datagram to the UDP port', async () => {
    const certs = testCerts();
    const tlsGw = new TlsMember('127.0.0.46', 'sips-b.example.com', certs.leaf('sips-b.example.com', '127.0.0.46'));
    await tlsGw.start();
    const udp = new Silent('127.0.0.46');
    try {
      await udp.start(tlsGw.port);
      const m = request(b.peer, 'MESSAGE', { ruri: `sip:+1555@127.0.0.46:${tlsGw.port};transport=tls` });
      b.peer.sendUdp(m, PROXY, port);
      await b.peer.waitFor(isResp(200, m.headers['call-id']!, 'MESSAGE'), 4000, '200 over TLS back at the member');
      expect(tlsGw.secured).to.equal(1);
      expect(tlsGw.requests.map((r) => [r.method, r.headers.via[0].protocol.toUpperCase()])).to.deep.equal([['MESSAGE', 'TLS']]);
      expect(udp.datagrams).to.equal(0);
    } finally {
      await udp.stop();
      await tlsGw.stop();
    }
  });

  it('TTL: an outside SRV record with TTL 2 s is asked again after 2 s, not before', async () => {
    outGw.onMessage = (r) => {
      if (r.msg.method) outGw.reply(r, response(r.msg, 200, 'OK'));
    };
    const send = async () => {
      const m = request(b.peer, 'MESSAGE', { ruri: 'sip:+1555@ttl.carrier.test' });
      b.peer.sendUdp(m, PROXY, port);
      await b.peer.waitFor(isResp(200, m.headers['call-id']!, 'MESSAGE'), 3000, '200 back at the member');
    };
    const q = dnsServer.counters.queries;
    const t0 = Date.now();
    await send();
    expect(q.SRV).to.equal(1);
    await new Promise((r) => setTimeout(r, 1500 - (Date.now() - t0)));
    await send();
    expect(q.SRV, 'asked again before its TTL ran out').to.equal(1);
    await new Promise((r) => setTimeout(r, 2150 - (Date.now() - t0)));
    await send();
    expect(q.SRV, 'not asked again after its TTL').to.equal(2);
  });
});
