import { expect } from 'chai';
import sip, { type SipMessage } from 'sip';
import { FakeClock } from '../../../../src/shared/clock.js';
import type { SipRequest, SipResponse } from '../../../../src/sip/codec/codec.js';
import { requestFrom } from '../../../support/sip-wire.js';
import type { ClientFailure } from '../../../../src/sip/transaction/client.js';
import { responseDestination, TransactionLayer, type TransactionUser } from '../../../../src/sip/transaction/layer.js';
import type { ServerTransaction } from '../../../../src/sip/transaction/server.js';
import type { Remote } from '../../../../src/sip/transport/types.js';

class RecordingSender {
  readonly sent: { at: number; dest: Remote; msg: SipMessage }[] = [];
  constructor(private readonly clock: FakeClock) {}
  send(dest: Remote, data: Buffer): void {
    this.sent.push({ at: this.clock.now(), dest, msg: sip.parse(data)! });
  }
  times(pred: (m: SipMessage) => boolean): number[] {
    return this.sent.filter((s) => pred(s.msg)).map((s) => s.at);
  }
}

const UA: Remote = { protocol: 'udp', address: '127.0.0.50', port: 5070 };

function req(method: string, branch = 'z9hG4bK' + method + 'x', proto = 'UDP'): SipRequest {
  const text =
    `${method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/${proto} 127.0.0.50:5070;branch=${branch};rport\r\n` +
    `From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: call-${branch}\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  return requestFrom(text);
}

function resp(to: SipRequest, status: number): SipResponse {
  const h = to.headers;
  return { kind: 'response', status, reason: 'x', version: '2.0', headers: { via: h.via, from: h.from, to: { ...h.to, params: { tag: 't' } }, 'call-id': h['call-id'], cseq: h.cseq }, content: undefined };
}

function setup(max?: number) {
  const clock = new FakeClock();
  const sender = new RecordingSender(clock);
  const layer = new TransactionLayer({ sender, clock, maxTransactions: max });
  const seen: { st?: ServerTransaction; acks: SipMessage[]; stray: SipMessage[] } = { acks: [], stray: [] };
  const tu: TransactionUser = {
    onRequest: (_r, _rem, st) => {
      seen.st = st;
    },
    onAck: (a) => seen.acks.push(a),
    onStrayResponse: (r) => seen.stray.push(r),
    onBadMessage: () => undefined,
  };
  layer.setUser(tu);
  return { clock, sender, layer, seen };
}

function clientUser() {
  const log: { responses: number[]; failures: ClientFailure[] } = { responses: [], failures: [] };
  return {
    log,
    user: { onResponse: (r: SipMessage) => log.responses.push(r.status!), onFailure: (c: ClientFailure) => log.failures.push(c) },
  };
}

describe('sip/transaction (RFC 3261 §17, T1=500 T2=4000 T4=5000)', () => {
  it('client INVITE over UDP: timer A doubles from T1, timer B ends it at 64*T1', () => {
    const { clock, sender, layer } = setup();
    const { log, user } = clientUser();
    layer.sendRequest(req('INVITE'), { protocol: 'udp', address: '127.0.0.21', port: 5060 }, user);
    clock.advance(40_000);
    expect(sender.times((m) => m.method === 'INVITE')).to.deep.equal([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(log.failures).to.deep.equal(['timeout']);
    expect(layer.clientCount).to.equal(0);
    expect(clock.timerCount).to.equal(0);
  });

  it('client INVITE over TCP: no retransmissions', () => {
    const { clock, sender, layer } = setup();
    const { log, user } = clientUser();
    layer.sendRequest(req('INVITE'), { protocol: 'tcp', address: '127.0.0.21', port: 5060 }, user);
    clock.advance(40_000);
    expect(sender.sent).to.have.length(1);
    expect(log.failures).to.deep.equal(['timeout']);
  });

  it('client INVITE: 1xx stops A; timer C bounds proceeding; a non-2xx final is ACKed (same branch) and its retransmission re-ACKed', () => {
    const { clock, sender, layer } = setup();
    const { log, user } = clientUser();
    const inv = req('INVITE');
    layer.sendRequest(inv, { protocol: 'udp', address: '127.0.0.21', port: 5060 }, user);
    layer.onMessage(resp(inv, 180), UA);
    clock.advance(10_000);
    expect(sender.times((m) => m.method === 'INVITE')).to.deep.equal([0]);
    layer.onMessage(resp(inv, 486), UA);
    layer.onMessage(resp(inv, 486), UA);
    const acks = sender.sent.filter((s) => s.msg.method === 'ACK');
    expect(acks).to.have.length(2);
    expect(acks[0].msg.headers.via![0].params.branch).to.equal(inv.headers.via![0].params.branch);
    expect(log.responses).to.deep.equal([180, 486]);
    clock.advance(32_000); // timer D
    expect(layer.clientCount).to.equal(0);

    const inv2 = req('INVITE', 'z9hG4bKc2');
    const u2 = clientUser();
    layer.sendRequest(inv2, { protocol: 'udp', address: '127.0.0.21', port: 5060 }, u2.user);
    layer.onMessage(resp(inv2, 183), UA);
    clock.advance(180_000);
    expect(u2.log.failures).to.deep.equal(['timer-c']);
    clock.advance(32_000);
    expect(layer.clientCount).to.equal(0);
  });

  it('client non-INVITE: timer E doubles and caps at T2, F ends it; K after the final', () => {
    const { clock, sender, layer } = setup();
    const { log, user } = clientUser();
    layer.sendRequest(req('OPTIONS'), { protocol: 'udp', address: '127.0.0.21', port: 5060 }, user);
    clock.advance(33_000);
    expect(sender.times((m) => m.method === 'OPTIONS')).to.deep.equal([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(log.failures).to.deep.equal(['timeout']);

    const o = req('OPTIONS', 'z9hG4bKo2');
    const u2 = clientUser();
    layer.sendRequest(o, { protocol: 'udp', address: '127.0.0.21', port: 5060 }, u2.user);
    layer.onMessage(resp(o, 200), UA);
    layer.onMessage(resp(o, 200), UA); // retransmission absorbed
    expect(u2.log.responses).to.deep.equal([200]);
    clock.advance(4999);
    expect(layer.clientCount).to.equal(1);
    clock.advance(1);
    expect(layer.clientCount).to.equal(0);
  });

  it('server INVITE: retransmissions absorbed (provisional resent); timer G caps at T2; ACK absorbed; timer I ends it', () => {
    const { clock, sender, layer, seen } = setup();
    const inv = req('INVITE');
    layer.onMessage(inv, UA);
    const st = seen.st!;
    st.respond(resp(inv, 100));
    layer.onMessage(req('INVITE'), UA);
    expect(sender.sent.map((s) => s.msg.status)).to.deep.equal([100, 100]);
    expect(layer.serverCount).to.equal(1);
    st.respond(resp(inv, 486));
    clock.advance(20_000);
    expect(sender.times((m) => m.status === 486)).to.deep.equal([0, 500, 1500, 3500, 7500, 11500, 15500, 19500]);
    layer.onMessage(req('ACK', inv.headers.via![0].params.branch!), UA);
    expect(seen.acks).to.have.length(0); // hop-by-hop ACK absorbed
    clock.advance(4999);
    expect(layer.serverCount).to.equal(1);
    clock.advance(1);
    expect(layer.serverCount).to.equal(0);
    expect(clock.timerCount).to.equal(0);
  });

  it('server INVITE without ACK: timer H at 64*T1; 2xx goes to Accepted (timer L); responses go to received/rport', () => {
    const { clock, sender, layer, seen } = setup();
    const inv = req('INVITE');
    layer.onMessage(inv, { protocol: 'udp', address: '127.0.0.77', port: 40000 });
    expect(inv.headers.via![0].params).to.include({ received: '127.0.0.77', rport: '40000' });
    seen.st!.respond(resp(inv, 500));
    expect(sender.sent[0].dest).to.deep.equal({ protocol: 'udp', address: '127.0.0.77', port: 40000 });
    clock.advance(31_999);
    expect(layer.serverCount).to.equal(1);
    clock.advance(1);
    expect(layer.serverCount).to.equal(0);

    const inv2 = req('INVITE', 'z9hG4bKi2');
    layer.onMessage(inv2, UA);
    seen.st!.respond(resp(inv2, 200));
    layer.onMessage(req('INVITE', 'z9hG4bKi2'), UA); // absorbed, not re-sent
    expect(sender.times((m) => m.status === 200)).to.have.length(1);
    clock.advance(32_000);
    expect(layer.serverCount).to.equal(0);
  });

  it('addressing from the packet: a forged received/rport is replaced or removed; responses never go to a Via-chosen address (RFC 3581 §4)', () => {
    const forged = (via: string) =>
      requestFrom(`OPTIONS sip:bob@example.com SIP/2.0\r\nVia: ${via}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: f-${via.length}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    const src: Remote = { protocol: 'udp', address: '127.0.0.50', port: 40000 };
    // sent-by is the source address: the forged received is removed, the response goes to the source at the sent-by port
    const { layer, sender, seen } = setup();
    const a = forged('SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKf1;received=127.0.0.99');
    layer.onMessage(a, src);
    expect(a.headers.via[0].params).to.not.have.property('received');
    seen.st!.respond(resp(a, 200));
    expect(sender.sent.at(-1)!.dest).to.deep.equal({ protocol: 'udp', address: '127.0.0.50', port: 5070 });
    // rport with a forged value and received: both rewritten from the packet
    const b = forged('SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKf2;received=127.0.0.99;rport=9999');
    layer.onMessage(b, src);
    expect(b.headers.via[0].params).to.include({ received: '127.0.0.50', rport: '40000' });
    seen.st!.respond(resp(b, 200));
    expect(sender.sent.at(-1)!.dest).to.deep.equal({ protocol: 'udp', address: '127.0.0.50', port: 40000 });
    // a TCP Via on a UDP request is answered over UDP, at the source
    const c = forged('SIP/2.0/TCP 127.0.0.99:5070;branch=z9hG4bKf3;rport');
    layer.onMessage(c, src);
    seen.st!.respond(resp(c, 200));
    expect(sender.sent.at(-1)!.dest).to.deep.equal({ protocol: 'udp', address: '127.0.0.50', port: 40000 });
    // over TCP and TLS: the connection; without it the source address at the sent-by port, never the Via host
    const via = c.headers.via[0];
    expect(responseDestination(via, { protocol: 'tcp', address: '127.0.0.50', port: 40001, conn: 7 })).to.deep.equal({ protocol: 'tcp', address: '127.0.0.50', port: 5070, conn: 7 });
    expect(responseDestination({ ...via, port: undefined }, { protocol: 'tcp', address: '127.0.0.50', port: 40001, conn: 8, secure: true })).to.deep.equal({ protocol: 'tls', address: '127.0.0.50', port: 5061, conn: 8 });
  });

  it('server non-INVITE: timer J; a transaction the user never answers ends by itself', () => {
    const { clock, layer, seen } = setup();
    const o = req('OPTIONS');
    layer.onMessage(o, UA);
    seen.st!.respond(resp(o, 200));
    clock.advance(32_000);
    expect(layer.serverCount).to.equal(0);
    layer.onMessage(req('MESSAGE'), UA); // never answered
    layer.onMessage(req('INVITE', 'z9hG4bKnever'), UA); // never answered
    clock.advance(40_000);
    expect(layer.serverCount).to.equal(1);
    clock.advance(180_000);
    expect(layer.serverCount).to.equal(0);
    expect(clock.timerCount).to.equal(0);
  });

  it('bounded tables: above the limit new requests get 503 statelessly', () => {
    const { sender, layer } = setup(2);
    layer.onMessage(req('MESSAGE', 'z9hG4bK1'), UA);
    layer.onMessage(req('MESSAGE', 'z9hG4bK2'), UA);
    layer.onMessage(req('MESSAGE', 'z9hG4bK3'), UA);
    expect(layer.serverCount).to.equal(2);
    expect(sender.sent.map((s) => s.msg.status)).to.deep.equal([503]);
    expect(layer.counters.rejectedTableFull).to.equal(1);
  });

  it('an abandoned client transaction stops retransmitting, reports nothing, and still ends', () => {
    const { clock, sender, layer } = setup();
    const { log, user } = clientUser();
    const inv = req('INVITE');
    const ct = layer.sendRequest(inv, { protocol: 'udp', address: '127.0.0.21', port: 5060 }, user)!;
    ct.abandon();
    layer.onMessage(resp(inv, 180), UA);
    clock.advance(40_000);
    expect(sender.sent).to.have.length(1);
    expect(log.responses).to.deep.equal([]);
    expect(log.failures).to.deep.equal([]);
    expect(layer.clientCount).to.equal(0);
  });

  it('answered transactions shrink to records: J resends the cached final, Accepted forwards 2xx upstream, exact expiry', () => {
    const { clock, sender, layer, seen } = setup();
    // server non-INVITE over UDP: the record resends the same bytes on a retransmission (timer J)
    const bye = req('BYE');
    layer.onMessage(bye, UA);
    seen.st!.respond(resp(bye, 200));
    expect(layer.retiredCount).to.equal(1);
    layer.onMessage(req('BYE'), UA);
    expect(sender.sent.map((x) => x.msg.status)).to.deep.equal([200, 200]);
    expect(sender.sent[1].dest).to.deep.equal(sender.sent[0].dest);
    expect(seen.st!.request).to.equal(bye); // the object is no longer the table's
    // over TCP, J is 0: nothing is kept
    const tbye = req('BYE', 'z9hG4bKtcp', 'TCP');
    layer.onMessage(tbye, { protocol: 'tcp', address: '127.0.0.50', port: 40001, conn: 1 });
    seen.st!.respond(resp(tbye, 200));
    expect(layer.serverCount).to.equal(1);

    // client INVITE: 2xx -> Accepted record; 2xx retransmissions go upstream, anything else is absorbed
    const upstream: Remote = { protocol: 'udp', address: '127.0.0.60', port: 5090 };
    const strays: { status: number; upstream?: Remote }[] = [];
    layer.setUser({ onRequest: () => undefined, onAck: () => undefined, onBadMessage: () => undefined, onStrayResponse: (r, _rem, up) => strays.push({ status: r.status!, upstream: up }) });
    const { log, user } = clientUser();
    const inv = req('INVITE', 'z9hG4bKcli');
    layer.sendRequest(inv, { protocol: 'udp', address: '127.0.0.21', port: 5060 }, user, upstream);
    layer.onMessage(resp(inv, 200), UA);
    expect(log.responses).to.deep.equal([200]);
    layer.onMessage(resp(inv, 200), UA);
    layer.onMessage(resp(inv, 486), UA);
    expect(strays).to.deep.equal([{ status: 200, upstream }]);
    expect(layer.clientCount).to.equal(1);
    expect(layer.retiredCount).to.equal(2);
    clock.advance(31_999);
    expect(layer.serverCount + layer.clientCount).to.equal(2);
    clock.advance(1);
    expect(layer.serverCount + layer.clientCount).to.equal(0);
    expect(layer.retiredCount).to.equal(0);
    expect(clock.timerCount).to.equal(0);
  });

  it('an INVITE answered 2xx is a record that absorbs retransmissions silently and still matches a CANCEL', () => {
    const { sender, layer, seen } = setup();
    const inv = req('INVITE', 'z9hG4bKacc');
    layer.onMessage(inv, UA);
    seen.st!.respond(resp(inv, 200));
    layer.onMessage(req('INVITE', 'z9hG4bKacc'), UA);
    expect(sender.sent.map((x) => x.msg.status)).to.deep.equal([200]);
    expect(layer.findInviteFor(req('CANCEL', 'z9hG4bKacc'))).to.not.equal(undefined);
    expect(layer.pendingServerCount).to.equal(0);
  });
});
