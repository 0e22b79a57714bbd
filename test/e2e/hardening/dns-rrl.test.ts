/**
 * DNS response rate limiting on the wire: a real DnsServer with --dns-rrl-rate
 * on loopback. One client prefix over the rate gets some answers dropped and
 * every slip-th one truncated (TC, no records), which a real client retries
 * over TCP and gets in full; another prefix is not affected; the bucket
 * refills; prefixes are /24 (IPv4) and /56 (IPv6). And the CLI flags.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import { ResponseRateLimiter, truncatedResponse } from '../../../src/dns/server/rrl.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../support/dns-zone.js';
import { buildQuery, decode, tcpExchange } from '../../support/dns-wire.js';
import { runCli, sleep } from '../../support/processes.js';

const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });
const RATE = 10;

/** Sends `n` queries from `from` at once; the answers that came back within `ms`. */
async function burst(port: number, from: string, n: number, ms = 500): Promise<Buffer[]> {
  const s = dgram.createSocket(from.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  const got: Buffer[] = [];
  s.on('message', (b) => got.push(b));
  const to = from.includes(':') ? '::1' : '127.0.0.1';
  for (let i = 0; i < n; i++) s.send(buildQuery('_sip._udp.sipproxy.example.com', 'SRV', { id: i + 1 }), port, to);
  await sleep(ms);
  s.close();
  return got;
}

describe('e2e dns: response rate limiting', function () {
  this.timeout(15_000);
  let server: DnsServer;

  before(async () => {
    server = new DnsServer({ addresses: ['127.0.0.1', '::1'], port: 0, table: buildAnswerTable(zones).table, rrl: { rate: RATE, slip: 2 } });
    await server.listen();
  });

  after(async () => {
    await server.close();
  });

  it(`over ${RATE}/s from one /24: the rest dropped, every 2nd limited answer truncated (TC, no records); TCP answers in full`, async () => {
    const got = await burst(server.port, '127.0.5.1', 60);
    const full = got.map(decode).filter((d) => !d.tc);
    const tc = got.map(decode).filter((d) => d.tc);
    expect(full.length).to.be.within(RATE, RATE + 1);
    expect(full.every((d) => d.answer.length > 0)).to.equal(true);
    // 50 limited: 25 slipped (truncated), 25 dropped
    expect(tc.length).to.be.within(24, 26);
    expect(tc.every((d) => d.answer.length === 0 && d.authority.length === 0 && d.additional.length === 0 && d.question?.type === 'SRV')).to.equal(true);
    expect(server.rrlCounters.rrlSlipped).to.be.within(24, 26);
    expect(server.rrlCounters.rrlDropped).to.be.within(24, 26);
    // the client's retry over TCP is never limited
    const [viaTcp] = await tcpExchange(server.port, [buildQuery('_sip._udp.sipproxy.example.com', 'SRV')]);
    expect(decode(viaTcp!).answer.length).to.be.greaterThan(0);
  });

  it('another /24 is not limited by the first; another address of the same /24 is', async () => {
    const [first, sameNet, otherNet] = await Promise.all([burst(server.port, '127.0.7.1', 30), burst(server.port, '127.0.7.2', 10), burst(server.port, '127.0.8.1', RATE)]);
    const full = (bs: Buffer[]) => bs.map(decode).filter((d) => !d.tc).length;
    expect(full(first) + full(sameNet), 'full answers to the one /24').to.be.within(RATE, RATE + 1);
    expect(full(otherNet), 'full answers to the other /24').to.equal(RATE);
  });

  it('the bucket refills at the rate', async () => {
    await sleep(1100);
    const again = await burst(server.port, '127.0.5.3', RATE, 300);
    expect(again.map(decode).filter((d) => !d.tc).length).to.be.at.least(RATE - 1);
  });

  it('IPv6: limited per /56', async () => {
    const got = await burst(server.port, '::1', 40);
    expect(got.map(decode).filter((d) => !d.tc).length).to.be.within(RATE, RATE + 1);
  });

  it('prefixes: /24 and /56, IPv4-mapped as IPv4; the table is bounded', () => {
    const r = new ResponseRateLimiter({ rate: 1, maxPrefixes: 100 });
    expect(r.prefixOf('192.0.2.77')).to.equal(r.prefixOf('192.0.2.1'));
    expect(r.prefixOf('192.0.2.77')).to.not.equal(r.prefixOf('192.0.3.77'));
    expect(r.prefixOf('::ffff:192.0.2.9')).to.equal(r.prefixOf('192.0.2.200'));
    expect(r.prefixOf('2001:db8:1:ff::1')).to.equal(r.prefixOf('2001:db8:1:0::2'));
    expect(r.prefixOf('2001:db8:1:100::1')).to.not.equal(r.prefixOf('2001:db8:1:0::1'));
    for (let i = 0; i < 5000; i++) r.check(`10.${i >> 8}.${i & 255}.1`);
    expect(r.size).to.be.at.most(100);
    // off: everything sent
    const off = new ResponseRateLimiter({ rate: 0 });
    for (let i = 0; i < 100; i++) expect(off.check('127.0.0.1')).to.equal('send');
    expect(truncatedResponse(Buffer.alloc(5))).to.equal(undefined);
  });

  it('CLI: --dns-rrl-rate and --dns-rrl-slip are validated', async () => {
    const r = await runCli(['run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--dns-rrl-slip', '-1']);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.match(/^srvproxy: --dns-rrl-slip: -1 is out of range 0\.\.1000$/);
    const t = await runCli(['run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--tls-cert', '/x.pem']);
    expect(t.code).to.equal(2);
    expect(t.stderr.trim()).to.match(/--tls-key: is required with --tls-cert/);
  });
});
