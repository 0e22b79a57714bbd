/**
 * SIP over TLS end to end, with the test certificates of test/fixtures/tls: a
 * real srvproxy instance (child process) with --tls-cert/--tls-key/--tls-ca
 * listens on the port of its `_sips._tcp` SRV record; the pair is listed
 * under `_sips._tcp.tserver`, so members are reached over TLS and their
 * certificates are verified against --tls-ca. The primary presents a
 * certificate from another CA: the instance refuses it (no SIP reaches it)
 * and the pair is served by the backup, whose certificate is good. A Node
 * TLS user agent that verifies the instance's certificate calls through it:
 * INVITE/200/ACK/BYE/200, all over TLS on both legs; a CRLFCRLF ping inside
 * its TLS session draws one CRLF.
 */
import { expect } from 'chai';
import net from 'node:net';
import tls from 'node:tls';
import { decode, MAX_MESSAGE_BYTES, type SipMessage } from '../../../src/sip/codec/codec.js';
import { TcpFramer } from '../../../src/sip/transport/tcp-framer.js';
import { crashLines, pairStatus, startHardenedSite, type HardenedSite } from '../../support/hardening-site.js';
import { freePort } from '../../support/ports.js';
import { eventually, runCli, sleep } from '../../support/processes.js';
import { testCerts, type TestCerts } from '../../support/tls-certs.js';
import { TlsMember } from '../../support/tls-member.js';

const PROXY = '127.0.0.36';

/** A TLS user agent: one connection to the instance, messages framed and decoded. */
class TlsUa {
  readonly got: SipMessage[] = [];
  private waiters: { pred: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }[] = [];
  constructor(readonly sock: tls.TLSSocket) {
    const framer = new TcpFramer(MAX_MESSAGE_BYTES);
    sock.on('data', (d: Buffer) =>
      framer.push(d, (b) => {
        const r = decode(Buffer.from(b));
        if (!r.ok) return;
        this.got.push(r.msg);
        for (const w of this.waiters.slice()) if (w.pred(r.msg)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(r.msg);
        }
      }, () => sock.destroy()),
    );
  }
  static async connect(port: number, ca: string): Promise<TlsUa> {
    const sock = tls.connect({ host: PROXY, port, ca, localAddress: '127.0.0.64' } as tls.ConnectionOptions);
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    return new TlsUa(sock);
  }
  send(lines: string[], body = ''): void {
    this.sock.write([...lines, `Content-Length: ${body.length}`, '', body].join('\r\n'));
  }
  waitFor(pred: (m: SipMessage) => boolean, ms = 4000): Promise<SipMessage> {
    const have = this.got.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: SipMessage) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error('TLS UA: timed out'));
      }, ms);
      this.waiters.push(w);
    });
  }
}

describe('e2e: SIP over TLS', function () {
  this.timeout(40_000);
  let certs: TestCerts;
  let site: HardenedSite | undefined;
  let a: TlsMember;
  let b: TlsMember;
  let tlsPort = 0;

  before(async function () {
    certs = testCerts();
    a = new TlsMember('127.0.0.45', 'sips-a.example.com', certs.leaf('sips-a.example.com', '127.0.0.45', 'otherCa'));
    b = new TlsMember('127.0.0.46', 'sips-b.example.com', certs.leaf('sips-b.example.com', '127.0.0.46'));
    await a.start();
    await b.start();
    const proxyPem = certs.leaf('proxy1.example.com', PROXY);
    tlsPort = await freePort(PROXY);
    site = await startHardenedSite({
      proxy: PROXY,
      members: ['127.0.0.45', '127.0.0.46'],
      memberPorts: [a.port, b.port],
      pairService: '_sips._tcp',
      zoneExtra: () => [`_sips._tcp.sipproxy SRV 10 50 ${tlsPort} proxy1`],
      args: ['--tls-cert', proxyPem.certFile, '--tls-key', proxyPem.keyFile, '--tls-ca', certs.ca.certFile],
    });
  });

  after(async () => {
    await site?.stop();
    await a?.stop();
    await b?.stop();
  });

  it('a member with a certificate from another CA is refused; the backup (good certificate) serves the pair over TLS', async () => {
    await eventually(async () => (await pairStatus(site!)).active === 'sips-b.example.com', 10_000, 'backup active');
    expect(a.requests, 'SIP that reached the member with the bad certificate').to.have.length(0);
    expect(b.requests.filter((r) => r.method === 'OPTIONS').length).to.be.greaterThan(0);
    expect(b.requests[0]!.headers.via![0]!.protocol).to.equal('TLS');
  });

  it('a TLS user agent calls through the instance (listening on its _sips._tcp port) to the member over TLS', async () => {
    const ua = await TlsUa.connect(tlsPort, certs!.ca.cert);
    try {
      const lp = ua.sock.localPort!;
      const via = (br: string) => `Via: SIP/2.0/TLS 127.0.0.64:${lp};branch=z9hG4bK${br};rport`;
      const common = ['Max-Forwards: 70', 'From: <sips:alice@example.com>;tag=ua1', 'Call-ID: tls-call-1'];
      ua.send(['INVITE sip:1000@tserver.example.com SIP/2.0', via('inv1'), ...common, 'To: <sip:1000@tserver.example.com>', 'CSeq: 1 INVITE',
        `Contact: <sip:alice@127.0.0.64:${lp};transport=tls>`, 'Content-Type: application/sdp'], 'v=0\r\n');
      const ok = await ua.waitFor((m) => m.kind === 'response' && m.status === 200 && m.headers.cseq.method === 'INVITE');
      const toTag = ok.headers.to!.params.tag as string;
      const rr = ok.headers['record-route']!;
      expect(rr).to.have.length(1);
      const route = `Route: <sip:sipproxy.example.com;lr;pair=tserver.example.com>`;
      const inDialog = (method: string, seq: number, br: string) => [
        `${method} sip:member@sips-b.example.com:${b.port};transport=tls SIP/2.0`, via(br), route, ...common,
        `To: <sip:1000@tserver.example.com>;tag=${toTag}`, `CSeq: ${seq} ${method}`];
      ua.send(inDialog('ACK', 1, 'ack1'));
      ua.send(inDialog('BYE', 2, 'bye1'));
      const byeOk = await ua.waitFor((m) => m.kind === 'response' && m.status === 200 && m.headers.cseq.method === 'BYE');
      expect(byeOk.headers['call-id']).to.equal('tls-call-1');
      await eventually(() => b.requests.some((r) => r.method === 'ACK'), 2000, 'ACK at the member');
      const inv = b.requests.find((r) => r.method === 'INVITE')!;
      expect(inv.headers.via![0]!.protocol).to.equal('TLS');
      expect(inv.headers.via![1]!.protocol).to.equal('TLS');
      expect(a.requests).to.have.length(0);
    } finally {
      ua.sock.destroy();
    }
  });

  it('a CRLFCRLF ping inside the TLS session is answered with exactly one CRLF (RFC 5626 §3.5.1)', async () => {
    const ua = await TlsUa.connect(tlsPort, certs!.ca.cert);
    try {
      let raw = '';
      ua.sock.on('data', (d: Buffer) => (raw += d.toString('latin1')));
      ua.sock.write('\r\n\r\n');
      await eventually(() => raw.length > 0, 2000, 'the pong');
      await sleep(100);
      expect(raw).to.equal('\r\n');
    } finally {
      ua.sock.destroy();
    }
  });

  it('a client that does not trust the instance\'s CA cannot complete a handshake; plain TCP to the TLS port gets nothing', async () => {
    const bad = tls.connect({ host: PROXY, port: tlsPort, ca: certs!.otherCa.cert });
    const err = await new Promise<Error>((resolve) => bad.once('error', resolve));
    expect(String(err)).to.match(/certificate|self.signed|verify/i);
    bad.destroy();
    const plain = net.connect({ host: PROXY, port: tlsPort });
    plain.on('error', () => undefined);
    let data = '';
    plain.on('data', (d) => (data += d.toString('latin1')));
    await new Promise<void>((r) => plain.once('connect', () => r()));
    plain.write('OPTIONS sip:proxy1.example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n');
    await sleep(300);
    plain.destroy();
    expect(data).to.not.match(/SIP\/2\.0 \d{3}/);
    expect(crashLines(site!.proc.output)).to.deep.equal([]);
  });

  it('CLI: an unreadable --tls-cert is one clear line, exit 2', async () => {
    const r = await runCli(['run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', site!.zoneDir,
      '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem', '--dns-port', '1', '--http', '127.0.0.1:0']);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.match(/--tls-cert: cannot read \/nonexistent\/cert\.pem: ENOENT/);
  });
});
