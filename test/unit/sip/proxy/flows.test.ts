/**
 * Flows (sip/proxy/flow-token, sip/proxy/flows) through the proxy core, on a
 * fake clock and an in-memory network: a REGISTER gains Path and the Contact
 * parameter, its 2xx loses the parameter again; a member's request that names
 * a flow goes down it (the connection, the UDP source), to the peer instance
 * that holds it, or gets 403/430; nothing is ever sent to an address the
 * message names.
 */
import { expect } from 'chai';
import sip, { type SipMessage } from 'sip';
import { FakeClock } from '../../../../src/shared/clock.js';
import { silentLogger } from '../../../../src/shared/log.js';
import type { SipRequest } from '../../../../src/sip/codec/codec.js';
import { FlowTokens, parseFlowToken } from '../../../../src/sip/proxy/flow-token.js';
import { flowParamOf, withFlowParam, withoutFlowParam } from '../../../../src/sip/proxy/flows.js';
import { ProxyCore } from '../../../../src/sip/proxy/core.js';
import { TransactionLayer } from '../../../../src/sip/transaction/layer.js';
import type { Remote } from '../../../../src/sip/transport/types.js';
import type { SiteModel } from '../../../../src/zone/types.js';
import { FakeHealth, testSite } from '../../../support/fake-health.js';
import { requestFrom, responseFromPeer } from '../../../support/sip-wire.js';

const SELF = '127.0.0.11';
const PEER = '127.0.0.12';
const A = '127.0.0.21';
const B = '127.0.0.22';
const PHONE_TCP: Remote = { protocol: 'tcp', address: '127.0.0.50', port: 40123, conn: 7 };
const PHONE_UDP: Remote = { protocol: 'udp', address: '127.0.0.51', port: 40999 };

function setup(open = new Set<number>([7])) {
  const clock = new FakeClock();
  const sent: { dest: Remote; msg: SipMessage }[] = [];
  const sender = { send: (dest: Remote, data: Buffer) => void sent.push({ dest, msg: sip.parse(data)! }) };
  const layer = new TransactionLayer({ sender, clock });
  const site = testSite({ address: SELF, port: 5060 }, [
    { address: A, port: 5060 },
    { address: B, port: 5060 },
  ]) as SiteModel;
  const peer = { target: 'proxy2.example.com', port: 5060, priority: 10, weight: 50, transports: ['udp', 'tcp'] as ('udp' | 'tcp')[], addresses: [PEER] };
  (site.pool.members as unknown[]).push(peer);
  const health = new FakeHealth(site.pairs);
  const bound = [{ address: SELF, port: 5060 }];
  const proxy = new ProxyCore({
    site: () => site, health, feedback: health, layer, clock, log: silentLogger, hopTimeoutMs: 500, overloadCtrlDialogRate: 0,
    transport: { bound, localFor: () => bound[0]!, connectionOpen: (c) => open.has(c) },
  });
  layer.setUser(proxy);
  const to = (addr: string, method?: string) => sent.filter((s) => s.dest.address === addr && (!method || s.msg.method === method || s.msg.status !== undefined && !method));
  return { clock, sent, layer, proxy, health, to, open };
}

let n = 0;
function register(contact = '<sip:alice@192.168.1.20:5060;transport=tcp>', extra = ''): SipRequest {
  n++;
  return requestFrom(
    `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20:5060;branch=z9hG4bKr${n};rport\r\n` +
      `From: <sip:alice@example.com>;tag=f${n}\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg${n}\r\nCSeq: 1 REGISTER\r\n` +
      `Contact: ${contact}\r\nExpires: 600\r\n${extra}Content-Length: 0\r\n\r\n`,
  );
}

function invite(ruri: string, route?: string, method = 'INVITE', toTag = ''): SipRequest {
  n++;
  return requestFrom(
    `${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP ${A}:5060;branch=z9hG4bKi${n}\r\n` +
      (route ? `Route: ${route}\r\n` : '') +
      `From: <sip:agent@example.com>;tag=a${n}\r\nTo: <sip:alice@example.com>${toTag}\r\nCall-ID: call${n}\r\nCSeq: 1 ${method}\r\n` +
      `Contact: <sip:agent@${A}:5060>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
  );
}

/** Registers through the core and answers 200 from member A echoing the Contacts; returns what the registrar saw and what the phone got back. */
function registerThrough(ctx: ReturnType<typeof setup>, phone: Remote, contact?: string, extra?: string) {
  ctx.layer.onMessage(register(contact, extra), phone);
  const atA = ctx.to(A, 'REGISTER').at(-1)!.msg;
  const h = atA.headers;
  const ok = { status: 200, reason: 'OK', version: '2.0', headers: { via: h.via, from: h.from, to: h.to, 'call-id': h['call-id'], cseq: h.cseq, contact: h.contact } } as SipMessage;
  ctx.layer.onMessage(responseFromPeer(ok), { protocol: 'udp', address: A, port: 5060 });
  const back = ctx.sent.filter((s) => s.dest.address === phone.address && s.msg.status === 200).at(-1)!.msg;
  const path = sip.stringifyUri((atA.headers.path as { uri: string }[])[0]!.uri);
  const stored = (atA.headers.contact as { uri: string }[])[0]!.uri;
  return { atA, back, path, stored, token: path.slice(4, path.indexOf('@')) };
}

describe('sip/proxy/flow-token', () => {
  it('round-trips IPv4 and IPv6 flows; only the minting process verifies; [A-Za-z0-9_-] only', () => {
    const t = new FlowTokens();
    for (const flow of [
      { protocol: 'tcp' as const, address: '127.0.0.50', port: 40123, conn: 7 },
      { protocol: 'udp' as const, address: '::1', port: 5062, conn: 0 },
      { protocol: 'tls' as const, address: '2001:db8::1:0:0:1', port: 1, conn: 2 ** 32 - 1 },
    ]) {
      const text = t.mint({ address: '::1', port: 5060 }, flow);
      expect(text).to.match(/^[A-Za-z0-9_-]+$/);
      const p = parseFlowToken(text)!;
      expect(p.holder).to.deep.equal({ address: '::1', port: 5060 });
      expect(t.check(p)).to.deep.equal({ ok: true, flow });
      expect(new FlowTokens().check(p)).to.deep.equal({ ok: false });
    }
  });

  it('a token does not verify in a later life of the process, nor once altered anywhere', () => {
    const old = new FlowTokens();
    const text = old.mint({ address: SELF, port: 5060 }, { protocol: 'tcp', address: '127.0.0.50', port: 4000, conn: 3 });
    expect(new FlowTokens().check(parseFlowToken(text)!)).to.deep.equal({ ok: false });
    const bytes = Buffer.from(text, 'base64url');
    for (let i = 1; i < bytes.length; i++) {
      const b = Buffer.from(bytes);
      b[i] ^= i === 1 ? 0x20 : 1; // the flags byte: a bit that keeps the layout readable
      const p = parseFlowToken(b.toString('base64url'));
      if (p) expect(old.check(p), 'byte ' + i).to.deep.equal({ ok: false });
    }
    expect(parseFlowToken('alice')).to.equal(undefined);
    expect(parseFlowToken('x'.repeat(60))).to.equal(undefined);
  });

  it('the Contact parameter is added before URI headers, read, and removed', () => {
    expect(withFlowParam('sip:a@h;transport=tcp?x=1', 'TOK')).to.equal('sip:a@h;transport=tcp;srvflow=TOK?x=1');
    expect(flowParamOf('sip:a@h;SRVFLOW=TOK;lr')).to.equal('TOK');
    expect(withoutFlowParam('sip:a@h;srvflow=TOK;transport=tcp')).to.equal('sip:a@h;transport=tcp');
    expect(flowParamOf('sip:a@h?srvflow=TOK')).to.equal(undefined);
  });
});

describe('sip/proxy/flows through the core', () => {
  it('a REGISTER gains Path with a token and srvflow on its Contact; the 2xx comes back without it, with Flow-Timer for outbound', () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_TCP, '<sip:alice@192.168.1.20:5060;transport=tcp>;reg-id=1;+sip.instance="<urn:uuid:1>"', 'Supported: path, outbound\r\n');
    expect(r.path).to.match(/^sip:[A-Za-z0-9_-]{40,}@sipproxy\.example\.com;lr;ob$/);
    expect(r.stored).to.equal('sip:alice@192.168.1.20:5060;transport=tcp;srvflow=' + r.token);
    expect((r.back.headers.contact as { uri: string }[])[0]!.uri).to.equal('sip:alice@192.168.1.20:5060;transport=tcp');
    expect(r.back.headers['flow-timer']).to.equal('90');
    expect(r.atA.headers.supported).to.equal('path, outbound');
    expect(ctx.proxy.flows.heldByTransport()).to.deep.equal({ udp: 0, tcp: 1, tls: 0 });
  });

  for (const mode of ['Path', 'Contact'] as const) {
    it(`a member's INVITE by ${mode} goes down the TCP connection, never to the Contact's address; Record-Route carries the token`, () => {
      const ctx = setup();
      const r = registerThrough(ctx, PHONE_TCP);
      const inv = mode === 'Path' ? invite(withoutFlowParam(r.stored), '<' + r.path + '>') : invite(r.stored);
      ctx.layer.onMessage(inv, { protocol: 'udp', address: A, port: 5060 });
      const down = ctx.sent.filter((s) => s.msg.method === 'INVITE');
      expect(down).to.have.length(1);
      expect(down[0]!.dest).to.deep.include({ protocol: 'tcp', address: PHONE_TCP.address, port: PHONE_TCP.port, conn: 7, flow: true });
      expect(down[0]!.msg.uri).to.equal('sip:alice@192.168.1.20:5060;transport=tcp');
      expect(down[0]!.msg.headers.route).to.equal(undefined);
      expect(sip.stringifyUri(down[0]!.msg.headers['record-route']![0]!.uri!)).to.equal(`sip:${r.token}@sipproxy.example.com;lr;pair=tserver.example.com`);
      expect(ctx.proxy.flows.counters.requests).to.equal(1);
    });
  }

  it('a UDP phone behind NAT is reached at the source address and port as seen', () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_UDP, '<sip:bob@10.1.1.1:5060>');
    expect(r.back.headers['flow-timer']).to.equal(undefined); // no Supported: outbound
    expect(r.atA.headers.supported, 'Path declared supported (registrars in a strict Path mode)').to.equal('path');
    ctx.layer.onMessage(invite(r.stored), { protocol: 'udp', address: A, port: 5060 });
    const down = ctx.sent.filter((s) => s.msg.method === 'INVITE');
    expect(down.map((d) => [d.dest.protocol, d.dest.address, d.dest.port])).to.deep.equal([['udp', PHONE_UDP.address, PHONE_UDP.port]]);
    expect(ctx.sent.some((s) => s.dest.address === '10.1.1.1')).to.equal(false);
  });

  it('a closed connection: 430 at once, nothing sent', () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_TCP);
    ctx.open.delete(7);
    const before = ctx.sent.length;
    ctx.layer.onMessage(invite(r.stored), { protocol: 'udp', address: A, port: 5060 });
    const out = ctx.sent.slice(before);
    expect(out.map((s) => [s.dest.address, s.msg.status])).to.deep.equal([[A, 430]]);
    expect(out[0]!.msg.reason).to.equal('Flow Failed');
    expect(ctx.proxy.flows.counters.failed).to.equal(1);
    expect(ctx.proxy.flows.heldByTransport().tcp).to.equal(0);
  });

  it('forged and altered tokens, in the Request-URI or in our Route: 403, counted, nothing sent anywhere else', () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_TCP);
    const b = Buffer.from(r.token, 'base64url');
    b[b.length - 1] ^= 1;
    const other = new FlowTokens().mint({ address: SELF, port: 5060 }, { protocol: 'udp', address: '127.0.0.99', port: 9, conn: 0 });
    const stranger = new FlowTokens().mint({ address: '127.0.0.98', port: 5060 }, { protocol: 'udp', address: '127.0.0.99', port: 9, conn: 0 });
    const before = ctx.sent.length;
    const bad = [b.toString('base64url'), other, stranger, 'not-a-token'];
    for (const tok of bad) ctx.layer.onMessage(invite('sip:alice@127.0.0.99:9;srvflow=' + tok), { protocol: 'udp', address: A, port: 5060 });
    for (const tok of bad) ctx.layer.onMessage(invite('sip:alice@127.0.0.99:9', `<sip:${tok}@sipproxy.example.com;lr>`), { protocol: 'udp', address: A, port: 5060 });
    const out = ctx.sent.slice(before);
    expect(out.map((s) => [s.dest.address, s.msg.status])).to.deep.equal(Array(8).fill([A, 403]));
    expect(ctx.proxy.flows.counters.tokenFailures).to.equal(8);
  });

  it("a phone's own request naming a flow is routed to its pair, not down the flow", () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_TCP);
    ctx.layer.onMessage(invite(r.stored), PHONE_UDP);
    expect(ctx.sent.filter((s) => s.msg.method === 'INVITE').map((s) => s.dest.address)).to.deep.equal([A]);
  });

  it("a token held by the peer instance is relayed to it with a Route naming it; silence for a hop period: 430", () => {
    const ctx = setup();
    const tok = new FlowTokens().mint({ address: PEER, port: 5060 }, { protocol: 'tcp', address: '127.0.0.50', port: 4000, conn: 3 });
    ctx.layer.onMessage(invite('sip:alice@10.0.0.1;srvflow=' + tok), { protocol: 'udp', address: A, port: 5060 });
    const relayed = ctx.sent.filter((s) => s.msg.method === 'INVITE');
    expect(relayed.map((s) => [s.dest.protocol, s.dest.address, s.dest.port])).to.deep.equal([['udp', PEER, 5060]]);
    expect(sip.stringifyUri(relayed[0]!.msg.headers.route![0]!.uri!)).to.equal(`sip:${tok}@${PEER}:5060;lr`);
    expect(sip.stringifyUri(relayed[0]!.msg.headers['record-route']![0]!.uri!)).to.equal(`sip:${tok}@sipproxy.example.com;lr;pair=tserver.example.com`);
    ctx.clock.advance(600);
    expect(ctx.sent.filter((s) => s.dest.address === A && s.msg.status === 430)).to.have.length(1);
  });

  it('a relay to a withdrawn peer: 430 at once', () => {
    const ctx = setup();
    ctx.health.unhealthy.add('proxy2.example.com');
    const tok = new FlowTokens().mint({ address: PEER, port: 5060 }, { protocol: 'udp', address: '127.0.0.50', port: 4000, conn: 0 });
    ctx.layer.onMessage(invite('sip:alice@10.0.0.1;srvflow=' + tok), { protocol: 'udp', address: A, port: 5060 });
    expect(ctx.sent.filter((s) => s.msg.method === 'INVITE')).to.have.length(0);
    expect(ctx.sent.filter((s) => s.dest.address === A).map((s) => s.msg.status)).to.include(430);
  });

  it('a request relayed by the peer instance goes down the flow held here, without a second Record-Route', () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_TCP);
    n++;
    const relayed = requestFrom(
      `INVITE sip:alice@192.168.1.20:5060;transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP ${PEER}:5060;branch=z9hG4bKp${n}\r\nVia: SIP/2.0/UDP ${A}:5060;branch=z9hG4bKa${n}\r\n` +
        `Route: <sip:${r.token}@${SELF}:5060;lr>\r\nRecord-Route: <sip:${r.token}@sipproxy.example.com;lr;pair=tserver.example.com>\r\n` +
        `From: <sip:agent@example.com>;tag=p${n}\r\nTo: <sip:alice@example.com>\r\nCall-ID: relay${n}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n`,
    );
    ctx.layer.onMessage(relayed, { protocol: 'udp', address: PEER, port: 5060 });
    const down = ctx.sent.filter((s) => s.msg.method === 'INVITE');
    expect(down.map((s) => s.dest.conn)).to.deep.equal([7]);
    expect(down[0]!.msg.headers['record-route']).to.have.length(1);
  });

  it('an in-dialog BYE from the member by the Record-Route goes down the flow; an ACK for a 2xx too', () => {
    const ctx = setup();
    const r = registerThrough(ctx, PHONE_TCP);
    const rr = `<sip:${r.token}@sipproxy.example.com;lr;pair=tserver.example.com>`;
    ctx.layer.onMessage(invite('sip:alice@192.168.1.20:5060;transport=tcp', rr, 'BYE', ';tag=ph1'), { protocol: 'udp', address: A, port: 5060 });
    ctx.layer.onMessage(invite('sip:alice@192.168.1.20:5060;transport=tcp', rr, 'ACK', ';tag=ph1'), { protocol: 'udp', address: A, port: 5060 });
    const down = ctx.sent.filter((s) => s.msg.method === 'BYE' || s.msg.method === 'ACK');
    expect(down.map((s) => [s.msg.method, s.dest.conn])).to.deep.equal([['BYE', 7], ['ACK', 7]]);
  });

  it('a TCP phone that places a call gets a Record-Route with its token; a UDP phone at its Contact does not', () => {
    const ctx = setup();
    n++;
    const call = (remote: Remote, contact: string) =>
      requestFrom(
        `INVITE sip:agent@example.com SIP/2.0\r\nVia: SIP/2.0/${remote.protocol.toUpperCase()} ${remote.address}:${remote.port};branch=z9hG4bKc${n++}\r\n` +
          `From: <sip:alice@example.com>;tag=c${n}\r\nTo: <sip:agent@example.com>\r\nCall-ID: out${n}\r\nCSeq: 1 INVITE\r\nContact: <${contact}>\r\nContent-Length: 0\r\n\r\n`,
      );
    ctx.layer.onMessage(call(PHONE_TCP, 'sip:alice@192.168.1.20:5060;transport=tcp'), PHONE_TCP);
    ctx.layer.onMessage(call(PHONE_UDP, `sip:alice@${PHONE_UDP.address}:${PHONE_UDP.port}`), PHONE_UDP);
    const rrs = ctx.sent.filter((s) => s.msg.method === 'INVITE').map((s) => sip.stringifyUri(s.msg.headers['record-route']![0]!.uri!));
    expect(rrs[0]).to.match(/^sip:[A-Za-z0-9_-]{40,}@sipproxy\.example\.com;lr;pair=tserver\.example\.com$/);
    expect(rrs[1]).to.equal('sip:sipproxy.example.com;lr;pair=tserver.example.com');
  });
});
