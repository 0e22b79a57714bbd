import { expect } from 'chai';
import sip, { type SipMessage } from 'sip';
import { FakeClock } from '../../../../src/shared/clock.js';
import { silentLogger } from '../../../../src/shared/log.js';
import type { SipRequest } from '../../../../src/sip/codec/codec.js';
import { ProxyCore } from '../../../../src/sip/proxy/core.js';
import { ENTER_LOOKS, EVAL_MS } from '../../../../src/sip/proxy/admission.js';
import { TransactionLayer } from '../../../../src/sip/transaction/layer.js';
import type { Remote } from '../../../../src/sip/transport/types.js';
import type { SiteModel } from '../../../../src/zone/types.js';
import { FakeHealth, testSite } from '../../../support/fake-health.js';
import { requestFrom, requestFromPeer, responseFromPeer } from '../../../support/sip-wire.js';

const UA: Remote = { protocol: 'udp', address: '127.0.0.50', port: 5070 };
const A = '127.0.0.21';
const B = '127.0.0.22';

function setup(opts: { rate?: number; targetMs?: number } = {}) {
  const clock = new FakeClock();
  const sent: { dest: Remote; msg: SipMessage }[] = [];
  const sender = { send: (dest: Remote, data: Buffer) => void sent.push({ dest, msg: sip.parse(data)! }) };
  const layer = new TransactionLayer({ sender, clock });
  const site = testSite({ address: '127.0.0.11', port: 5060 }, [
    { address: A, port: 5060 },
    { address: B, port: 5060 },
  ]) as SiteModel;
  const health = new FakeHealth(site.pairs);
  const bound = [{ address: '127.0.0.11', port: 5060 }];
  const proxy = new ProxyCore({
    site: () => site, health, feedback: health, layer, clock, log: silentLogger, hopTimeoutMs: 500,
    overloadCtrlDialogRate: opts.rate ?? 0, overloadTargetDelayMs: opts.targetMs, transport: { bound, localFor: () => bound[0] },
  });
  layer.setUser(proxy);
  const to = (addr: string, method?: string) => sent.filter((s) => s.dest.address === addr && (!method || s.msg.method === method));
  return { clock, sent, layer, proxy, health, to };
}

let n = 0;
function req(method: string, extra = '', ruri = 'sip:bob@tserver.example.com'): SipRequest {
  n++;
  const text =
    `${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKu${n};rport\r\n` +
    `From: <sip:a@x>;tag=f${n}\r\nTo: <sip:b@y>\r\nCall-ID: call${n}\r\nCSeq: 1 ${method}\r\n${extra}Content-Length: 0\r\n\r\n`;
  return requestFrom(text);
}

/**
 * Requests no overload control may refuse, sent through `layer`: in-dialog BYE, INFO and
 * re-INVITE and OPTIONS from the user agent, then a new INVITE from pair member A; each is
 * forwarded once (`forwarded` counts copies sent on). Returns the member's INVITE.
 */
function expectNeverRefused(layer: TransactionLayer, forwarded: (r: SipRequest) => number, more: SipRequest[] = []): SipRequest {
  const kept: SipRequest[] = [req('BYE'), req('INFO'), req('INVITE'), req('OPTIONS'), ...more];
  for (const r of kept.slice(0, 3)) r.headers.to!.params.tag = 'in-dialog';
  for (const r of kept) layer.onMessage(r, UA);
  for (const r of kept) expect(forwarded(r), r.method).to.equal(1);
  // a new INVITE from a pair member (the proxy as outbound proxy)
  const fromMember = req('INVITE', '', 'sip:carol@127.0.0.60:5080');
  layer.onMessage(fromMember, { protocol: 'udp', address: A, port: 5060 });
  expect(forwarded(fromMember), 'a member\'s INVITE').to.equal(1);
  return fromMember;
}

describe('sip/proxy/core (fake clock, in-memory network)', () => {
  it('forwards with Max-Forwards decremented (70 when absent), its own Via, received/rport, Record-Route on initial INVITE only', () => {
    const { layer, to, sent } = setup();
    layer.onMessage(req('INVITE', 'Max-Forwards: 10\r\n'), UA);
    const fwd = to(A, 'INVITE')[0].msg;
    expect(fwd.headers['max-forwards']).to.equal('9');
    expect(fwd.headers.via![0]).to.include({ host: '127.0.0.11', port: 5060, protocol: 'UDP' });
    expect(fwd.headers.via![0].params.branch).to.match(/^z9hG4bK[\w-]{16}\.[0-9a-f]{8}$/);
    expect(fwd.headers.via![1].params).to.include({ received: '127.0.0.50', rport: '5070' });
    expect(sip.stringifyUri(fwd.headers['record-route']![0].uri!)).to.equal('sip:sipproxy.example.com;lr;pair=tserver.example.com');
    expect(sent.find((s) => s.msg.status === 100)?.dest).to.deep.equal(UA);

    layer.onMessage(req('MESSAGE'), UA);
    const msg = to(A, 'MESSAGE')[0].msg;
    expect(msg.headers['max-forwards']).to.equal('70');
    expect(msg.headers['record-route']).to.equal(undefined);
    const reinvite = req('INVITE', 'Max-Forwards: 70\r\n');
    reinvite.headers.to!.params.tag = 'dialog';
    layer.onMessage(reinvite, UA);
    expect(to(A, 'INVITE')[1].msg.headers['record-route']).to.equal(undefined);
  });

  it('overload: initial INVITEs above the rate get 503 + Retry-After; re-INVITEs and OPTIONS are never shed', () => {
    const { layer, sent, proxy, clock } = setup({ rate: 5 });
    for (let i = 0; i < 8; i++) layer.onMessage(req('INVITE'), UA);
    const rejected = () => sent.filter((s) => s.msg.status === 503);
    expect(rejected()).to.have.length(3);
    expect(Number(rejected()[0].msg.headers['retry-after'])).to.be.within(5, 10);
    const re = req('INVITE');
    re.headers.to!.params.tag = 'x';
    layer.onMessage(re, UA);
    layer.onMessage(req('OPTIONS', '', 'sip:sipproxy.example.com'), UA);
    expect(rejected()).to.have.length(3);
    expect(sent.filter((s) => s.msg.status === 200 && s.msg.headers.cseq!.method === 'OPTIONS')).to.have.length(1);
    expect(proxy.counters.overloadRejections).to.equal(3);
    clock.advance(2000);
    const later = req('INVITE');
    layer.onMessage(later, UA);
    expect(sent.filter((s) => s.msg.method === 'INVITE' && s.msg.headers['call-id'] === later.headers['call-id'])).to.have.length(1);
  });

  it('overload: once INVITEs are over the rate, the next ones from user agents are refused before decoding, counted as the cap’s; a member’s INVITE and a REGISTER are left to the full path', () => {
    const { layer, sent, proxy, clock } = setup({ rate: 5 });
    const wire = (method: string, i: number) =>
      Buffer.from(
        `${method} sip:bob@tserver.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKw${i};rport\r\n` +
          `From: <sip:a@x>;tag=w${i}\r\nTo: <sip:b@y>\r\nCall-ID: wire${i}\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`,
        'latin1',
      );
    for (let i = 0; i < 6; i++) layer.onMessage(req('INVITE'), UA); // 5 admitted, the 6th refused by the full path
    expect(proxy.overloadActive).to.equal(true);
    const out = proxy.fastShed.preview(wire('INVITE', 1), UA.address, UA.port);
    expect(out).to.be.instanceOf(Buffer);
    const res = sip.parse(out as Buffer)!;
    expect(res.status).to.equal(503);
    expect(Number(res.headers['retry-after'])).to.be.within(5, 10);
    expect(proxy.counters.overloadRejections).to.equal(2);
    expect(sent.filter((s) => s.msg.status === 503), 'the one sent by the full path; the other is returned to the listener').to.have.length(1);
    expect(proxy.counters.overloadShedByMethod, 'the adaptive control shed nothing').to.deep.equal({});
    expect(proxy.fastShed.preview(wire('REGISTER', 2), UA.address, UA.port), 'not capped').to.equal(undefined);
    expect(proxy.fastShed.preview(wire('INVITE', 3), A, 5060), 'from a pair member').to.equal(undefined);
    // a second later the window has room: the INVITE goes to the full path, which admits it
    clock.advance(2000);
    expect(proxy.fastShed.preview(wire('INVITE', 4), UA.address, UA.port)).to.equal(undefined);
    layer.onMessage(req('INVITE'), UA);
    expect(proxy.overloadActive, 'admitted under 90% of the rate: the cap is no longer active').to.equal(false);
  });

  it('adaptive overload: while limiting, new out-of-dialog requests from user agents get 503 with a randomised Retry-After; in-dialog requests, BYE, OPTIONS, requests from members and retransmissions are never shed', () => {
    const { layer, sent, proxy, clock } = setup({ targetMs: 100 });
    proxy.start();
    for (let look = 0; look < ENTER_LOOKS; look++) {
      for (let i = 0; i < 5; i++) layer.onMessage(req('INVITE'), UA);
      proxy.admission.sample(400);
      clock.advance(EVAL_MS);
    } // 5 admitted a look (25/s) at 400 ms of lateness: limiting at 25/s × 0.8
    expect(proxy.admissionState).to.include({ state: 'limiting', rate: 20 });
    expect(proxy.overloadActive).to.equal(true);
    const status = (r: SipRequest) => sent.filter((x) => x.msg.status !== undefined && x.msg.headers['call-id'] === r.headers['call-id']).map((x) => x.msg.status);
    const forwarded = (r: SipRequest) => sent.filter((x) => x.msg.method === r.method && x.msg.headers['call-id'] === r.headers['call-id']).length;

    // the bucket starts empty: the rate binds at once
    const first = Array.from({ length: 5 }, () => req('INVITE'));
    for (const r of first) layer.onMessage(r, UA);
    for (const r of first) expect(status(r)).to.deep.equal([503]);
    const shed: SipRequest[] = [req('INVITE'), req('REGISTER', '', 'sip:tserver.example.com'), req('SUBSCRIBE'), req('MESSAGE')];
    for (const r of shed) layer.onMessage(r, UA);
    for (const r of shed) expect(status(r), r.method).to.deep.equal([503]);
    const retryAfters = sent.filter((x) => x.msg.status === 503).map((x) => Number(x.msg.headers['retry-after']));
    expect(retryAfters.every((v) => v >= 5 && v <= 10)).to.equal(true);
    expect(proxy.counters.overloadShedByMethod).to.deep.equal({ INVITE: 6, REGISTER: 1, SUBSCRIBE: 1, MESSAGE: 1 });
    // a retransmission of a shed INVITE: its transaction resends the 503, the controller is not asked again
    layer.onMessage(shed[0], UA);
    expect(status(shed[0])).to.deep.equal([503, 503]);
    expect(proxy.admissionState.shed).to.equal(9);

    const fromMember = expectNeverRefused(layer, forwarded);
    expect(status(fromMember)).to.not.include(503);
    expect(proxy.counters.overloadRejections).to.equal(9);
    proxy.close();
  });

  it('fast failover exactly at the per-hop timeout; a transaction already answered (1xx) does not fail over', () => {
    const { layer, to, health, clock } = setup();
    layer.onMessage(req('INVITE'), UA);
    clock.advance(499);
    expect(health.failed).to.have.length(0);
    clock.advance(1);
    expect(health.failed.map((f) => f.target)).to.deep.equal(['sips-a.example.com']);
    return Promise.resolve().then(() => {
      expect(to(B, 'INVITE')).to.have.length(1);
      const inv = to(B, 'INVITE')[0].msg;
      layer.onMessage(responseFromPeer({ status: 180, reason: 'Ringing', version: '2.0', headers: { ...inv.headers, to: { ...inv.headers.to!, params: { tag: 't' } } } }), { protocol: 'udp', address: B, port: 5060 });
      clock.advance(10_000);
      expect(health.failed).to.have.length(1);
      // a late answer from the abandoned branch is not passed upstream
      // the original and timer A's first retransmission (due at the same instant): nothing after the failover
      expect(to(A, 'INVITE').length).to.equal(2);
    });
  });

  it('no member becomes active in time: 503 with Retry-After upstream', async () => {
    const { layer, health, clock, sent } = setup();
    health.failoverTo = null;
    layer.onMessage(req('MESSAGE'), UA);
    clock.advance(500);
    await new Promise((r) => setTimeout(r, 250));
    const r = sent.find((s) => s.msg.status === 503);
    expect(r?.dest).to.deep.equal(UA);
    expect(r?.msg.headers['retry-after']).to.equal('5');
  });

  it('Max-Forwards 0: 483; a request carrying our Via with its own loop hash: 482; garbage answerable: 400', () => {
    const { layer, sent, to } = setup();
    layer.onMessage(req('MESSAGE', 'Max-Forwards: 0\r\n'), UA);
    expect(sent.at(-1)!.msg.status).to.equal(483);
    layer.onMessage(req('MESSAGE'), UA);
    const fwd = to(A, 'MESSAGE')[0].msg;
    // the same request comes back (member forwards it to us again)
    const back = { ...fwd, headers: { ...fwd.headers, via: [{ version: '2.0', protocol: 'UDP', host: A, port: 5060, params: { branch: 'z9hG4bKm' } }, ...fwd.headers.via!] } };
    delete back.headers['record-route'];
    layer.onMessage(requestFromPeer(back), { protocol: 'udp', address: A, port: 5060 });
    expect(sent.at(-1)!.msg.status).to.equal(482);
    layer.onBadMessage({ ok: false, error: 'bad CSeq', status: 400, msg: req('MESSAGE') }, UA);
    expect(sent.at(-1)!.msg.status).to.equal(400);
  });

  it('RFC 7339: our Via to a member offers oc; its oc=50 report makes every second new request from user agents a 503 with Retry-After, never BYE, in-dialog, OPTIONS, CANCEL or requests from members; oc=0 ends it', () => {
    const { layer, to, sent, proxy } = setup();
    const answer = (fwd: SipMessage, status: number, ocParams: Record<string, string | null>) => {
      const [top, ...rest] = fwd.headers.via!;
      const res = responseFromPeer({ status, reason: 'OK', version: '2.0', headers: { ...fwd.headers, via: [{ ...top!, params: { ...top!.params, ...ocParams } }, ...rest], to: { ...fwd.headers.to!, params: { tag: 't' } } } });
      layer.onMessage(res, { protocol: 'udp', address: A, port: 5060 });
    };
    const first = req('INVITE');
    layer.onMessage(first, UA);
    const fwd = to(A, 'INVITE')[0].msg;
    expect(fwd.headers.via![0].params).to.deep.include({ oc: null, 'oc-algo': '"loss"' });
    expect(proxy.memberOc.active).to.equal(false);
    answer(fwd, 200, { oc: '50', 'oc-validity': '60000', 'oc-seq': '1700000000.1', 'oc-algo': '"loss"' });
    expect(proxy.memberOc.active).to.equal(true);
    // the report is hop by hop: the 200 goes upstream without our Via
    const up = sent.find((x) => x.msg.status === 200 && x.msg.headers['call-id'] === first.headers['call-id'])!;
    expect(up.msg.headers.via).to.have.length(1);

    const status = (r: SipRequest) => sent.filter((x) => x.msg.status !== undefined && x.msg.status !== 100 && x.dest.address === UA.address && x.msg.headers['call-id'] === r.headers['call-id']).map((x) => x.msg);
    const forwarded = (r: SipRequest) => sent.filter((x) => x.msg.method === r.method && x.msg.headers['call-id'] === r.headers['call-id']).length;
    const news = Array.from({ length: 20 }, (_, i) => req(i % 3 === 2 ? 'MESSAGE' : 'INVITE'));
    for (const r of news) layer.onMessage(r, UA);
    const refused = news.filter((r) => status(r).some((m) => m.status === 503));
    expect(refused).to.have.length(10);
    expect(refused).to.deep.equal(news.filter((_, i) => i % 2 === 1));
    for (const r of refused) {
      expect(forwarded(r)).to.equal(0);
      expect(Number(status(r)[0]!.headers['retry-after'])).to.be.within(5, 10);
    }
    expect([...proxy.memberOc.view()].reduce((t, v) => t + v.reduced, 0)).to.equal(10);
    expect(proxy.counters.overloadRejections).to.equal(0);

    const fromMember = expectNeverRefused(layer, forwarded, [req('BYE'), req('OPTIONS')]);
    // toward a target that is not a pair member, our Via offers nothing
    expect(sent.find((x) => x.msg.method === 'INVITE' && x.msg.headers['call-id'] === fromMember.headers['call-id'])!.msg.headers.via![0].params).to.not.have.property('oc');
    // a CANCEL for a forwarded INVITE (ringing at the member) is answered 200 and sent on
    const ringing = news[0]!;
    const ringingAtA = to(A, 'INVITE').find((x) => x.msg.headers['call-id'] === ringing.headers['call-id'])!.msg;
    answer(ringingAtA, 180, {});
    const cancel = requestFrom(
      `CANCEL sip:bob@tserver.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=${ringing.headers.via[0]!.params.branch};rport\r\n` +
        `From: <sip:a@x>;tag=${ringing.headers.from.params.tag}\r\nTo: <sip:b@y>\r\nCall-ID: ${ringing.headers['call-id']}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n`,
    );
    layer.onMessage(cancel, UA);
    expect(sent.filter((x) => x.msg.status === 200 && x.msg.headers.cseq?.method === 'CANCEL' && x.msg.headers['call-id'] === ringing.headers['call-id'])).to.have.length(1);
    expect(sent.filter((x) => x.msg.method === 'CANCEL' && x.dest.address === A && x.msg.headers['call-id'] === ringing.headers['call-id'])).to.have.length(1);
    expect([...proxy.memberOc.view()].reduce((t, v) => t + v.reduced, 0)).to.equal(10);

    // oc=0 (a newer oc-seq) ends it: everything is forwarded again
    const last = to(A, 'MESSAGE').at(-1)!.msg;
    answer(last, 200, { oc: '0', 'oc-validity': '60000', 'oc-seq': '1700000000.2' });
    expect(proxy.memberOc.active).to.equal(false);
    const after = Array.from({ length: 6 }, () => req('INVITE'));
    for (const r of after) layer.onMessage(r, UA);
    for (const r of after) expect(forwarded(r)).to.equal(1);
    proxy.close();
  });

  it('routes responses back by Via and pops its own Via', () => {
    const { layer, to, sent, proxy } = setup();
    layer.onMessage(req('MESSAGE'), UA);
    const fwd = to(A, 'MESSAGE')[0].msg;
    layer.onMessage(responseFromPeer({ status: 202, reason: 'Accepted', version: '2.0', headers: { ...fwd.headers, to: { ...fwd.headers.to!, params: { tag: 't' } } } }), { protocol: 'udp', address: A, port: 5060 });
    const up = sent.at(-1)!;
    expect(up.msg.status).to.equal(202);
    expect(up.dest).to.deep.equal(UA);
    expect(up.msg.headers.via).to.have.length(1);
    expect(up.msg.headers.via![0].host).to.equal('10.9.9.9');
    expect(proxy.counters.transactionsPending).to.equal(0);
    expect(proxy.counters.transactionsInFlight).to.equal(2); // Completed: absorbing retransmissions
  });
});
