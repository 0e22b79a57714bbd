/**
 * Answered transactions held as compact records (sip/transaction/retired),
 * end to end on loopback with real UDP sockets: a real SipService between a
 * scripted user agent (127.0.0.50) and a scripted SIP Server (127.0.0.21),
 * retransmissions sent by hand after the transaction was answered:
 * RFC 6026 Accepted on both sides of an INVITE, RFC 3261 timer J for a BYE.
 */
import { expect } from 'chai';
import type { SipMessage } from 'sip';
import { SipService } from '../../../src/sip/service.js';
import { PairStand } from '../../support/pair-stand.js';
import { SipPeer, response, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { inDialog, request } from '../../support/sip-ua.js';

const PROXY = '127.0.0.11';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: answered transactions as records (retransmissions after the final response)', function () {
  this.timeout(10_000);
  let ua: SipPeer;
  let stand: PairStand;
  let a: ScriptedSipServer;
  let svc: SipService;
  let port: number;

  beforeEach(async () => {
    ua = new SipPeer('127.0.0.50');
    stand = await PairStand.start({ proxy: PROXY, peers: [ua], service: { hopTimeoutMs: 300 } });
    ({ a, svc, port } = stand);
  });

  afterEach(() => stand.stop());

  const isResp = (status: number, callId: string, method: string) => (r: Received) =>
    r.msg.status === status && r.msg.headers['call-id'] === callId && r.msg.headers.cseq?.method === method;
  const count = (peer: SipPeer, pred: (r: Received) => boolean) => peer.received.filter(pred).length;
  const isReq = (method: string, callId: string) => (r: Received) => r.msg.method === method && r.msg.headers['call-id'] === callId;

  it('INVITE answered 2xx: retransmitted INVITE absorbed, 2xx retransmissions forwarded upstream, a stray 486 absorbed', async () => {
    const invite: SipMessage = request(ua, 'INVITE', { ruri: 'sip:bob@tserver.example.com' });
    const cid = invite.headers['call-id']!;
    ua.sendUdp(invite, PROXY, port);
    const ok = (await ua.waitFor(isResp(200, cid, 'INVITE'), 3000, '200 to INVITE')).msg;
    const atA = await a.peer.waitFor(isReq('INVITE', cid), 2000, 'INVITE at the member');
    expect(svc.layer.retiredCount).to.be.at.least(2); // server and client INVITE, Accepted

    ua.sendUdp(invite, PROXY, port); // the same INVITE again (same branch)
    const ok2: SipMessage = response(atA.msg, 200, 'OK', { contact: ok.headers.contact }, 'v=0\r\n');
    ok2.headers.to = ok.headers.to;
    a.peer.reply(atA, ok2); // the member retransmits its 2xx
    a.peer.reply(atA, { ...response(atA.msg, 486, 'Busy Here'), headers: { ...response(atA.msg, 486, 'Busy Here').headers, to: ok.headers.to } });
    await ua.waitFor((r) => isResp(200, cid, 'INVITE')(r) && r !== ua.received.find(isResp(200, cid, 'INVITE')), 2000, 'the 2xx retransmission');
    await sleep(200);
    expect(count(a.peer, isReq('INVITE', cid))).to.equal(1);
    expect(count(ua, isResp(200, cid, 'INVITE'))).to.equal(2);
    expect(count(ua, (r) => r.msg.status === 486)).to.equal(0);
    ua.sendUdp(inDialog(ua, 'ACK', invite, ok, 1), PROXY, port);
    await a.peer.waitFor(isReq('ACK', cid), 2000, 'ACK at the member');
  });

  it('BYE answered 200: the retransmitted BYE gets the same 200 again from the record; the member sees one BYE', async () => {
    const invite: SipMessage = request(ua, 'INVITE', { ruri: 'sip:bob@tserver.example.com' });
    const cid = invite.headers['call-id']!;
    ua.sendUdp(invite, PROXY, port);
    const ok = (await ua.waitFor(isResp(200, cid, 'INVITE'), 3000, '200 to INVITE')).msg;
    ua.sendUdp(inDialog(ua, 'ACK', invite, ok, 1), PROXY, port);
    const bye = inDialog(ua, 'BYE', invite, ok, 2);
    ua.sendUdp(bye, PROXY, port);
    await ua.waitFor(isResp(200, cid, 'BYE'), 2000, '200 to BYE');
    ua.sendUdp(bye, PROXY, port);
    await ua.waitFor((r) => isResp(200, cid, 'BYE')(r) && r !== ua.received.find(isResp(200, cid, 'BYE')), 2000, 'the 200 again');
    const byes = ua.received.filter(isResp(200, cid, 'BYE'));
    expect(byes).to.have.length(2);
    expect(byes[1].msg.headers.via).to.deep.equal(byes[0].msg.headers.via);
    await sleep(100);
    expect(count(a.peer, isReq('BYE', cid))).to.equal(1);
    expect(svc.layer.counters.retransmissionsAbsorbed).to.be.at.least(1);
  });
});
