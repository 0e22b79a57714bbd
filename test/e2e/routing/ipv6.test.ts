/**
 * IPv6 end to end on ::1 with a real srvproxy instance (child process): the
 * zone gives the instance an AAAA (::1, beside 127.0.0.35) and puts both HA
 * pair members on ::1 (different ports; stand-ins that read [v6] in Via, as
 * srvproxy's codec does). DNS over IPv6 answers AAAA and SRV with AAAA
 * additional data; a call from a user agent is forwarded to the pair over
 * IPv6 (the member sees [::1] in the proxy's Via) and completes; a user
 * agent on ::1 gets its OPTIONS answered back to its [::1] Via. (The user
 * agent calls from IPv4: ::1 is the only IPv6 loopback address, and a
 * request from a pair member's address is, by design, from that member.)
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { promises as dnsp } from 'node:dns';
import { callThrough, crashLines, pairStatus, startHardenedSite, type HardenedSite } from '../../support/hardening-site.js';
import { buildQuery, decode, udpExchange } from '../../support/dns-wire.js';
import { eventually } from '../../support/processes.js';
import { V6Member } from '../../support/v6-member.js';

describe('e2e: IPv6 on ::1', function () {
  this.timeout(30_000);
  let site: HardenedSite;
  const a = new V6Member('::1', 'sips-a.example.com');
  const b = new V6Member('::1', 'sips-b.example.com');

  before(async () => {
    await a.start();
    await b.start();
    site = await startHardenedSite({ proxy: '127.0.0.35', proxy2: '::1', members: ['::1', '::1'], memberPorts: [a.port, b.port] });
    await eventually(async () => (await pairStatus(site)).inService, 8000, 'pair in service (probed over IPv6)');
  });

  after(async () => {
    await site?.stop();
    await a.stop();
    await b.stop();
  });

  it('DNS over IPv6: AAAA of the instance and the pool, SRV with AAAA additional data', async () => {
    const r = new dnsp.Resolver({ timeout: 1000, tries: 2 });
    r.setServers([`[::1]:${site.dnsPort}`]);
    expect(await r.resolve6('proxy1.example.com')).to.deep.equal(['::1']);
    expect(await r.resolve6('sipproxy.example.com')).to.deep.equal(['::1']);
    expect(await r.resolve6('sips-a.example.com')).to.deep.equal(['::1']);
    const srv = await r.resolveSrv('_sip._udp.sipproxy.example.com');
    expect(srv.map((x) => `${x.name}:${x.port}`)).to.deep.equal([`proxy1.example.com:${site.sipPort}`]);
    const raw = await udpExchange(site.dnsPort, buildQuery('_sip._udp.tserver.example.com', 'SRV', { edns: 1232 }), 1000, '::1');
    const d = decode(raw!);
    expect(d.answer).to.have.length(2);
    expect(d.additional.filter((l) => / IN AAAA ::1$/.test(l))).to.have.length(2);
  });

  it('a call is forwarded to the pair member over IPv6 and completes', async () => {
    const c = await callThrough(site, '127.0.0.63');
    expect(c.ok, c.detail).to.equal(true);
    expect(c.answeredBy).to.equal(`sips-a.example.com:${a.port}`);
    const inv = a.requests.find((r) => r.method === 'INVITE')!;
    expect(inv.headers.via![0]!.host).to.equal('[::1]');
    expect(inv.headers.via![0]!.port).to.equal(site.sipPort);
    const rr = inv.headers['record-route']![0]!.uri as unknown;
    const rrText = typeof rr === 'string' ? rr : `sip:${(rr as { host: string }).host};pair=${(rr as { params: Record<string, string> }).params.pair}`;
    expect(rrText).to.match(/^sip:sipproxy\.example\.com;(lr;)?pair=tserver\.example\.com$/);
    expect(a.requests.some((r) => r.method === 'BYE' && r.headers.via[0].host === '[::1]')).to.equal(true);
  });

  it('a user agent on ::1: OPTIONS to the instance at [::1] is answered back to its [::1] Via', async () => {
    const s = dgram.createSocket('udp6');
    await new Promise<void>((r) => s.bind(0, '::1', () => r()));
    const port = s.address().port;
    try {
      const got = new Promise<string>((resolve) => s.on('message', (b) => resolve(b.toString('latin1'))));
      s.send(
        [
          `OPTIONS sip:proxy1.example.com:${site.sipPort} SIP/2.0`,
          `Via: SIP/2.0/UDP [::1]:${port};branch=z9hG4bKv6opt;rport`,
          'Max-Forwards: 70',
          'From: <sip:ua@[::1]>;tag=v6',
          `To: <sip:proxy1.example.com:${site.sipPort}>`,
          'Call-ID: v6-options',
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        site.sipPort,
        '::1',
      );
      const res = await Promise.race([got, new Promise<string>((r) => setTimeout(() => r('timeout'), 3000))]);
      expect(res).to.match(/^SIP\/2\.0 200/);
      expect(res).to.match(new RegExp(`\\r\\nVia: SIP/2\\.0/UDP \\[::1\\]:${port};`, 'i'));
    } finally {
      s.close();
    }
    expect(crashLines(site.proc.output), site.proc.output.slice(-3000)).to.deep.equal([]);
  });
});
