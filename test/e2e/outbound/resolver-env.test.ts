/**
 * The real srvproxy process with SRVPROXY_RESOLVER pointing at a DNS stand-in
 * on loopback (as its system resolver): the primary of the pair sends an
 * INVITE to a name outside the zones whose SRV lists two targets, the first
 * silent; the second answers within the per-hop timeout, the 200 reaches
 * the member, and /metrics counts the failed target.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { zonesFromText } from '../../support/dns-zone.js';
import { freePort } from '../../support/ports.js';
import { startSrvproxy, stopAll, type Proc } from '../../support/processes.js';
import { SipPeer, response, type Received } from '../../support/sip-peer.js';
import { ScriptedSipServer } from '../../support/sip-server.js';
import { request } from '../../support/sip-ua.js';
import { writeSiteZone } from '../../support/site-zone.js';

const PROXY = '127.0.0.37';

describe('e2e: srvproxy with SRVPROXY_RESOLVER (a DNS stand-in as the system resolver)', function () {
  this.timeout(30_000);
  let a: ScriptedSipServer;
  let b: ScriptedSipServer;
  let gw: SipPeer;
  let silent: dgram.Socket;
  let silentGot = 0;
  let dns: DnsServer;
  let proc: Proc;
  let sipPort: number;
  let httpPort: number;

  before(async () => {
    a = new ScriptedSipServer('127.0.0.21', 'sips-a.example.com');
    b = new ScriptedSipServer('127.0.0.22', 'sips-b.example.com');
    gw = new SipPeer('127.0.0.66');
    await Promise.all([a.start(), b.start(), gw.start()]);
    silent = dgram.createSocket('udp4');
    silent.on('message', () => silentGot++);
    await new Promise<void>((r) => silent.bind(0, '127.0.0.65', () => r()));
    const outside = [
      '$TTL 300',
      '@ SOA ns.carrier.test. hostmaster.carrier.test. 1 3600 600 86400 60',
      '@ NS ns.carrier.test.',
      'ns A 127.0.0.1',
      `_sip._udp.pool SRV 10 0 ${silent.address().port} dead`,
      `_sip._udp.pool SRV 20 0 ${gw.port} gw`,
      'dead A 127.0.0.65',
      'gw A 127.0.0.66',
      '',
    ].join('\n');
    dns = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: buildAnswerTable(zonesFromText({ 'carrier.test.zone': outside })).table });
    await dns.listen();
    sipPort = await freePort(PROXY);
    httpPort = await freePort();
    const zones = writeSiteZone({
      proxies: [{ name: 'proxy1', address: PROXY, port: sipPort }],
      pairs: { tserver: [{ name: 'sips-a', address: a.address, port: a.port }, { name: 'sips-b', address: b.address, port: b.port }] },
    });
    const dnsPort = await freePort(PROXY);
    process.env.SRVPROXY_RESOLVER = `127.0.0.1:${dns.port}`;
    try {
      proc = await startSrvproxy(['--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', zones, '--dns-port', String(dnsPort), '--hop-timeout', '0.3'], httpPort);
    } finally {
      delete process.env.SRVPROXY_RESOLVER;
    }
  });

  after(async () => {
    await stopAll();
    await dns?.close();
    silent?.close();
    await Promise.all([a?.stop(), b?.stop(), gw?.stop()]);
  });

  it('a silent first SRV target: the second answers, and /metrics counts the failure', async () => {
    const inv = request(a.peer, 'INVITE', { ruri: 'sip:+1555@pool.carrier.test' });
    const cid = inv.headers['call-id']!;
    const t0 = Date.now();
    a.peer.sendUdp(inv, PROXY, sipPort);
    const got = await gw.waitFor((r: Received) => r.msg.method === 'INVITE' && r.msg.headers['call-id'] === cid, 5000, 'INVITE at the second target');
    expect(Date.now() - t0).to.be.lessThan(300 + 1000);
    expect(silentGot).to.be.greaterThan(0);
    gw.reply(got, response(got.msg, 200, 'OK', { to: { ...got.msg.headers.to, params: { tag: 'gw' } } }));
    await a.peer.waitFor((r: Received) => r.msg.status === 200 && r.msg.headers['call-id'] === cid, 3000, '200 at the member');
    expect(dns.counters.queries.SRV).to.equal(1);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).to.include(`srvproxy_sip_target_failures_total{target="udp:127.0.0.65:${silent.address().port}"} 1`);
    expect(proc.running).to.equal(true);
  });
});
