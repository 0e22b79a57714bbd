/**
 * RFC 5626 keepalives on the wire. Against a real srvproxy instance (child
 * process) listening on 127.0.0.38 and ::1: a CRLFCRLF ping on a TCP
 * connection draws exactly one CRLF, a single CRLF draws nothing, and an
 * OPTIONS after the ping on the same connection is still answered; a STUN
 * Binding Request on the SIP UDP port, from 127.0.0.68 and from ::1, draws a
 * Binding Success Response whose XOR-MAPPED-ADDRESS is the client socket's
 * address and port; other STUN is ignored, and junk below 0x20 is counted
 * malformed; /metrics counts the answers. In process (sip/transport/tcp on
 * 127.0.0.38): pings keep a connection past the idle timeout, and pings from
 * a peer that does not read are answered only up to the write backlog cap.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { silentLogger } from '../../../src/shared/log.js';
import { bindingSuccess, readXorMappedAddress, stunKind } from '../../../src/sip/transport/stun.js';
import { PONG_BACKLOG_BYTES, TcpTransport } from '../../../src/sip/transport/tcp.js';
import { newTransportCounters, type TransportSink } from '../../../src/sip/transport/types.js';
import { startHardenedSite, type HardenedSite } from '../../support/hardening-site.js';
import { eventually, sleep } from '../../support/processes.js';

const PROXY = '127.0.0.38';
const CLIENT = '127.0.0.68';

/** A TCP connection that records what it receives. */
class Conn {
  received = Buffer.alloc(0);
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    socket.on('error', () => undefined);
  }

  static open(host: string, port: number, localAddress = CLIENT): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, localAddress }, () => {
        s.removeListener('error', reject);
        resolve(new Conn(s));
      });
      s.once('error', reject);
    });
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A Binding Request with a random transaction id (RFC 5389 §6). */
function bindingRequest(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt32BE(0x2112a442, 4);
  for (let i = 8; i < 20; i++) b[i] = Math.floor(Math.random() * 256);
  return b;
}

/** Sends `data` from a UDP socket bound to `local` and returns the first datagram back, or undefined after `ms`. */
async function udpExchange(local: string, to: string, port: number, data: Buffer, ms: number): Promise<{ reply?: Buffer; from: net.AddressInfo }> {
  const s = dgram.createSocket({ type: local.includes(':') ? 'udp6' : 'udp4', ipv6Only: local.includes(':') });
  try {
    await new Promise<void>((r) => s.bind(0, local, () => r()));
    const from = s.address();
    const reply = await new Promise<Buffer | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), ms);
      s.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
      s.send(data, port, to);
    });
    return { reply, from };
  } finally {
    s.close();
  }
}

function metric(text: string, line: string): number {
  const m = new RegExp('^' + line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + ' (\\S+)$', 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** The sum of every sample of a metric family. */
function sum(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp('^' + name + '(?:\\{[^}]*\\})? (\\S+)$', 'gm'))) n += Number(m[1]);
  return n;
}

describe('e2e: RFC 5626 keepalives (CRLFCRLF on TCP, STUN on UDP)', function () {
  this.timeout(30_000);
  let site: HardenedSite;
  const opened: Conn[] = [];

  before(async () => {
    site = await startHardenedSite({ proxy: PROXY, proxy2: '::1' });
  });

  after(async () => {
    await site?.stop();
  });

  afterEach(() => {
    for (const c of opened.splice(0)) c.close();
  });

  async function connect(): Promise<Conn> {
    const c = await Conn.open(PROXY, site.sipPort);
    opened.push(c);
    return c;
  }

  const options = (callId: string, c: Conn) =>
    [
      `OPTIONS sip:proxy1.example.com:${site.sipPort} SIP/2.0`,
      `Via: SIP/2.0/TCP ${CLIENT}:${c.socket.localPort};branch=z9hG4bK${callId}`,
      'Max-Forwards: 70',
      'From: <sip:ua@example.com>;tag=ka',
      `To: <sip:proxy1.example.com:${site.sipPort}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');

  it('TCP: CRLFCRLF is answered with exactly one CRLF; an OPTIONS after it on the same connection is still answered', async () => {
    const c = await connect();
    c.socket.write('\r\n\r\n');
    await eventually(() => c.received.length > 0, 2000, 'the pong');
    await sleep(200);
    expect(c.text).to.equal('\r\n');
    c.socket.write(options('ka-after-ping', c));
    await eventually(() => /\r\n\r\n$/.test(c.text) && c.text.includes('Call-ID: ka-after-ping'), 3000, 'the OPTIONS answer');
    const answer = c.text.slice(2);
    expect(answer).to.match(/^SIP\/2\.0 200 /);
    // a second ping after the message: one more CRLF, nothing else
    const before = c.received.length;
    c.socket.write('\r\n\r\n');
    await eventually(() => c.received.length > before, 2000, 'the second pong');
    await sleep(100);
    expect(c.text.slice(before)).to.equal('\r\n');
  });

  it('TCP: a single CRLF is skipped silently (nothing within 200 ms), and the connection still serves', async () => {
    const c = await connect();
    c.socket.write('\r\n');
    await sleep(200);
    expect(c.received.length).to.equal(0);
    c.socket.write(options('ka-after-crlf', c));
    await eventually(() => c.text.includes('Call-ID: ka-after-crlf'), 3000, 'the OPTIONS answer');
    expect(c.text).to.match(/^SIP\/2\.0 200 /);
  });

  for (const [local, to] of [
    [CLIENT, PROXY],
    ['::1', '::1'],
  ] as const) {
    it(`UDP: a STUN Binding Request from ${local} draws a Binding Success Response with the client's address and port`, async () => {
      const req = bindingRequest();
      const { reply, from } = await udpExchange(local, to, site.sipPort, req, 2000);
      expect(reply, 'a response').to.not.equal(undefined);
      expect(stunKind(reply!)).to.equal('other'); // valid STUN (FINGERPRINT checks), not a request
      expect(reply!.readUInt16BE(0)).to.equal(0x0101);
      expect(reply!.subarray(8, 20).equals(req.subarray(8, 20)), 'transaction id').to.equal(true);
      expect(readXorMappedAddress(reply!)).to.deep.equal({ address: from.address, port: from.port });
    });
  }

  it('UDP: other STUN gets no answer and is not SIP; junk below 0x20 is counted malformed; /metrics counts the keepalives', async () => {
    const url = `http://127.0.0.1:${site.httpPort}/metrics`;
    const before = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
    const indication = bindingRequest();
    indication.writeUInt16BE(0x0011, 0);
    const success = bindingSuccess(bindingRequest(), CLIENT, 5060)!;
    const badCookie = bindingRequest();
    badCookie.writeUInt32BE(0x2112a443, 4);
    for (const d of [indication, success, badCookie]) {
      const { reply } = await udpExchange(CLIENT, PROXY, site.sipPort, d, 200);
      expect(reply, d.toString('hex')).to.equal(undefined);
    }
    const c = await connect();
    c.socket.write('\r\n\r\n\r\n\r\n'); // two pings
    await eventually(() => c.received.length >= 4, 2000, 'two pongs');
    await udpExchange(CLIENT, PROXY, site.sipPort, bindingRequest(), 2000);
    const after = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
    const delta = (line: string) => metric(after, line) - metric(before, line);
    expect(delta('srvproxy_sip_keepalives_total{kind="crlf"}')).to.equal(2);
    expect(delta('srvproxy_sip_keepalives_total{kind="stun"}')).to.equal(1);
    expect(delta('srvproxy_sip_dropped_total{reason="malformed"}')).to.equal(1);
    expect(delta('srvproxy_sip_dropped_total{reason="keepalive_backlog"}')).to.equal(0);
    // none of it reached the SIP layer as a request
    expect(sum(after, 'srvproxy_sip_requests_total')).to.equal(sum(before, 'srvproxy_sip_requests_total'));
  });
});

describe('e2e: keepalives and the SIP TCP connection (in process)', function () {
  this.timeout(15_000);
  let tcp: TcpTransport | undefined;
  const counters = newTransportCounters();
  const sink: TransportSink = { onMessage: () => undefined, onBadMessage: () => undefined };
  const opened: Conn[] = [];

  async function start(idleTimeoutMs: number): Promise<number> {
    tcp = new TcpTransport(sink, counters, silentLogger, { idleTimeoutMs, maxConnections: 16, maxConnectionsPerSource: 16, connectTimeoutMs: 1000 });
    await tcp.start([{ address: PROXY, port: 0 }]);
    return tcp.ports[0]!;
  }

  afterEach(async () => {
    for (const c of opened.splice(0)) c.close();
    await tcp?.stop();
    tcp = undefined;
    Object.assign(counters, newTransportCounters());
  });

  it('pings are traffic: a connection pinged every 100 ms outlives a 300 ms idle timeout, then closes idle', async () => {
    const c = await Conn.open(PROXY, await start(300));
    opened.push(c);
    let closedAt = 0;
    c.socket.on('close', () => (closedAt = Date.now()));
    for (let i = 0; i < 9; i++) {
      c.socket.write('\r\n\r\n');
      await sleep(100);
    }
    expect(closedAt, 'open after 900 ms of pings').to.equal(0);
    expect(c.received.length).to.equal(18);
    const stopped = Date.now();
    await eventually(() => closedAt > 0, 2000, 'closed idle');
    expect(closedAt - stopped).to.be.within(150, 1500);
    expect(counters.tcpIdleClosed).to.equal(1);
    expect(counters.keepalivesCrlf).to.equal(9);
  });

  it(`a flood of pings from a peer that does not read: answered until ${PONG_BACKLOG_BYTES} bytes wait, the rest counted unanswered`, async () => {
    const c = await Conn.open(PROXY, await start(10_000));
    opened.push(c);
    await eventually(() => tcp!.openConnections === 1, 1000, 'accepted');
    // the server side holds what it writes (as towards a peer whose window is full)
    const server = [...(tcp as unknown as { conns: Map<number, { socket: net.Socket }> }).conns.values()][0]!.socket;
    server.cork();
    const pings = 5000;
    c.socket.write('\r\n\r\n'.repeat(pings));
    await eventually(() => counters.keepalivesCrlf + counters.keepalivesUnanswered === pings, 5000, 'every ping seen');
    const answered = PONG_BACKLOG_BYTES / 2 + 1;
    expect(counters.keepalivesCrlf).to.equal(answered);
    expect(counters.keepalivesUnanswered).to.equal(pings - answered);
    expect(server.writableLength).to.equal(answered * 2);
    expect(c.received.length).to.equal(0);
    server.uncork();
    await eventually(() => c.received.length === answered * 2, 2000, 'the held pongs');
    // the backlog gone, a ping is answered again
    c.socket.write('\r\n\r\n');
    await eventually(() => c.received.length === answered * 2 + 2, 2000, 'a pong after the backlog');
    expect(c.text).to.equal('\r\n'.repeat(answered + 1));
  });
});
