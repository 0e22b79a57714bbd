/**
 * Flows end to end (RFC 5626, RFC 3327): phones that register through
 * instance A are called by the pair's member through instance B, and reached
 * over the flow they registered on. The site is test/support/flow-site (two
 * instances, real CLI processes; the pair's active member is the registrar
 * stand-in of test/support/flow-peers). The phones: TCP from an ephemeral
 * port that never listens; TLS; UDP behind a "NAT" (socket on 127.0.0.73,
 * Via and Contact naming 127.0.0.1 at a trap port where a UDP socket and a
 * TCP server count what arrives and never answer). With a registrar that
 * honours Path (INVITE: Route = stored Path, R-URI = stored Contact) and one
 * that ignores it (R-URI = stored Contact, no Route), each phone gets the
 * member's INVITE on its flow and its 486 reaches the member. Also: the
 * 200 to REGISTER shows the phone its own Contact; a call answered 200 is
 * ended by the member's BYE, which reaches the phone over the flow;
 * CRLFCRLF gets CRLF, STUN gets a binding response; forged and altered
 * tokens get 403, are counted, and send nothing to the trap or down the
 * flow; once the TCP phone has closed its connection, the next INVITE gets
 * 430 within 100 ms.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  isFinal, isRequest, isResponse, newBranch, StreamPhone, Trap, UdpPhone, uriOf, uriParam,
  type Binding, type Endpoint, type FlowTransport, type Msg, type Phone,
} from '../../support/flow-peers.js';
import { metric, POOL, startFlowSite, status, type FlowInstance, type FlowSite } from '../../support/flow-site.js';
import { eventually, sleep } from '../../support/processes.js';

const TOKEN = /^[A-Za-z0-9_-]{1,80}$/;
const TRANSPORTS: FlowTransport[] = ['tcp', 'tls', 'udp'];
const PHONE_ADDRESS: Record<FlowTransport, string> = { tcp: '127.0.0.71', tls: '127.0.0.72', udp: '127.0.0.73' };

interface Phones {
  tcp: StreamPhone;
  tls: StreamPhone;
  udp: UdpPhone;
}

const sipOf = (i: FlowInstance): Endpoint => ({ address: i.address, port: i.sipPort });

/** The flow token of a Path value `<sip:TOKEN@POOL;lr...>`, or undefined when it is not of that form. */
function pathToken(p: string): string | undefined {
  const u = uriOf(p);
  const m = /^sip:([^@;>]+)@([^;:>]+)(;.*)?$/i.exec(u);
  if (!m || m[2]!.toLowerCase() !== POOL || uriParam(u, 'lr') === undefined) return undefined;
  return m[1];
}

/** The individual values of name-addr headers (Record-Route, Path) split on commas between entries. */
function entries(values: string[]): string[] {
  return values.flatMap((v) => v.match(/<[^>]*>[^,]*/g) ?? []).map((s) => s.trim());
}

describe('e2e: flows — phones on TCP, TLS and behind NAT get their calls over the flow they registered on, through any instance', function () {
  this.timeout(60_000);
  let site: FlowSite;
  /** 127.0.0.1 at a port: the UDP phone's advertised (private) address, and where forged requests point. */
  let trap: Trap;
  const open: Phone[] = [];

  before(async function () {
    this.timeout(40_000);
    trap = new Trap('127.0.0.1');
    await trap.start();
    site = await startFlowSite();
  });

  after(async () => {
    await Promise.all(open.map((p) => p.close()));
    await site?.stop();
    await trap?.stop();
  });

  async function openPhones(tag: string): Promise<Phones> {
    const a = site.a;
    const tcp = await StreamPhone.open('tcp', `tcp-${tag}`, PHONE_ADDRESS.tcp, sipOf(a));
    open.push(tcp);
    const tls = await StreamPhone.open('tls', `tls-${tag}`, PHONE_ADDRESS.tls, { address: a.address, port: a.tlsPort! }, site.certs.ca.cert);
    open.push(tls);
    const udp = await UdpPhone.open(`udp-${tag}`, PHONE_ADDRESS.udp, sipOf(a), { address: trap.address, port: trap.port });
    open.push(udp);
    return { tcp, tls, udp };
  }

  async function closePhones(p: Phones | undefined): Promise<void> {
    if (p) await Promise.all([p.tcp.close(), p.tls.close(), p.udp.close()]);
  }

  /** Sends the member's INVITE to `via`; resolves with the final response (ACKed when non-2xx) and the elapsed time. */
  async function memberInvite(b: Binding, via: FlowInstance, o: { route?: string[]; ruri?: string } = {}): Promise<{ res: Msg; callId: string; text: string; ms: number }> {
    const req = site.member.requestTo(b, o);
    const t0 = performance.now();
    site.member.send(req.text, sipOf(via));
    const res = await site.member.inbox.waitFor(isFinal(req.callId), 4000, `final response to the INVITE ${req.callId}`);
    if (res.status! >= 300) site.member.send(site.member.ackFor(req.text, res), sipOf(via));
    return { res, callId: req.callId, text: req.text, ms: res.receivedAt - t0 };
  }

  // counted per test, so that one test's stray request does not fail the next ones
  let trapMark = { datagrams: 0, connections: 0 };
  beforeEach(async () => {
    trapMark = { datagrams: trap.datagrams, connections: trap.connections };
    // a relay goes only to a peer the instance sees healthy (a withdrawn one means 430 by design): on a
    // loaded machine a probe every 0.5 s can miss, so each test starts once both see each other again
    await eventually(
      async () => {
        const [a, b] = await Promise.all([status(site.a), status(site.b)]);
        return a.pool.members.every((m) => m.healthy) && b.pool.members.every((m) => m.healthy);
      },
      8000,
      'A and B see each other healthy',
    );
  });
  const trapQuiet = () =>
    expect({ datagrams: trap.datagrams - trapMark.datagrams, connections: trap.connections - trapMark.connections }, 'what reached the trap (the Contact / forged address) during this test')
      .to.deep.equal({ datagrams: 0, connections: 0 });

  for (const mode of ['path', 'nopath'] as const) {
    describe(`with a registrar that ${mode === 'path' ? 'honours' : 'ignores'} Path`, () => {
      let phones: Phones | undefined;
      const ok = {} as Record<FlowTransport, Msg>;

      before(async () => {
        site.member.mode = mode;
        phones = await openPhones(mode);
        for (const t of TRANSPORTS) ok[t] = await phones[t].register();
      });

      after(() => closePhones(phones));

      it('each REGISTER reaches the registrar through A; the 200 comes back on the flow showing the phone its own Contact (no srvflow)', () => {
        for (const t of TRANSPORTS) {
          const p = phones![t];
          const r = ok[t];
          expect(r.status, `${t}: final response to REGISTER`).to.equal(200);
          const contacts = r.get('contact');
          expect(contacts, `${t}: Contact of the 200`).to.have.length(1);
          expect(contacts[0], `${t}: Contact of the 200`).to.not.match(/srvflow/i);
          expect(uriOf(contacts[0]!), `${t}: Contact URI of the 200`).to.equal(p.contactUri);
          expect(contacts[0]!.replace(/;expires=3600$/, ''), `${t}: Contact of the 200 (the registrar adds ;expires)`).to.equal(p.contact);
          const reg = site.member.binding(p.user).register;
          expect(reg.source.address, `${t}: the REGISTER came from instance A`).to.equal(site.a.address);
        }
        expect(ok.udp.source, 'the 200 reached the UDP phone from A\'s SIP port').to.deep.equal(sipOf(site.a));
        trapQuiet();
      });

      it(`the registrar ${mode === 'path' ? 'stored a Path with a flow token, and' : 'ignored the Path but'} stored a Contact that carries the flow (srvflow)`, () => {
        for (const t of TRANSPORTS) {
          const p = phones![t];
          const b = site.member.binding(p.user);
          const paths = b.register.get('path');
          expect(paths, `${t}: Path headers of the REGISTER at the registrar`).to.have.length(1);
          const pt = pathToken(paths[0]!);
          expect(pt, `${t}: Path ${paths[0]} is <sip:TOKEN@${POOL};lr>`).to.be.a('string');
          expect(pt).to.match(TOKEN);
          expect(b.contacts, `${t}: stored Contacts`).to.have.length(1);
          const stored = uriOf(b.contacts[0]!);
          const tok = uriParam(stored, 'srvflow');
          expect(tok, `${t}: srvflow in the stored Contact ${stored}`).to.be.a('string');
          expect(tok).to.match(TOKEN);
          // the rest of the Contact URI is the phone's own
          expect(stored.replace(/;srvflow=[^;>?]*/i, ''), `${t}: stored Contact without srvflow`).to.equal(p.contactUri);
          expect(b.path, `${t}: Path stored by the registrar`).to.have.length(mode === 'path' ? 1 : 0);
        }
      });

      for (const t of TRANSPORTS) {
        it(`${t}: the member's INVITE through B (${mode === 'path' ? 'Route = stored Path' : 'R-URI = stored Contact, no Route'}) reaches the phone on its flow; its 486 reaches the member`, async () => {
          const p = phones![t];
          const b = site.member.binding(p.user);
          if (mode === 'path') expect(b.path, 'Route of the INVITE (the stored Path)').to.have.length(1);
          const call = await memberInvite(b, site.b);
          expect(call.res.status, `final response at the member: ${call.res.start}`).to.equal(486);
          const got = await p.inbox.waitFor(isRequest('INVITE', call.callId), 100, 'the INVITE (already received when the 486 came)');
          expect(got.uri, 'Request-URI at the phone: its own Contact URI, srvflow removed').to.equal(p.contactUri);
          if (t === 'udp') expect(got.source, 'the INVITE came from A\'s SIP port to the phone\'s real socket').to.deep.equal(sipOf(site.a));
          await p.inbox.waitFor(isRequest('ACK', call.callId), 3000, 'the ACK for its 486 on its flow');
          trapQuiet();
        });
      }
    });
  }

  describe('a call answered by the phone: the member\'s ACK and BYE follow the Record-Route down the flow', () => {
    let phones: Phones | undefined;
    before(async () => {
      site.member.mode = 'path';
      phones = await openPhones('call');
      for (const t of TRANSPORTS) {
        const r = await phones[t].register();
        expect(r.status, `${t}: REGISTER`).to.equal(200);
        phones[t].policy = 200;
      }
    });
    after(() => closePhones(phones));

    for (const t of TRANSPORTS) {
      it(`${t}: INVITE through B, 200 from the phone; ACK and BYE from the member through B reach the phone on its flow; BYE 200 reaches the member`, async () => {
        const p = phones![t];
        const m = site.member;
        const b = m.binding(p.user);
        const inv = m.requestTo(b);
        m.send(inv.text, sipOf(site.b));
        const ok = await m.inbox.waitFor(isFinal(inv.callId), 4000, 'final response to the INVITE');
        if (ok.status! >= 300) m.send(m.ackFor(inv.text, ok), sipOf(site.b));
        expect(ok.status, `final response at the member: ${ok.start}`).to.equal(200);
        await p.inbox.waitFor(isRequest('INVITE', inv.callId), 100, 'the INVITE (already received when the 200 came)');
        const rr = entries(ok.get('record-route'));
        expect(rr.length, 'Record-Route of the 200').to.be.greaterThan(0);
        const toTag = /;\s*tag=([^;\s]+)/.exec(ok.get('to')[0] ?? '')![1]!;
        const target = uriOf(ok.get('contact')[0] ?? '');
        expect(target, 'remote target (Contact of the 200)').to.equal(p.contactUri);
        const route = rr.slice().reverse(); // UAC route set: Record-Route in reverse order (RFC 3261 §12.1.2)
        const inDialog = (method: string, cseq: number) =>
          m.requestTo(b, { method, callId: inv.callId, fromTag: inv.fromTag, toTag, cseq, ruri: target, route, branch: newBranch() });
        m.send(inDialog('ACK', 1).text, sipOf(site.b));
        await p.inbox.waitFor(isRequest('ACK', inv.callId), 3000, `ACK for the 200 on its flow (Route ${route.join(', ')})`);
        m.send(inDialog('BYE', 2).text, sipOf(site.b));
        const bye = await p.inbox.waitFor(isRequest('BYE', inv.callId), 3000, `BYE on its flow (Route ${route.join(', ')})`);
        expect(bye.uri, 'Request-URI of the BYE at the phone').to.equal(p.contactUri);
        if (t === 'udp') expect(bye.source, 'the BYE came from A\'s SIP port').to.deep.equal(sipOf(site.a));
        await m.inbox.waitFor(isResponse(200, inv.callId, 'BYE'), 3000, '200 to the BYE at the member');
        trapQuiet();
      });
    }
  });

  describe('keepalives, forged tokens, metrics, and a flow that is gone', () => {
    let phones: Phones | undefined;
    /** Tokens of flows held by A (path tokens, one per phone). */
    const tokensA: string[] = [];
    let tokenB = '';
    let viaB: UdpPhone | undefined;
    const regs = {} as Record<FlowTransport, Msg>;

    before(async () => {
      site.member.mode = 'path';
      phones = await openPhones('edge');
      // TCP and UDP phones support outbound (RFC 5626): Supported: outbound, reg-id and +sip.instance
      for (const t of ['tcp', 'udp'] as const) {
        const p = phones[t];
        p.contact += `;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-4000-8000-00000000000${t === 'tcp' ? 1 : 2}>"`;
        p.registerExtra = ['Supported: outbound, path'];
      }
      for (const t of TRANSPORTS) {
        regs[t] = await phones[t].register();
        expect(regs[t].status, `${t}: REGISTER`).to.equal(200);
        const pt = pathToken(site.member.binding(phones[t].user).path[0] ?? '');
        if (pt) tokensA.push(pt);
      }
      // one phone registered through B: a token minted by the other instance
      viaB = await UdpPhone.open('udp-via-b', '127.0.0.74', sipOf(site.b), { address: '127.0.0.74', port: 5060 });
      open.push(viaB);
      const r = await viaB.register();
      expect(r.status, 'REGISTER through B').to.equal(200);
      tokenB = pathToken(site.member.binding(viaB.user).path[0] ?? '') ?? '';
    });

    after(async () => {
      await closePhones(phones);
      await viaB?.close();
    });

    it('Flow-Timer in the 200 to an outbound REGISTER (90 on TCP, 25 on UDP); ;ob in the Path; the 200 still shows the phone its own Contact', () => {
      expect(regs.tcp.get('flow-timer').map((v) => v.trim()), 'Flow-Timer to the TCP phone').to.deep.equal(['90']);
      expect(regs.udp.get('flow-timer').map((v) => v.trim()), 'Flow-Timer to the UDP phone').to.deep.equal(['25']);
      expect(regs.tls.get('flow-timer'), 'no Flow-Timer without Supported: outbound').to.deep.equal([]);
      for (const t of ['tcp', 'udp'] as const) {
        const path = site.member.binding(phones![t].user).path;
        expect(path, `${t}: stored Path`).to.have.length(1);
        expect(uriParam(uriOf(path[0]!), 'ob'), `${t}: ;ob in ${path[0]}`).to.be.a('string');
        const c = regs[t].get('contact');
        expect(c, `${t}: Contact of the 200`).to.have.length(1);
        expect(c[0]).to.not.match(/srvflow/i);
        expect(uriOf(c[0]!)).to.equal(phones![t].contactUri);
        expect(c[0]!.replace(/;expires=3600$/, ''), `${t}: Contact of the 200 (the registrar adds ;expires)`).to.equal(phones![t].contact);
      }
    });

    it('CRLFCRLF on the TCP and the TLS flow is answered with CRLF', async () => {
      for (const p of [phones!.tcp, phones!.tls]) {
        const before = p.pongs;
        p.write('\r\n\r\n');
        const start = Date.now();
        while (p.pongs === before && Date.now() - start < 2000) await sleep(10);
        expect(p.pongs, `${p.transport}: CRLF pongs`).to.equal(before + 1);
      }
    });

    it('a STUN binding request on the SIP UDP port gets a binding success response with the phone\'s address as seen', async () => {
      const udp = phones!.udp;
      const txid = randomBytes(12);
      const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), txid]);
      const waiting = udp.nextBinary(2000);
      udp.sendBytes(req);
      const { data } = await waiting;
      expect(data.readUInt16BE(0), 'message type: Binding Success Response').to.equal(0x0101);
      expect(data.readUInt32BE(4), 'magic cookie').to.equal(0x2112a442);
      expect(data.subarray(8, 20).equals(txid), 'transaction id').to.equal(true);
      // XOR-MAPPED-ADDRESS (0x0020): family 1, port ^ 0x2112, address ^ 0x2112a442
      let at = 20;
      let mapped: string | undefined;
      while (at + 4 <= data.length) {
        const type = data.readUInt16BE(at);
        const len = data.readUInt16BE(at + 2);
        if (type === 0x0020 && data[at + 5] === 0x01) {
          const port = data.readUInt16BE(at + 6) ^ 0x2112;
          const addr = data.readUInt32BE(at + 8) ^ 0x2112a442;
          mapped = `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}:${port}`;
        }
        at += 4 + len + ((4 - (len % 4)) % 4);
      }
      expect(mapped, 'XOR-MAPPED-ADDRESS').to.equal(`${udp.address}:${udp.localPort}`);
    });

    it('flows held and requests sent down flows show in /metrics and /status', async () => {
      for (const t of TRANSPORTS) {
        expect(await metric(site.a, 'srvproxy_sip_flows', `transport="${t}"`), `A: srvproxy_sip_flows{transport="${t}"}`).to.be.at.least(1);
      }
      expect(await metric(site.b, 'srvproxy_sip_flows', 'transport="udp"'), 'B: srvproxy_sip_flows{transport="udp"}').to.be.at.least(1);
      // the calls of the earlier tests went down flows held by A
      expect(await metric(site.a, 'srvproxy_sip_flow_requests_total'), 'A: srvproxy_sip_flow_requests_total').to.be.at.least(1);
      const s = await status(site.a);
      expect(s.flows, `A: /status flows (top-level keys: ${Object.keys(s).join(', ')})`).to.be.an('object');
      expect(s.flows, 'A: /status flows').to.include.keys('held', 'requests', 'failed', 'tokenFailures');
      for (const t of TRANSPORTS) expect(s.flows!.held[t], `A: /status flows.held.${t}`).to.be.at.least(1);
      expect(s.flows!.requests, 'A: /status flows.requests').to.be.at.least(1);
    });

    it('the UDP phone registered through B gets a call sent through A (a token minted by the other instance)', async () => {
      const b = site.member.binding(viaB!.user);
      const call = await memberInvite(b, site.a);
      expect(call.res.status, `final response at the member: ${call.res.start}`).to.equal(486);
      const got = await viaB!.inbox.waitFor(isRequest('INVITE', call.callId), 100, 'the INVITE');
      expect(got.source, 'from B\'s SIP port').to.deep.equal(sipOf(site.b));
      trapQuiet();
    });

    it('forged, altered and re-addressed tokens get 403 through either instance, are counted, and send nothing to the trap or down any flow', async function () {
      this.timeout(150_000);
      expect(tokensA.length, 'tokens of flows held by A').to.equal(3);
      expect(tokenB, 'token of the flow held by B').to.match(TOKEN);
      const genuine = tokensA[0]!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const flip = (tok: string, i: number) => tok.slice(0, i) + alphabet[(alphabet.indexOf(tok[i]!) + 1) % 64] + tok.slice(i + 1);
      const forged: { what: string; token: string }[] = [
        { what: 'first character flipped', token: flip(genuine, 0) },
        { what: 'middle character flipped', token: flip(genuine, genuine.length >> 1) },
        { what: 'last character flipped', token: flip(genuine, genuine.length - 1) },
        { what: 'made up', token: randomBytes(Math.ceil((genuine.length * 3) / 4)).toString('base64url').slice(0, genuine.length) },
        ...readdressed(genuine, sipOf(site.a), [
          { name: "B's address and port", to: sipOf(site.b) },
          { name: "the trap's address and port", to: { address: trap.address, port: trap.port } },
        ]),
      ];
      const victim = `sip:victim@${trap.address}:${trap.port}`;
      const failures = async () => ((await metric(site.a, 'srvproxy_sip_flow_token_failures_total')) ?? NaN) + ((await metric(site.b, 'srvproxy_sip_flow_token_failures_total')) ?? NaN);
      const failuresBefore = await failures();
      const b = site.member.binding(phones!.tcp.user);
      const sent: string[] = [];
      const rows: string[] = [];
      if (forged.length < 6) rows.push(`info: A's address and port not found in its token's bytes: no re-addressed tokens`);
      let bad = 0;
      for (const f of forged) {
        expect(f.token, `${f.what}: differs from every genuine token`).to.not.be.oneOf([...tokensA, tokenB]);
        for (const via of [site.b, site.a]) {
          for (const form of ['route', 'ruri', 'ruri-tcp'] as const) {
            const o = form === 'route'
              ? { route: [`<sip:${f.token}@${POOL};lr>`], ruri: victim }
              : { route: [], ruri: `${victim}${form === 'ruri-tcp' ? ';transport=tcp' : ''};srvflow=${f.token}` };
            const req = site.member.requestTo(b, o);
            sent.push(req.callId);
            site.member.send(req.text, sipOf(via));
            let outcome: string;
            try {
              const res = await site.member.inbox.waitFor(isFinal(req.callId), 1500, 'final');
              site.member.send(site.member.ackFor(req.text, res), sipOf(via));
              outcome = res.start.replace('SIP/2.0 ', '');
            } catch {
              outcome = 'no final response in 1.5 s';
            }
            await sleep(20);
            const reached = trap.saw(req.callId);
            const ok = outcome === '403 Invalid Flow Token' && !reached;
            if (!ok) bad++;
            rows.push(`${ok ? 'ok  ' : 'FAIL'} ${f.what} (${f.token}), ${form}, through ${via.name}: ${outcome}${reached ? '; REACHED THE TRAP' : ''}`);
          }
        }
      }
      const moved = (await failures()) - failuresBefore;
      const table = rows.join('\n');
      expect(bad, `requests with a forged token not answered 403 Invalid Flow Token, or that reached the trap (token failures counted: ${moved}):\n${table}\n`).to.equal(0);
      await sleep(300);
      trapQuiet();
      for (const p of [phones!.tcp, phones!.tls, phones!.udp, viaB!]) {
        expect(p.inbox.all.filter((m) => m.callId && sent.includes(m.callId)).map((m) => m.start), `${p.transport} phone ${p.user}: forged requests that reached it`).to.deep.equal([]);
      }
      expect(moved, 'srvproxy_sip_flow_token_failures_total (A + B) moved by').to.be.at.least(forged.length * 6);
    });

    it('after the TCP phone closes its connection, the next INVITE gets 430 within 100 ms (through B and through A)', async function () {
      const p = phones!.tcp;
      const b = site.member.binding(p.user);
      await p.close();
      await sleep(200);
      const failedBefore = ((await metric(site.a, 'srvproxy_sip_flow_failed_total')) ?? NaN) + ((await metric(site.b, 'srvproxy_sip_flow_failed_total')) ?? NaN);
      const viaRoute = await memberInvite(b, site.b);
      expect(viaRoute.res.start, 'Route = stored Path, through B').to.equal('SIP/2.0 430 Flow Failed');
      expect(viaRoute.ms, 'ms from the INVITE to the 430, through B').to.be.below(100);
      const viaRuri = await memberInvite(b, site.a, { route: [] });
      expect(viaRuri.res.start, 'R-URI = stored Contact, through A').to.equal('SIP/2.0 430 Flow Failed');
      expect(viaRuri.ms, 'ms from the INVITE to the 430, through A').to.be.below(100);
      const failedAfter = ((await metric(site.a, 'srvproxy_sip_flow_failed_total')) ?? NaN) + ((await metric(site.b, 'srvproxy_sip_flow_failed_total')) ?? NaN);
      expect(failedAfter - failedBefore, 'srvproxy_sip_flow_failed_total (A + B) moved by').to.be.at.least(2);
      this.test!.title += ` [measured: ${viaRoute.ms.toFixed(1)} ms through B, ${viaRuri.ms.toFixed(1)} ms through A]`;
    });

    it('the instance holding the flow is dead: 430 through the other (within the hop timeout at first, at once once it is withdrawn)', async function () {
      const b = site.member.binding(phones!.udp.user);
      await site.a.proc.kill();
      const first = await memberInvite(b, site.b);
      expect(first.res.start, 'just after the holder died').to.equal('SIP/2.0 430 Flow Failed');
      expect(first.ms, 'ms to the 430 just after the holder died (hop timeout 500 ms)').to.be.below(1500);
      await eventually(async () => (await status(site.b)).pool.members.some((m) => m.target === site.a.fqdn && !m.healthy), 8000, 'B sees A down');
      const later = await memberInvite(b, site.b, { route: [] });
      expect(later.res.start, 'once B sees the holder down').to.equal('SIP/2.0 430 Flow Failed');
      expect(later.ms, 'ms to the 430 once B sees the holder down').to.be.below(100);
      this.test!.title += ` [measured: ${first.ms.toFixed(0)} ms, then ${later.ms.toFixed(1)} ms]`;
    });
  });
});

/**
 * Tokens made from `token` (held by `holder`) by writing another address and port where the
 * holder's are: the holder's IPv4 address (4 bytes) and SIP port (2 bytes, big-endian) are looked
 * for in the token's bytes; the MAC is left as it was. None when they are not found there.
 */
function readdressed(token: string, holder: Endpoint, to: { name: string; to: Endpoint }[]): { what: string; token: string }[] {
  const bytes = Buffer.from(token, 'base64url');
  const addr = Buffer.from(holder.address.split('.').map(Number));
  const port = Buffer.alloc(2);
  port.writeUInt16BE(holder.port);
  const at = bytes.indexOf(addr);
  const pat = bytes.indexOf(port);
  if (at < 0 || pat < 0) return [];
  return to.map((t) => {
    const b = Buffer.from(bytes);
    Buffer.from(t.to.address.split('.').map(Number)).copy(b, at);
    b.writeUInt16BE(t.to.port, pat);
    return { what: `A's token naming ${t.name} (address at byte ${at}, port at byte ${pat})`, token: b.toString('base64url') };
  });
}
