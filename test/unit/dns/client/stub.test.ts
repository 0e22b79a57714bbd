/**
 * dns/client/stub against a real DnsServer on loopback (the stand-in for a
 * recursive resolver): records and their TTLs (the smallest along a CNAME
 * chain), NXDOMAIN and no data, a truncated UDP answer asked again over TCP,
 * a silent server skipped for the next; resolv.conf parsing.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { buildAnswerTable } from '../../../../src/dns/authority/answers.js';
import { resolvConfServers, StubResolver } from '../../../../src/dns/client/stub.js';
import { DnsServer } from '../../../../src/dns/server/server.js';
import { zonesFromText } from '../../../support/dns-zone.js';

const ZONE = [
  '$TTL 300',
  '@ SOA ns.carrier.test. hostmaster.carrier.test. 1 3600 600 86400 60',
  '@ NS ns.carrier.test.',
  'ns A 127.0.0.1',
  '_sip._udp 2 SRV 10 60 5060 gw',
  '_sip._udp 2 SRV 20 0 5070 gw2',
  'gw A 127.0.0.61',
  'gw2 A 127.0.0.62',
  'gw6 AAAA 2001:db8::1',
  'alias 40 CNAME gw',
  '@ NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.carrier.test.',
  ...Array.from({ length: 50 }, (_, i) => `_sip._tcp.big SRV 10 0 ${5000 + i} a-rather-long-target-name-${i}.carrier.test.`),
  ...Array.from({ length: 50 }, (_, i) => `a-rather-long-target-name-${i} A 127.0.1.${i}`),
  '',
].join('\n');

describe('dns/client/stub', function () {
  this.timeout(10_000);
  let server: DnsServer;
  let stub: StubResolver;

  before(async () => {
    server = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: buildAnswerTable(zonesFromText({ 'carrier.test.zone': ZONE })).table });
    await server.listen();
    stub = new StubResolver({ servers: [{ address: '127.0.0.1', port: server.port }], timeoutMs: 1000 });
  });
  after(async () => {
    stub?.close();
    await server?.close();
  });

  it('SRV, A, AAAA and NAPTR records with the TTL they carried', async () => {
    expect(await stub.query('SRV', '_sip._udp.carrier.test')).to.deep.equal({
      data: [{ priority: 10, weight: 60, port: 5060, name: 'gw.carrier.test' }, { priority: 20, weight: 0, port: 5070, name: 'gw2.carrier.test' }],
      ttl: 2,
    });
    expect(await stub.query('A', 'GW.carrier.test.')).to.deep.equal({ data: [{ address: '127.0.0.61' }], ttl: 300 });
    expect(await stub.query('AAAA', 'gw6.carrier.test')).to.deep.equal({ data: [{ address: '2001:db8::1' }], ttl: 300 });
    expect(await stub.query('NAPTR', 'carrier.test')).to.deep.equal({
      data: [{ order: 10, preference: 50, flags: 's', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.carrier.test' }],
      ttl: 300,
    });
  });

  it('a CNAME chain: the records at its end, with the smallest TTL on the way', async () => {
    expect(await stub.query('A', 'alias.carrier.test')).to.deep.equal({ data: [{ address: '127.0.0.61' }], ttl: 40 });
  });

  it('NXDOMAIN and no data', async () => {
    expect(await stub.query('A', 'nothere.carrier.test')).to.equal('nx');
    expect(await stub.query('AAAA', 'gw.carrier.test')).to.equal('nodata');
  });

  it('a truncated UDP answer is asked again over TCP', async () => {
    const r = await stub.query('SRV', '_sip._tcp.big.carrier.test');
    expect(server.counters.truncated).to.equal(1); // the UDP answer did not hold the 50 records
    expect(typeof r === 'object' && r.data).to.have.length(50);
  });

  it('a silent server: the next one answers, within the per-server timeout', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    let got = 0;
    silent.on('message', () => got++);
    const two = new StubResolver({ servers: [{ address: '127.0.0.1', port: silent.address().port }, { address: '127.0.0.1', port: server.port }], timeoutMs: 200 });
    try {
      const t0 = Date.now();
      expect(await two.query('A', 'gw.carrier.test')).to.deep.equal({ data: [{ address: '127.0.0.61' }], ttl: 300 });
      expect(Date.now() - t0).to.be.within(150, 1000);
      expect(got).to.equal(1);
      const only = new StubResolver({ servers: [{ address: '127.0.0.1', port: silent.address().port }], timeoutMs: 100 });
      expect(await only.query('A', 'gw.carrier.test')).to.equal('fail');
    } finally {
      two.close();
      silent.close();
    }
  });

  it('reads the nameserver lines of resolv.conf', () => {
    const text = '# comment\nsearch example.com\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\n  nameserver   ::1\nnameserver not-an-ip\noptions ndots:2\n';
    expect(resolvConfServers(text)).to.deep.equal([
      { address: '10.0.0.53', port: 53 },
      { address: 'fe80::1', port: 53 },
      { address: '::1', port: 53 },
    ]);
  });
});
