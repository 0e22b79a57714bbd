/**
 * SIP plane end to end on loopback: a real SipService with real UDP/TCP
 * sockets between a scripted user agent (127.0.0.50), the proxy (127.0.0.11)
 * and two scripted SIP Servers of one HA pair (127.0.0.21 primary, .22
 * backup). Health is a FakeHealth (the pair monitor is tested on its own).
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import type { SipMessage } from 'sip';
import { silentLogger } from '../../../src/shared/log.js';
import { SipService } from '../../../src/sip/service.js';
import type { SiteModel } from '../../../src/zone/types.js';
import { FakeHealth, testSite } from '../../support/fake-health.js';
import { PairStand } from '../../support/pair-stand.js';
import { SipPeer, response, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { inDialog, request } from '../../support/sip-ua.js';

const PROXY = '127.0.0.11';

describe('e2e: SIP proxy on loopback', function () {
  this.timeout(10_000);
  let ua: SipPeer;
  let outside: SipPeer;
  let stand: PairStand;
  let a: ScriptedSipServer;
  let b: ScriptedSipServer;
  let svc: SipService;
  let health: FakeHealth;
  let port: number;

  beforeEach(async () => {
    ua = new SipPeer('127.0.0.50');
    outside = new SipPeer('127.0.0.99');
    stand = await PairStand.start({ proxy: PROXY, peers: [ua, outside], service: { hopTimeoutMs: 300 } });
    ({ a, b, svc, health, port } = stand);
  });

  afterEach(() => stand.stop());

  const isResp = (status: number, callId: string, method = 'INVITE') => (r: Received) =>
    r.msg.status === status && r.msg.headers['call-id'] === callId && r.msg.headers.cseq?.method === method;
  const isReq = (method: string, callId: string) => (r: Received) => r.msg.method === method && r.msg.headers['call-id'] === callId;

  async function call(target = 'sip:bob@tserver.example.com'): Promise<{ invite: SipMessage; ok: SipMessage }> {
    const invite = request(ua, 'INVITE', { ruri: target });
    const cid = invite.headers['call-id']!;
    ua.sendUdp(invite, PROXY, port);
    const ok = (await ua.waitFor(isResp(200, cid), 3000, '200 to INVITE')).msg;
    ua.sendUdp(inDialog(ua, 'ACK', invite, ok, 1), PROXY, port);
    return { invite, ok };
  }

  it('INVITE/ACK/BYE through the proxy, with Record-Route followed', async () => {
    const { invite, ok } = await call();
    const cid = invite.headers['call-id']!;
    await ua.waitFor(isResp(100, cid), 1000, '100 Trying');
    const rr = ok.headers['record-route']!;
    expect(rr).to.have.length(1);
    expect(rr[0].uri!.host).to.equal('sipproxy.example.com');
    expect(rr[0].uri!.params).to.deep.include({ lr: null, pair: 'tserver.example.com' });
    const atA = (await a.peer.waitFor(isReq('INVITE', cid))).msg;
    expect(atA.headers['max-forwards']).to.equal('69');
    expect(atA.headers.via).to.have.length(2);
    expect(atA.headers.via![0].host).to.equal(PROXY);
    expect(atA.headers.via![0].params.branch).to.match(/^z9hG4bK/);
    expect(atA.headers.via![1].params.rport).to.equal(String(ua.port));
    await a.peer.waitFor(isReq('ACK', cid), 2000, 'ACK at member');
    ua.sendUdp(inDialog(ua, 'BYE', invite, ok, 2), PROXY, port);
    await a.peer.waitFor(isReq('BYE', cid), 2000, 'BYE at member');
    await ua.waitFor(isResp(200, cid, 'BYE'), 2000, '200 to BYE');
    expect(b.peer.received).to.have.length(0);
    expect(svc.counters.forwardedByMember['sips-a.example.com']).to.be.greaterThan(0);
    expect(svc.counters.requestsByMethod.INVITE).to.equal(1);
  });

  it('a request to an outside address from a user agent is not relayed', async () => {
    const invite = request(ua, 'INVITE', { ruri: `sip:bob@${outside.address}:${outside.port}` });
    const cid = invite.headers['call-id']!;
    ua.sendUdp(invite, PROXY, port);
    await a.peer.waitFor(isReq('INVITE', cid), 2000, 'INVITE at the serving pair');
    await ua.waitFor(isResp(200, cid));
    // a Route to the outside is refused
    const routed = request(ua, 'MESSAGE', { ruri: `sip:bob@${outside.address}:${outside.port}`, route: [{ uri: { schema: 'sip', host: outside.address, port: outside.port, params: { lr: null }, headers: {} }, params: {} }] });
    ua.sendUdp(routed, PROXY, port);
    await ua.waitFor(isResp(403, routed.headers['call-id']!, 'MESSAGE'), 2000, '403');
    await new Promise((r) => setTimeout(r, 200));
    expect(outside.received).to.have.length(0);
  });

  it('Max-Forwards 0 gets 483; a request coming back unchanged gets 482', async () => {
    const inv = request(ua, 'MESSAGE', { ruri: 'sip:bob@tserver.example.com', maxForwards: 0 });
    ua.sendUdp(inv, PROXY, port);
    await ua.waitFor(isResp(483, inv.headers['call-id']!, 'MESSAGE'), 2000, '483');

    const m = request(ua, 'MESSAGE', { ruri: 'sip:bob@tserver.example.com' });
    a.peer.onMessage = undefined; // member A forwards it back instead of answering
    ua.sendUdp(m, PROXY, port);
    const atA = await a.peer.waitFor(isReq('MESSAGE', m.headers['call-id']!));
    const back: SipMessage = { ...atA.msg, headers: { ...atA.msg.headers, via: [{ version: '2.0', protocol: 'UDP', host: a.address, port: a.port, params: { branch: 'z9hG4bKloop1' } }, ...atA.msg.headers.via!] } };
    a.peer.sendUdp(back, PROXY, port);
    await a.peer.waitFor((r) => r.msg.status === 482, 2000, '482');
    expect(health.fromMember.some((f) => f.target === 'sips-a.example.com')).to.equal(true);
  });

  it('CANCEL goes to the pending branch; the UA gets 200 for the CANCEL and 487', async () => {
    a.autoAnswer = false;
    const invite = request(ua, 'INVITE', { ruri: 'sip:bob@tserver.example.com' });
    const cid = invite.headers['call-id']!;
    ua.sendUdp(invite, PROXY, port);
    await ua.waitFor(isResp(180, cid), 2000, '180');
    const cancel: SipMessage = { ...invite, method: 'CANCEL', content: undefined, headers: { ...invite.headers, cseq: { seq: 1, method: 'CANCEL' } } };
    ua.sendUdp(cancel, PROXY, port);
    await ua.waitFor(isResp(200, cid, 'CANCEL'), 2000, '200 to CANCEL');
    await a.peer.waitFor(isReq('CANCEL', cid), 2000, 'CANCEL at member');
    await ua.waitFor(isResp(487, cid), 2000, '487');
    // the ACK for the 487 is hop-by-hop: the proxy sent its own to the member
    await a.peer.waitFor(isReq('ACK', cid), 2000, 'ACK for 487 at member');
  });

  it('a member that does not answer: failover retry reaches the other member and the call succeeds', async () => {
    a.freeze();
    const { invite, ok } = await call();
    const cid = invite.headers['call-id']!;
    await b.peer.waitFor(isReq('INVITE', cid), 100);
    expect(health.failed).to.deep.equal([{ pair: 'tserver.example.com', target: 'sips-a.example.com', cause: 'no response within 300 ms' }]);
    expect(ua.received.filter(isResp(100, cid))).to.have.length(1);
    ua.sendUdp(inDialog(ua, 'BYE', invite, ok, 2), PROXY, port);
    await b.peer.waitFor(isReq('BYE', cid), 2000, 'BYE at backup');
    await ua.waitFor(isResp(200, cid, 'BYE'));
    expect(svc.counters.failovers).to.equal(1);
  });

  it('a 503 from the member (standby) fails over to the other member', async () => {
    a.mode = 'standby';
    const { invite } = await call();
    await b.peer.waitFor(isReq('INVITE', invite.headers['call-id']!), 100);
    expect(health.failed[0]).to.include({ target: 'sips-a.example.com', cause: '503 from member' });
  });

  it('dialogs established on the primary continue on the backup after a switchover', async () => {
    const { invite, ok } = await call();
    expect((ok.headers.contact as { uri: string }[])[0].uri).to.contain(a.address);
    health.setActive('tserver.example.com', 'sips-b.example.com');
    ua.sendUdp(inDialog(ua, 'BYE', invite, ok, 2), PROXY, port);
    const bye = await b.peer.waitFor(isReq('BYE', invite.headers['call-id']!), 2000, 'BYE at backup');
    expect(bye.msg.uri).to.contain(a.address); // Request-URI unchanged: the backup owns the partner's dialogs
    await ua.waitFor(isResp(200, invite.headers['call-id']!, 'BYE'));
  });

  it('pair out of service: 503 with Retry-After at once', async () => {
    health.setActive('tserver.example.com', null);
    const inv = request(ua, 'INVITE', { ruri: 'sip:bob@tserver.example.com' });
    ua.sendUdp(inv, PROXY, port);
    const r = await ua.waitFor(isResp(503, inv.headers['call-id']!), 1000, '503');
    expect(r.msg.headers['retry-after']).to.match(/^\d+$/);
    expect(a.peer.received.length + b.peer.received.length).to.equal(0);
  });

  it('OPTIONS to the instance itself: 200, 503 while draining; the prober reports status and rtt', async () => {
    const o = request(ua, 'OPTIONS', { ruri: 'sip:sipproxy.example.com' });
    ua.sendUdp(o, PROXY, port);
    await ua.waitFor(isResp(200, o.headers['call-id']!, 'OPTIONS'), 1000, '200 to OPTIONS');
    health.draining = true;
    const o2 = request(ua, 'OPTIONS', { ruri: `sip:${PROXY}:${port}` });
    ua.sendUdp(o2, PROXY, port);
    await ua.waitFor(isResp(503, o2.headers['call-id']!, 'OPTIONS'), 1000, '503 to OPTIONS');
    expect(a.peer.received).to.have.length(0);

    const ok = await svc.prober.probe({ address: b.address, port: b.port, transport: 'udp', host: 'sips-b.example.com' }, 1000);
    expect(ok.status).to.equal(200);
    expect(ok.rttMs).to.be.a('number').and.lessThan(1000);
    b.mode = 'standby';
    expect((await svc.prober.probe({ address: b.address, port: b.port, transport: 'tcp', host: 'sips-b.example.com' }, 1000)).status).to.equal(503);
    a.freeze();
    const t = await svc.prober.probe({ address: a.address, port: a.port, transport: 'udp', host: 'sips-a.example.com' }, 200);
    expect(t.status).to.equal(null);
  });

  it('outbound: a request from a pair member goes by Request-URI to the user agent, and is reported as proof of life', async () => {
    const inv = request(b.peer, 'INVITE', { ruri: `sip:alice@${ua.address}:${ua.port}` });
    b.peer.sendUdp(inv, PROXY, port);
    const got = await ua.waitFor(isReq('INVITE', inv.headers['call-id']!), 2000, 'INVITE at UA');
    expect(got.msg.headers['record-route']![0].uri!.host).to.equal('sipproxy.example.com');
    expect(health.fromMember).to.deep.include({ pair: 'tserver.example.com', target: 'sips-b.example.com' });
    ua.reply(got, response(got.msg, 486, 'Busy Here'));
    await b.peer.waitFor(isResp(486, inv.headers['call-id']!), 2000, '486 back at member');
  });

  it('TCP: a call over TCP; a message without Content-Length gets 400 and the connection is closed', async () => {
    const s = await ua.connectTcp(PROXY, port);
    const inv = request(ua, 'INVITE', { ruri: 'sip:bob@tserver.example.com', protocol: 'TCP' });
    ua.sendTcp(s, inv);
    await ua.waitFor(isResp(200, inv.headers['call-id']!), 2000, '200 over TCP');
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    const noCl = 'OPTIONS sip:sipproxy.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.50:5060;branch=z9hG4bKnocl\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: nocl\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n';
    s.write(noCl);
    await ua.waitFor((r) => r.msg.status === 400 && r.msg.headers['call-id'] === 'nocl', 2000, '400');
    await closed;
  });

  it('TCP: a bad Content-Length gets 400 and close; garbage is dropped without harm', async () => {
    const s = await ua.connectTcp(PROXY, port);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write('OPTIONS sip:sipproxy.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.50:5060;branch=z9hG4bKbadcl\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: badcl\r\nCSeq: 1 OPTIONS\r\nContent-Length: abc\r\n\r\n');
    await ua.waitFor((r) => r.msg.status === 400 && r.msg.headers['call-id'] === 'badcl', 2000, '400');
    await closed;
    const g = dgram.createSocket('udp4');
    await new Promise<void>((r) => g.bind(0, '127.0.0.50', () => r()));
    for (let i = 0; i < 200; i++) g.send(Buffer.from('\x00garbage ' + i + '\r\n\r\n'), port, PROXY);
    await new Promise((r) => setTimeout(r, 100));
    g.close();
    const o = request(ua, 'OPTIONS', { ruri: 'sip:sipproxy.example.com' });
    ua.sendUdp(o, PROXY, port);
    await ua.waitFor(isResp(200, o.headers['call-id']!, 'OPTIONS'), 1000, 'still answering');
    expect(svc.transportCounters.droppedMalformed).to.be.greaterThan(0);
  });

  it('members over TCP: one connection reused for several requests; a dead member (connection refused) fails over at once', async () => {
    stand.site = testSite({ address: PROXY, port }, [a, b], 'tcp') as SiteModel;
    await call();
    const second = await call();
    await a.peer.waitFor(isReq('ACK', second.invite.headers['call-id']!), 2000, 'ACK over TCP');
    const atA = a.requests('INVITE').concat(a.requests('ACK'));
    expect(atA).to.have.length(4);
    expect(new Set(atA.map((r) => `${r.protocol}:${r.port}`)).size).to.equal(1);
    expect(atA[0].protocol).to.equal('tcp');
    await a.stop();
    const t0 = performance.now();
    const { invite } = await call();
    expect(performance.now() - t0).to.be.lessThan(300); // no per-hop timeout needed: the transport said so
    await b.peer.waitFor(isReq('INVITE', invite.headers['call-id']!), 100);
    expect(health.failed[0].cause).to.match(/^transport error/);
  });

  it('start() rejects clearly when the address is taken', async () => {
    const other = new SipService({ site: () => stand.site, health, feedback: health, listen: [{ address: PROXY, port }], log: silentLogger });
    let err: (Error & { code?: string }) | undefined;
    try {
      await other.start();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.code).to.equal('SRV_ERR_LISTEN');
    expect(err?.message).to.contain('EADDRINUSE');
    await other.stop();
  });

  it('IPv6: listens on ::1, reads [::1] in Via and answers OPTIONS to itself back to the sender', async () => {
    const v6 = new SipService({ site: () => stand.site, health, feedback: health, listen: [{ address: '::1', port: 0 }], log: silentLogger });
    await v6.start();
    const sock = dgram.createSocket('udp6');
    try {
      await new Promise<void>((r) => sock.bind(0, '::1', () => r()));
      const p = sock.address().port;
      const got = new Promise<string>((resolve) => sock.once('message', (m) => resolve(m.toString('latin1'))));
      const text =
        `OPTIONS sip:[::1]:${v6.bound[0].port} SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:${p};branch=z9hG4bKv6;rport\r\n` +
        'From: <sip:a@[::1]>;tag=1\r\nTo: <sip:p@[::1]>\r\nCall-ID: v6\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
      sock.send(Buffer.from(text), v6.bound[0].port, '::1');
      const res = await got;
      expect(res).to.match(/^SIP\/2.0 200 /);
      expect(res).to.contain(`Via: SIP/2.0/UDP [::1]:${p};branch=z9hG4bKv6;rport=${p}`);
    } finally {
      sock.close();
      await v6.stop();
    }
  });
});
