/**
 * SIP input limits, each on the wire against a real SipService on loopback
 * (127.0.0.32): message size over UDP (dropped and counted), line length
 * and header count (400), TCP connections per source and in total, the idle
 * timeout, the bounded reassembly buffer, source port 0, unknown methods.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { MAX_HEADER_LINES } from '../../../src/sip/codec/codec.js';
import { MAX_LINE_BYTES } from '../../../src/sip/codec/codec.js';
import { SipService } from '../../../src/sip/service.js';
import type { TransportTuning } from '../../../src/sip/transport/transport.js';
import { PairStand } from '../../support/pair-stand.js';
import { eventually, sleep } from '../../support/processes.js';
import { SipPeer, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { request } from '../../support/sip-ua.js';

const PROXY = '127.0.0.32';

describe('e2e: SIP input limits', function () {
  this.timeout(15_000);
  let ua: SipPeer;
  let stand: PairStand | undefined;
  let a: ScriptedSipServer;
  let port = 0;

  async function start(transport: TransportTuning = {}): Promise<SipService> {
    stand = await PairStand.start({ proxy: PROXY, service: { transport } });
    ({ a, port } = stand);
    return stand.svc;
  }

  beforeEach(async () => {
    ua = new SipPeer('127.0.0.50');
    await ua.start();
  });

  afterEach(async () => {
    await stand?.stop();
    stand = undefined;
    await ua.stop();
  });

  const options = (callId: string, extra: string[] = [], proto = 'UDP', p = 0) =>
    [
      `OPTIONS sip:proxy1.example.com:${port} SIP/2.0`,
      `Via: SIP/2.0/${proto} 127.0.0.50:${p || ua.port};branch=z9hG4bK${callId};rport`,
      'Max-Forwards: 70',
      'From: <sip:a@example.com>;tag=1',
      `To: <sip:proxy1.example.com:${port}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  const answered = (callId: string) => (r: Received) => r.msg.status !== undefined && r.msg.status >= 200 && r.msg.headers['call-id'] === callId;

  it('UDP: a datagram over the message size limit is dropped and counted; smaller ones are answered', async () => {
    const s = await start({ maxMessageBytes: 4096 });
    ua.sendUdp(options('big', [`X-Pad: ${'p'.repeat(5000)}`]), PROXY, port);
    ua.sendUdp(options('small'), PROXY, port);
    expect((await ua.waitFor(answered('small'), 2000, 'answer to the small one')).msg.status).to.equal(200);
    await sleep(100);
    expect(ua.received.some((r) => r.msg.headers['call-id'] === 'big')).to.equal(false);
    expect(s.transportCounters.droppedTooLarge).to.equal(1);
  });

  it(`a header line over ${MAX_LINE_BYTES} bytes gets 400; one just under is served`, async () => {
    await start();
    ua.sendUdp(options('long', [`X-Long: ${'x'.repeat(MAX_LINE_BYTES)}`]), PROXY, port);
    const r = await ua.waitFor(answered('long'), 2000, '400');
    expect(r.msg.status).to.equal(400);
    expect(r.msg.reason).to.match(/header line too long/);
    ua.sendUdp(options('under', [`X-Long: ${'x'.repeat(MAX_LINE_BYTES - 10)}`]), PROXY, port);
    expect((await ua.waitFor(answered('under'), 2000, '200')).msg.status).to.equal(200);
  });

  it('TCP: a header line over the limit gets 400 and the stream goes on', async () => {
    await start();
    const c = await ua.connectTcp(PROXY, port);
    ua.sendTcp(c, options('tcplong', [`X-Long: ${'x'.repeat(MAX_LINE_BYTES + 1)}`], 'TCP'));
    ua.sendTcp(c, options('tcpafter', [], 'TCP'));
    expect((await ua.waitFor(answered('tcplong'), 2000, '400')).msg.status).to.equal(400);
    expect((await ua.waitFor(answered('tcpafter'), 2000, '200')).msg.status).to.equal(200);
  });

  it(`more than ${MAX_HEADER_LINES} header lines gets 400`, async () => {
    await start();
    const many = Array.from({ length: MAX_HEADER_LINES + 5 }, (_, i) => `X-H${i}: ${i}`);
    ua.sendUdp(options('many', many), PROXY, port);
    const r = await ua.waitFor(answered('many'), 2000, '400');
    expect(r.msg.status).to.equal(400);
    expect(r.msg.reason).to.match(/too many header lines/);
  });

  it('TCP: connections from one source are capped; another source is still served', async () => {
    const s = await start({ tcp: { maxConnectionsPerSource: 8 } });
    const socks: net.Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const c = net.connect({ host: PROXY, port, localAddress: '127.0.0.50' });
        c.on('error', () => undefined);
        socks.push(c);
      }
      await eventually(() => s.transportCounters.tcpRefusedPerSource === 12, 3000, '12 refused by the per-source limit');
      await sleep(100);
      expect(socks.filter((c) => !c.destroyed && c.readyState === 'open')).to.have.length(8);
      expect(s.transport.tcpConnections).to.equal(8);
      const other = new SipPeer('127.0.0.51');
      await other.start();
      try {
        const c = await other.connectTcp(PROXY, port);
        other.sendTcp(c, options('other', [], 'TCP', other.port).replace(/127\.0\.0\.50/g, '127.0.0.51'));
        expect((await other.waitFor(answered('other'), 2000, '200 to the other source')).msg.status).to.equal(200);
      } finally {
        await other.stop();
      }
    } finally {
      for (const c of socks) c.destroy();
    }
    // closed connections free their slots
    await eventually(() => s.transport.tcpConnections === 0, 2000, 'all closed');
    const again = await ua.connectTcp(PROXY, port);
    ua.sendTcp(again, options('again', [], 'TCP'));
    expect((await ua.waitFor(answered('again'), 2000, '200 after the others closed')).msg.status).to.equal(200);
  });

  it('TCP: the total connection limit holds across sources', async () => {
    const s = await start({ tcp: { maxConnections: 10 } });
    const socks: net.Socket[] = [];
    try {
      for (let i = 0; i < 15; i++) {
        const c = net.connect({ host: PROXY, port, localAddress: `127.0.0.${70 + (i % 5)}` });
        c.on('error', () => undefined);
        socks.push(c);
      }
      await eventually(() => s.transportCounters.tcpConnectionsRefused === 5, 3000, '5 refused');
      expect(s.transport.tcpConnections).to.equal(10);
    } finally {
      for (const c of socks) c.destroy();
    }
  });

  it('TCP: an idle connection is closed after the idle timeout', async () => {
    const s = await start({ tcp: { idleTimeoutMs: 300 } });
    const c = await ua.connectTcp(PROXY, port);
    const t0 = Date.now();
    await new Promise<void>((r) => c.once('close', () => r()));
    expect(Date.now() - t0).to.be.within(200, 2000);
    expect(s.transportCounters.tcpIdleClosed).to.equal(1);
  });

  it('TCP: a head that never ends is not buffered past the limit: 513 and close', async () => {
    const s = await start();
    const c = await ua.connectTcp(PROXY, port);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.write(`OPTIONS sip:proxy1.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.50:5060;branch=z9hG4bKhuge\r\n`);
    const line = `X-Filler: ${'f'.repeat(1000)}\r\n`;
    for (let i = 0; i < 80; i++) c.write(line);
    await closed;
    expect(s.transportCounters.tcpFramingErrors).to.equal(1);
  });

  it('source port 0: a datagram claiming it is dropped and counted', async () => {
    const s = await start();
    // no socket can send from port 0; the listener's datagram handler is called as the socket would
    const udp = (s.transport as unknown as { udp: { onDatagram(b: Buffer, r: dgram.RemoteInfo): void }[] }).udp[0]!;
    udp.onDatagram(Buffer.from(options('port0')), { address: '127.0.0.50', port: 0, family: 'IPv4', size: 10 });
    await sleep(100);
    expect(s.transportCounters.droppedPort0).to.equal(1);
    expect(ua.received).to.have.length(0);
  });

  it('an unknown method is proxied to the pair (the member answers it)', async () => {
    await start();
    const m = request(ua, 'FROBNICATE', { ruri: 'sip:bob@tserver.example.com' });
    ua.sendUdp(m, PROXY, port);
    await a.peer.waitFor((r) => r.msg.method === 'FROBNICATE', 2000, 'FROBNICATE at the member');
    const r = await ua.waitFor(answered(m.headers['call-id']!), 2000, 'final response');
    expect(r.msg.status).to.be.within(200, 699);
  });
});
