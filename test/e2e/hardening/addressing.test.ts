/**
 * Addressing and smuggling at the edge, black-box against a real srvproxy
 * instance (a child process) in front of two scripted member stand-ins:
 * (a) forged received/rport in the top Via never steer a response (a victim
 * on 127.0.0.99, UDP socket and TCP listener, counts 0 datagrams and 0
 * connections); (b) bare LF, bare CR or NUL inside a header line: 400, the
 * member never sees the smuggled header, a TCP connection is closed;
 * (c) two Content-Length values on TCP: 400 and close, the body's request
 * never reaches the member; (d) Max-Forwards with leading zeros is valid,
 * above 255 out of range (RFC 3261 §20.22; RFC 4475 §3.1.2.4 allows a 400
 * or treating the field as absent); (e) RFC 3261 §16.3 checks: 420 with
 * Unsupported, 505, 416, tel: forwarded, repeated Call-ID or CSeq 400;
 * (f) sips: or transport=tls from a pair member toward an IP address: never
 * UDP or TCP in the clear.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { startMemberSite, type MemberSite } from '../../support/hardening-site.js';
import { eventually, sleep } from '../../support/processes.js';
import { rawHead } from '../../support/sip-server.js';
import { SipPeer } from '../../support/sip-peer.js';

const UA = '127.0.0.54';
const VICTIM = '127.0.0.99';
const TARGET = '127.0.0.98';

/** A UDP socket and a TCP listener on one loopback address and port, counting what reaches them. */
class Listener {
  datagrams = 0;
  connections = 0;
  /** First bytes of each TCP connection. */
  firstBytes: Buffer[] = [];
  port = 0;
  private udp = dgram.createSocket('udp4');
  private tcp = net.createServer((s) => {
    this.connections++;
    this.socks.add(s);
    s.once('data', (d) => this.firstBytes.push(d));
    s.on('error', () => undefined);
    s.on('close', () => this.socks.delete(s));
  });
  private socks = new Set<net.Socket>();
  constructor(readonly address: string) {}
  async start(port = 0): Promise<void> {
    this.udp.on('message', () => this.datagrams++);
    await new Promise<void>((resolve, reject) => {
      this.udp.once('error', reject);
      this.udp.bind(port, this.address, () => resolve());
    });
    this.port = this.udp.address().port;
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.port, this.address, () => resolve());
    });
  }
  async stop(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((r) => this.udp.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

let seq = 0;
interface Req {
  method?: string;
  ruri?: string;
  version?: string;
  via: string;
  callId: string;
  extra?: string[];
  mf?: string | null;
  cseq?: string;
  body?: string;
  contentLength?: string[];
}
function req(o: Req): string {
  const method = o.method ?? 'INVITE';
  const body = o.body ?? '';
  return [
    `${method} ${o.ruri ?? 'sip:1000@tserver.example.com'} ${o.version ?? 'SIP/2.0'}`,
    `Via: ${o.via}`,
    ...(o.mf === null ? [] : [`Max-Forwards: ${o.mf ?? '70'}`]),
    `From: <sip:edge@example.com>;tag=e${++seq}`,
    'To: <sip:1000@tserver.example.com>',
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? `1 ${method}`}`,
    `Contact: <sip:edge@${UA}>`,
    ...(o.extra ?? []),
    ...(o.contentLength ?? [`Content-Length: ${Buffer.byteLength(body, 'latin1')}`]),
    '',
    body,
  ].join('\r\n');
}

describe('e2e: addressing and smuggling at the edge (real instance)', function () {
  this.timeout(15_000);
  let ms: MemberSite;
  let victim: Listener;
  let target: Listener;
  let ua: SipPeer;

  before(async function () {
    this.timeout(20_000);
    ms = await startMemberSite();
    victim = new Listener(VICTIM);
    target = new Listener(TARGET);
    await Promise.all([victim.start(), target.start()]);
  });
  after(async () => {
    await victim?.stop();
    await target?.stop();
    await ms?.stop();
  });
  // the victim also listens on the user agent's own port: a forged `received` alone sends to VICTIM:<Via port>
  let victimAtUaPort: Listener | undefined;
  let m0 = { a: 0, b: 0 };
  beforeEach(async () => {
    for (let i = 0; ; i++) {
      ua = new SipPeer(UA);
      await ua.start();
      victimAtUaPort = new Listener(VICTIM);
      try {
        await victimAtUaPort.start(ua.port);
        break;
      } catch (e) {
        await ua.stop();
        if (i > 10) throw e;
      }
    }
    m0 = { a: ms.a.peer.raw.length, b: ms.b.peer.raw.length };
  });
  afterEach(async () => {
    await ua?.stop();
    await victimAtUaPort?.stop().catch(() => undefined);
  });
  /** Datagrams and connections at either victim listener. */
  const atVictim = () => ({ datagrams: victim.datagrams + (victimAtUaPort?.datagrams ?? 0), connections: victim.connections + (victimAtUaPort?.connections ?? 0) });

  const branch = () => `z9hG4bKedge${++seq}x${Date.now() % 100000}`;
  const uaVia = (extra = '', proto = 'UDP', port = ua.port) => `SIP/2.0/${proto} ${UA}:${port};branch=${branch()}${extra}`;
  const texts = (p: SipPeer) => p.raw.map((r) => r.data.toString('latin1'));
  const finalFor = (cid: string) => texts(ua).find((s) => /^SIP\/2\.0 [2-6]\d\d /.test(s) && s.includes(`Call-ID: ${cid}\r\n`));
  const statusOf = (s: string | undefined) => (s ? Number(s.slice(8, 11)) : undefined);
  /** Requests that reached a member during this test and contain `needle`. */
  const atMember = (needle: string) =>
    [...ms.a.peer.raw.slice(m0.a), ...ms.b.peer.raw.slice(m0.b)].map((r) => r.data.toString('latin1')).filter((s) => !s.startsWith('SIP/2.0 ') && s.includes(needle));
  const site = () => ms.site;
  const awaitFinal = async (cid: string, ms_ = 3000) => {
    await eventually(() => finalFor(cid) !== undefined, ms_, `a final response for ${cid}`).catch(() => undefined);
    return finalFor(cid);
  };
  const closed = (s: net.Socket) => new Promise<boolean>((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), 2000);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });

  // ---- (a) forged received / rport ----
  describe('(a) responses go to the packet source, never to a received/rport the client wrote', () => {
    for (const forged of [
      { name: 'received=127.0.0.99', param: () => `;received=${VICTIM}` },
      { name: 'received=127.0.0.99 and rport=<victim port>', param: () => `;received=${VICTIM};rport=${victim.port}` },
    ]) {
      it(`UDP, Via with ${forged.name}: the answers (forwarded 200 and local 483) reach the sender; the victim counts 0 datagrams, 0 connections`, async () => {
        const v0 = atVictim();
        const c1 = `forge-fwd-${++seq}`;
        const c2 = `forge-483-${++seq}`;
        ua.sendUdp(req({ via: uaVia(forged.param()), callId: c1 }), site().address, site().sipPort);
        ua.sendUdp(req({ via: uaVia(forged.param()), callId: c2, mf: '0' }), site().address, site().sipPort);
        await sleep(1500);
        expect({ datagrams: atVictim().datagrams - v0.datagrams, connections: atVictim().connections - v0.connections }, 'at the victim').to.deep.equal({ datagrams: 0, connections: 0 });
        expect(statusOf(finalFor(c1)), 'final response to the forwarded INVITE at the sender').to.equal(200);
        expect(statusOf(finalFor(c2)), 'the 483 at the sender').to.equal(483);
      });
    }

    it('a TCP Via (received=127.0.0.99;rport=<victim port>) on a UDP request: no connection is opened to the victim, answers reach the sender', async () => {
      const v0 = atVictim();
      const c1 = `forge-tcpvia-${++seq}`;
      const c2 = `forge-tcpvia483-${++seq}`;
      const via = () => `SIP/2.0/TCP ${UA}:${ua.port};branch=${branch()};received=${VICTIM};rport=${victim.port}`;
      ua.sendUdp(req({ via: via(), callId: c1 }), site().address, site().sipPort);
      ua.sendUdp(req({ via: via(), callId: c2, mf: '0' }), site().address, site().sipPort);
      await sleep(2000);
      expect({ datagrams: atVictim().datagrams - v0.datagrams, connections: atVictim().connections - v0.connections }, 'at the victim').to.deep.equal({ datagrams: 0, connections: 0 });
      expect(statusOf(finalFor(c2)), 'the 483 at the sender').to.equal(483);
    });

    it('TCP Via with received=127.0.0.99;rport=<victim port>, connection kept: responses come back on it; the victim counts 0', async () => {
      const v0 = atVictim();
      const s = await ua.connectTcp(site().address, site().sipPort);
      const cid = `forge-tcp-${++seq}`;
      s.write(req({ via: uaVia(`;received=${VICTIM};rport=${victim.port}`, 'TCP', s.localPort), callId: cid }));
      const f = await awaitFinal(cid);
      await sleep(500);
      s.destroy();
      expect({ datagrams: atVictim().datagrams - v0.datagrams, connections: atVictim().connections - v0.connections }, 'at the victim').to.deep.equal({ datagrams: 0, connections: 0 });
      expect(statusOf(f), 'final response on the connection').to.equal(200);
    });

    it('TCP Via with received=127.0.0.99;rport=<victim port>, connection closed at once: no connection is opened to the victim', async () => {
      const v0 = atVictim();
      const s = await ua.connectTcp(site().address, site().sipPort);
      const via = () => uaVia(`;received=${VICTIM};rport=${victim.port}`, 'TCP', s.localPort);
      s.write(req({ via: via(), callId: `forge-tcpc-${++seq}` }) + req({ via: via(), callId: `forge-tcpc483-${++seq}`, mf: '0' }));
      s.destroy();
      await sleep(2500);
      expect({ datagrams: atVictim().datagrams - v0.datagrams, connections: atVictim().connections - v0.connections }, 'at the victim').to.deep.equal({ datagrams: 0, connections: 0 });
    });
  });

  // ---- (b) CR, LF, NUL inside a header line ----
  describe('(b) bare LF, bare CR, NUL inside a header line: 400, nothing smuggled, TCP closed', () => {
    const cases = [
      { name: 'bare LF before a smuggled Route', line: () => `Subject: x\nRoute: <sip:${VICTIM}:${victim.port};lr>`, needle: () => `${VICTIM}:${victim.port}` },
      { name: 'bare CR before a smuggled Route', line: () => `Subject: x\rRoute: <sip:${VICTIM}:${victim.port};lr>`, needle: () => `${VICTIM}:${victim.port}` },
      { name: 'bare LF before a smuggled P-Asserted-Identity', line: () => 'Subject: x\nP-Asserted-Identity: <sip:boss@example.com>', needle: () => 'boss@example.com' },
      { name: 'NUL inside a header value', line: () => 'Subject: x\x00y', needle: () => 'Subject: x' },
    ];
    for (const c of cases) {
      for (const proto of ['UDP', 'TCP'] as const) {
        it(`${c.name} over ${proto}: 400; the member never sees it${proto === 'TCP' ? '; the connection is closed' : ''}`, async () => {
          const v0 = victim.datagrams + victim.connections;
          const cid = `smuggle-${++seq}`;
          let s: net.Socket | undefined;
          if (proto === 'UDP') ua.sendUdp(req({ via: uaVia(), callId: cid, extra: [c.line()] }), site().address, site().sipPort);
          else {
            s = await ua.connectTcp(site().address, site().sipPort);
            s.write(req({ via: uaVia('', 'TCP', s.localPort), callId: cid, extra: [c.line()] }));
          }
          const f = await awaitFinal(cid);
          const wasClosed = s ? await closed(s) : true;
          s?.destroy();
          await sleep(300);
          expect(atMember(c.needle()), 'smuggled header at the member').to.deep.equal([]);
          expect(atMember(cid).length, 'the request at the member').to.equal(0);
          expect(victim.datagrams + victim.connections - v0, 'at the smuggled Route target').to.equal(0);
          expect(statusOf(f), 'answer').to.equal(400);
          expect(wasClosed, 'TCP connection closed by the instance').to.equal(true);
        });
      }
    }
  });

  // ---- (c) two Content-Length values on a stream ----
  it('(c) TCP: Content-Length 0 then Content-Length N with a second request as the body: 400 and close; the second request never reaches the member', async () => {
    const inner = req({ via: uaVia('', 'TCP', 1), callId: `inner-${++seq}` });
    const cid = `outer-${++seq}`;
    const s = await ua.connectTcp(site().address, site().sipPort);
    const outer = req({ via: uaVia('', 'TCP', s.localPort), callId: cid, body: inner, contentLength: ['Content-Length: 0', `Content-Length: ${Buffer.byteLength(inner, 'latin1')}`] });
    s.write(outer);
    const f = await awaitFinal(cid);
    const wasClosed = await closed(s);
    s.destroy();
    await sleep(500);
    expect(atMember('Call-ID: inner-'), 'the inner request at the member').to.deep.equal([]);
    expect(atMember(cid).length, 'the outer request at the member').to.equal(0);
    expect(statusOf(f), 'answer').to.equal(400);
    expect(wasClosed, 'connection closed').to.equal(true);
  });

  // ---- (d) Max-Forwards ----
  describe('(d) Max-Forwards', () => {
    it('0068 is valid (1*DIGIT): forwarded with Max-Forwards 67', async () => {
      const cid = `mf68-${++seq}`;
      ua.sendUdp(req({ method: 'OPTIONS', ruri: 'sip:1000@tserver.example.com', via: uaVia(), callId: cid, mf: '0068' }), site().address, site().sipPort);
      await eventually(() => atMember(cid).length > 0, 2000, 'at the member').catch(() => undefined);
      const fwd = atMember(cid)[0];
      expect(fwd, `forwarded (the user agent got: ${finalFor(cid)?.split('\r\n')[0] ?? 'nothing'})`).to.not.equal(undefined);
      expect(rawHead(fwd!)!.get('max-forwards')).to.deep.equal(['67']);
    });

    it('255 is the top of the range: forwarded with 254', async () => {
      const cid = `mf255-${++seq}`;
      ua.sendUdp(req({ method: 'OPTIONS', via: uaVia(), callId: cid, mf: '255' }), site().address, site().sipPort);
      await eventually(() => atMember(cid).length > 0, 2000, 'at the member');
      expect(rawHead(atMember(cid)[0]!)!.get('max-forwards')).to.deep.equal(['254']);
    });

    it('300 is out of range (RFC 3261 §20.22: 0-255): 400, or processed as if absent (forwarded with 70, RFC 4475 §3.1.2.4); never passed on as 299', async () => {
      const cid = `mf300-${++seq}`;
      ua.sendUdp(req({ method: 'OPTIONS', via: uaVia(), callId: cid, mf: '300' }), site().address, site().sipPort);
      await eventually(() => atMember(cid).length > 0 || finalFor(cid) !== undefined, 2000, 'forwarded or answered');
      await sleep(100);
      const fwd = atMember(cid)[0];
      if (fwd) expect(rawHead(fwd)!.get('max-forwards'), 'Max-Forwards forwarded').to.deep.equal(['70']);
      else expect(statusOf(finalFor(cid))).to.equal(400);
    });
  });

  // ---- (e) RFC 3261 §16.3 ----
  describe('(e) request validation (RFC 3261 §16.3)', () => {
    const rejected = async (r: Omit<Req, 'via' | 'callId'>, code: number) => {
      const cid = `val-${++seq}`;
      ua.sendUdp(req({ ...r, via: uaVia(), callId: cid }), site().address, site().sipPort);
      const f = await awaitFinal(cid);
      await sleep(200);
      expect(atMember(cid).length, 'forwarded to a member').to.equal(0);
      expect(f?.split('\r\n')[0] ?? 'no answer', 'answer').to.match(new RegExp(`^SIP/2\\.0 ${code} `));
      return f!;
    };
    it('Proxy-Require: foo -> 420 with Unsupported: foo', async () => {
      const f = await rejected({ extra: ['Proxy-Require: foo'] }, 420);
      expect(rawHead(f)!.get('unsupported').flatMap((x) => x.split(',')).map((x) => x.trim())).to.include('foo');
    });
    it('SIP/7.0 -> 505', async () => {
      await rejected({ version: 'SIP/7.0' }, 505);
    });
    it('an http: Request-URI -> 416', async () => {
      await rejected({ ruri: 'http://www.example.com/' }, 416);
    });
    it('a tel: Request-URI from a user agent is forwarded to the pair', async () => {
      const cid = `tel-${++seq}`;
      ua.sendUdp(req({ ruri: 'tel:+15551234567', via: uaVia(), callId: cid }), site().address, site().sipPort);
      await eventually(() => atMember(cid).length > 0, 2000, 'at the member').catch(() => undefined);
      const fwd = atMember(cid)[0];
      expect(fwd, `forwarded (the user agent got: ${finalFor(cid)?.split('\r\n')[0] ?? 'nothing'})`).to.not.equal(undefined);
      expect(fwd!.startsWith('INVITE tel:+15551234567 SIP/2.0\r\n')).to.equal(true);
      expect(atMember(cid).every((s) => ms.a.peer.raw.some((r) => r.data.toString('latin1') === s)), 'at the active member').to.equal(true);
    });
    it('a repeated Call-ID header -> 400', async () => {
      await rejected({ extra: [`Call-ID: second-${seq}`] }, 400);
    });
    it('a repeated CSeq header -> 400', async () => {
      await rejected({ extra: ['CSeq: 2 INVITE'] }, 400);
    });
  });

  // ---- (f) TLS targets from a pair member ----
  describe('(f) sips: or transport=tls toward an IP address, from a pair member: never UDP or TCP in the clear', () => {
    let member: SipPeer;
    beforeEach(async () => {
      member = new SipPeer('127.0.0.41');
      await member.start();
    });
    afterEach(async () => {
      await member?.stop();
    });
    const cases = [
      { name: 'Request-URI sips:', ruri: () => `sips:bob@${TARGET}:${target.port}` },
      { name: 'Request-URI ;transport=tls', ruri: () => `sip:bob@${TARGET}:${target.port};transport=tls` },
      { name: 'Route sips:', ruri: () => 'sip:bob@example.net', route: () => `<sips:${TARGET}:${target.port};lr>` },
      { name: 'Route ;transport=tls', ruri: () => 'sip:bob@example.net', route: () => `<sip:${TARGET}:${target.port};transport=tls;lr>` },
    ];
    for (const c of cases) {
      it(`${c.name}: 0 datagrams at the target, no clear-text TCP; TLS or an error response`, async () => {
        const t0 = { d: target.datagrams, c: target.connections, f: target.firstBytes.length };
        const cid = `tls-${++seq}`;
        const msg = req({ ruri: c.ruri(), via: `SIP/2.0/UDP 127.0.0.41:${member.port};branch=${branch()}`, callId: cid, extra: c.route ? [`Route: ${c.route()}`] : [] });
        member.sendUdp(msg, site().address, site().sipPort);
        await sleep(2000);
        const first = target.firstBytes.slice(t0.f);
        const finals = texts(member).filter((s) => s.includes(`Call-ID: ${cid}\r\n`) && /^SIP\/2\.0 [3-6]\d\d /.test(s));
        expect(target.datagrams - t0.d, 'UDP datagrams at the target').to.equal(0);
        expect(first.filter((b) => b[0] !== 0x16).map((b) => b.toString('latin1', 0, 40)), 'clear-text TCP at the target').to.deep.equal([]);
        expect(target.connections - t0.c > 0 || finals.length > 0, 'a TLS connection attempt or an error response').to.equal(true);
      });
    }
  });
});
