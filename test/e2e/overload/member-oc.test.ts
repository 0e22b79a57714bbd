/**
 * RFC 7339 overload control from a pair member, end to end on loopback: a
 * real SipService (UDP sockets) between a user agent (127.0.0.50) and a
 * scripted SIP Server stand-in (127.0.0.21, the active member) that adds
 * `oc=50;oc-validity;oc-seq;oc-algo="loss"` to the proxy's Via in its
 * responses. Half of the new INVITEs are answered 503 + Retry-After by the
 * proxy; BYE, OPTIONS and the health plane's probes never are; when the
 * validity passes, or the member says oc=0, every INVITE is forwarded again.
 */
import { expect } from 'chai';
import type { SipMessage } from 'sip';
import { silentLogger, withRecentEvents } from '../../../src/shared/log.js';
import { RecentEvents } from '../../../src/shared/recent-events.js';
import { SipService } from '../../../src/sip/service.js';
import { PairStand } from '../../support/pair-stand.js';
import { SipPeer, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { inDialog, request } from '../../support/sip-ua.js';

const PROXY = '127.0.0.11';

describe('e2e: RFC 7339 overload control reported by a pair member', function () {
  this.timeout(20_000);
  let ua: SipPeer;
  let stand: PairStand;
  let a: ScriptedSipServer;
  let svc: SipService;
  let port: number;
  const events = new RecentEvents(100);

  before(async () => {
    ua = new SipPeer('127.0.0.50');
    stand = await PairStand.start({ proxy: PROXY, peers: [ua], service: { hopTimeoutMs: 1000, log: withRecentEvents(silentLogger, events) } });
    ({ a, svc, port } = stand);
  });

  after(() => stand.stop());

  const final = (cid: string, method: string) => (r: Received) =>
    r.msg.status !== undefined && r.msg.status >= 200 && r.msg.headers['call-id'] === cid && r.msg.headers.cseq?.method === method;

  /** One new INVITE from the user agent: its final response (a 2xx is ACKed). */
  async function invite(): Promise<{ invite: SipMessage; res: SipMessage }> {
    const inv = request(ua, 'INVITE', { ruri: 'sip:bob@tserver.example.com' });
    ua.sendUdp(inv, PROXY, port);
    const res = (await ua.waitFor(final(inv.headers['call-id']!, 'INVITE'), 3000, 'final response to INVITE')).msg;
    if (res.status === 200) ua.sendUdp(inDialog(ua, 'ACK', inv, res, 1), PROXY, port);
    return { invite: inv, res };
  }

  async function statuses(n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await invite()).res.status!);
    return out;
  }

  const eventNames = () => events.list().map((e) => e.name).reverse().filter((n) => n.startsWith('SIP_MEMBER_OC'));

  it('refuses half of the new INVITEs while the member reports oc=50, never BYE, OPTIONS or probes; forwards all again after the validity and after oc=0', async () => {
    // before any report: forwarded, and our Via toward the member offers overload control
    const first = await invite();
    expect(first.res.status).to.equal(200);
    const atA = a.requests('INVITE').find((r) => r.msg.headers['call-id'] === first.invite.headers['call-id'])!.msg;
    expect(atA.headers.via![0].host).to.equal(PROXY);
    expect(atA.headers.via![0].params).to.deep.include({ oc: null, 'oc-algo': '"loss"' });

    let seq = 1_700_000_000;
    a.viaReport = () => ({ oc: '50', 'oc-validity': '1000', 'oc-seq': `${++seq}.0`, 'oc-algo': '"loss"' });
    const carrier = await invite(); // its responses carry the first report
    expect(carrier.res.status).to.equal(200);
    expect(svc.proxy.memberOc.active).to.equal(true);

    const atMemberBefore = a.requests('INVITE').length;
    const results: SipMessage[] = [];
    for (let i = 0; i < 40; i++) results.push((await invite()).res);
    const refused = results.filter((r) => r.status === 503);
    expect(refused).to.have.length(20);
    expect(results.filter((r) => r.status === 200)).to.have.length(20);
    for (const r of refused) expect(Number(r.headers['retry-after'])).to.be.within(5, 10);
    expect(a.requests('INVITE').length - atMemberBefore).to.equal(20); // a refused INVITE never reached the member
    expect([...svc.proxy.memberOc.view()].reduce((t, v) => t + v.reduced, 0)).to.equal(20);

    // BYE for an established call, OPTIONS to the pair and to the instance, a health probe: never 503
    const bye = inDialog(ua, 'BYE', first.invite, first.res, 2);
    ua.sendUdp(bye, PROXY, port);
    expect((await ua.waitFor(final(bye.headers['call-id']!, 'BYE'), 3000, 'BYE answer')).msg.status).to.equal(200);
    for (const ruri of ['sip:tserver.example.com', 'sip:sipproxy.example.com', 'sip:tserver.example.com']) {
      const opt = request(ua, 'OPTIONS', { ruri });
      ua.sendUdp(opt, PROXY, port);
      expect((await ua.waitFor(final(opt.headers['call-id']!, 'OPTIONS'), 3000, 'OPTIONS answer')).msg.status, ruri).to.equal(200);
    }
    const probe = await svc.prober.probe({ address: a.address, port: a.port, transport: 'udp', host: 'sips-a.example.com' }, 2000);
    expect(probe.status).to.equal(200);
    expect(eventNames()).to.deep.equal(['SIP_MEMBER_OC']);

    // the member stops reporting: after the validity (1000 ms) everything is forwarded again
    a.viaReport = undefined;
    await new Promise((r) => setTimeout(r, 1200));
    expect(svc.proxy.memberOc.active).to.equal(false);
    expect(eventNames()).to.deep.equal(['SIP_MEMBER_OC', 'SIP_MEMBER_OC_END']);
    expect(events.list()[0]!.detail).to.include('reason=expired');
    expect(await statuses(10)).to.deep.equal(Array(10).fill(200));

    // reporting again, then oc=0 with a newer oc-seq: forwarded again at once
    a.viaReport = () => ({ oc: '50', 'oc-validity': '60000', 'oc-seq': `${++seq}.0`, 'oc-algo': '"loss"' });
    expect((await invite()).res.status).to.equal(200);
    expect(await statuses(4)).to.deep.equal([200, 503, 200, 503]);
    a.viaReport = () => ({ oc: '0', 'oc-validity': '60000', 'oc-seq': `${++seq}.0`, 'oc-algo': '"loss"' });
    expect((await invite()).res.status).to.equal(200); // not its turn in the share: forwarded, and its responses carry oc=0
    expect(svc.proxy.memberOc.active).to.equal(false);
    expect(events.list()[0]!.detail).to.include('reason=oc=0');
    a.viaReport = undefined;
    expect(await statuses(10)).to.deep.equal(Array(10).fill(200));
  });
});
