/**
 * Forwarding names outside the zones (--forward, --forward-allow) through a
 * real DnsServer on loopback: a second srvproxy DnsServer serving another
 * zone stands in for the upstream resolver, and a scripted UDP/TCP server
 * for the cases that need a scripted upstream (TC, delays, counting,
 * spoofed answers). Clients: Node's resolver (c-ares) and raw queries.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import type { ForwardOptions } from '../../../src/dns/forward/forwarder.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { answer, ScriptedUpstream, type Script } from '../../support/dns-upstream.js';
import { freePort } from '../../support/ports.js';
import { startSrvproxy, stopAll } from '../../support/processes.js';
import { writeSiteZone } from '../../support/site-zone.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../support/dns-zone.js';
import { buildQuery, decode, tcpExchange, udpExchange } from '../../support/dns-wire.js';

const UPSTREAM_ZONE = `$ORIGIN upstream.test.
$TTL 300
@    SOA ns hostmaster 1 3600 600 86400 60
@    NS  ns
ns   A   127.0.0.53
www  A   127.0.0.80
www  A   127.0.0.81
ttl  A   127.0.0.82
`;

const own = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE })).table;
const upstreamTable = buildAnswerTable(zonesFromText({ 'upstream.test.zone': UPSTREAM_ZONE })).table;

function resolver(port: number, local?: string): dns.promises.Resolver {
  const r = new dns.promises.Resolver({ timeout: 3000, tries: 1 });
  if (local) r.setLocalAddress(local);
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** One UDP query from a chosen loopback source address. */
function udpFrom(source: string, port: number, query: Buffer, timeoutMs = 3000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v: Buffer | null): void => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on('message', (m) => done(m));
    s.on('error', () => done(null));
    s.bind(0, source, () => s.send(query, port, '127.0.0.1'));
  });
}

const ttlOf = (line: string): number => Number(line.split(' ')[1]);

describe('e2e dns: forwarding names outside the zones for allowed clients', function () {
  this.timeout(20000);
  const servers: DnsServer[] = [];
  const scripted: ScriptedUpstream[] = [];

  async function serve(table = own, forward?: ForwardOptions): Promise<DnsServer> {
    const s = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table, forward });
    servers.push(s);
    await s.listen();
    return s;
  }
  async function script(fn: Script): Promise<ScriptedUpstream> {
    const u = new ScriptedUpstream(fn);
    scripted.push(u);
    await u.start();
    return u;
  }
  const allow = ['127.0.0.1/32'];

  after(async () => {
    for (const s of servers) await s.close();
    for (const u of scripted) await u.close();
  });

  describe('with another srvproxy DnsServer as the upstream', () => {
    let upstream: DnsServer;
    let proxy: DnsServer;
    before(async () => {
      upstream = await serve(upstreamTable);
      proxy = await serve(own, { upstreams: [{ address: '127.0.0.1', port: upstream.port }], allow });
    });

    it('an allowed client resolves an outside name; the second query is a cache hit (the upstream sees one query)', async () => {
      const r = resolver(proxy.port);
      expect((await r.resolve4('www.upstream.test')).sort()).to.deep.equal(['127.0.0.80', '127.0.0.81']);
      expect((await r.resolve4('www.upstream.test')).sort()).to.deep.equal(['127.0.0.80', '127.0.0.81']);
      expect(upstream.counters.udpReceived).to.equal(1);
      expect(proxy.forwardCounters.forwarded).to.equal(1);
      expect(proxy.forwardCounters.cacheHits).to.equal(1);
    });

    it('relays with the client ID and question case, RD copied, RA set, AA clear; EDNS echoed', async () => {
      for (const flags of [0x0100, 0x0000]) {
        const res = await udpExchange(proxy.port, buildQuery('WwW.UpStream.TEST', 'A', { id: 0xbeef, flags, edns: 1232 }), 2000);
        const d = decode(res!);
        expect(d.id).to.equal(0xbeef);
        expect(d.question!.name).to.equal('WwW.UpStream.TEST.');
        // Both owner names point at the question as the client wrote it (offset 12).
        const qEnd = 12 + 19 + 4;
        expect([res!.readUInt16BE(qEnd), res!.readUInt16BE(qEnd + 16)]).to.deep.equal([0xc00c, 0xc00c]);
        expect(d.answer).to.have.length(2);
        expect([d.rcode, d.rd, d.ra, d.aa]).to.deep.equal(['NOERROR', flags !== 0, true, false]);
        expect(d.opt?.udpSize).to.equal(1232);
      }
    });

    it('names inside the served zones are answered authoritatively and never forwarded', async () => {
      const before = upstream.counters.udpReceived;
      const r = resolver(proxy.port);
      expect(await r.resolve4('proxy2.example.com')).to.deep.equal(['127.0.0.12']);
      expect(await errorCode(r.resolve4('nothere.example.com'))).to.equal('ENOTFOUND');
      const d = decode((await udpExchange(proxy.port, buildQuery('proxy2.example.com', 'A')))!);
      expect([d.aa, d.ra]).to.deep.equal([true, false]);
      expect(upstream.counters.udpReceived).to.equal(before);
    });

    it('a client outside --forward-allow gets REFUSED for outside names (and its own-zone answers)', async () => {
      const before = upstream.counters.udpReceived;
      const r = resolver(proxy.port, '127.0.0.9');
      expect(await errorCode(r.resolve4('www.upstream.test'))).to.equal('EREFUSED');
      expect(await r.resolve4('proxy1.example.com')).to.deep.equal(['127.0.0.11']);
      const d = decode((await udpFrom('127.0.0.9', proxy.port, buildQuery('ttl.upstream.test', 'A', { edns: 1232 })))!);
      expect([d.rcode, d.ra, d.aa, d.answer.length]).to.deep.equal(['REFUSED', false, false, 0]);
      expect(d.opt?.udpSize).to.equal(1232);
      expect(upstream.counters.udpReceived).to.equal(before);
      expect(proxy.forwardCounters.refused).to.equal(2);
    });

    it('TTLs count down in the cache', async () => {
      const first = decode((await udpExchange(proxy.port, buildQuery('ttl.upstream.test', 'A')))!);
      expect(ttlOf(first.answer[0]!)).to.equal(300);
      await new Promise((r) => setTimeout(r, 2100));
      const later = decode((await udpExchange(proxy.port, buildQuery('ttl.upstream.test', 'A')))!);
      expect(ttlOf(later.answer[0]!)).to.be.within(297, 298);
      expect(later.answer[0]!.split(' ').slice(2)).to.deep.equal(first.answer[0]!.split(' ').slice(2));
    });

    it('negative answers are cached (RFC 2308: min(SOA TTL, MINIMUM)), NXDOMAIN and NODATA', async () => {
      const before = upstream.counters.udpReceived;
      const r = resolver(proxy.port);
      expect(await errorCode(r.resolve4('nothere.upstream.test'))).to.equal('ENOTFOUND');
      expect(await errorCode(r.resolve4('nothere.upstream.test'))).to.equal('ENOTFOUND');
      const nx = decode((await udpExchange(proxy.port, buildQuery('nothere.upstream.test', 'A')))!);
      expect(nx.rcode).to.equal('NXDOMAIN');
      expect(nx.authority).to.have.length(1);
      expect(ttlOf(nx.authority[0]!)).to.be.within(59, 60);
      const nodata1 = decode((await udpExchange(proxy.port, buildQuery('www.upstream.test', 'AAAA')))!);
      const nodata2 = decode((await udpExchange(proxy.port, buildQuery('www.upstream.test', 'AAAA')))!);
      expect([nodata1.rcode, nodata1.answer.length, nodata2.rcode, nodata2.authority.length]).to.deep.equal(['NOERROR', 0, 'NOERROR', 1]);
      expect(upstream.counters.udpReceived - before).to.equal(2);
    });

    it('a client over TCP gets the forwarded answer too', async () => {
      const [res] = await tcpExchange(proxy.port, [buildQuery('ns.upstream.test', 'A', { id: 77 })]);
      const d = decode(res!);
      expect([d.id, d.rcode, d.answer.length]).to.deep.equal([77, 'NOERROR', 1]);
    });

    it('the upstream killed: SERVFAIL within the timeout, and the own zone keeps answering', async () => {
      const dead = await serve(upstreamTable);
      const port = dead.port;
      await dead.close();
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port }], allow, attemptTimeoutMs: 500 });
      const t0 = performance.now();
      const d = decode((await udpExchange(p.port, buildQuery('www.upstream.test', 'A'), 3000))!);
      expect([d.rcode, d.ra]).to.deep.equal(['SERVFAIL', true]);
      expect(performance.now() - t0).to.be.below(1500);
      expect(p.forwardCounters.servfails).to.equal(1);
      expect(p.forwardCounters.upstreamFailures).to.be.at.least(1);
      expect(await resolver(p.port).resolve4('proxy1.example.com')).to.deep.equal(['127.0.0.11']);
    });
  });

  describe('with a scripted upstream', () => {
    it('an answer with TC is asked again over TCP', async () => {
      const u = await script((q, s) => (s.transport === 'udp' ? answer(q, { tc: true }) : answer(q, { addresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] })));
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: u.port }], allow });
      expect((await resolver(p.port).resolve4('big.upstream.test')).sort()).to.deep.equal(['127.0.0.1', '127.0.0.2', '127.0.0.3']);
      expect([u.count('udp'), u.count('tcp'), p.forwardCounters.tcpRetries]).to.deep.equal([1, 1, 1]);
    });

    it('an answer too large for the client: TC to it over UDP, the full answer over TCP from the cache', async () => {
      const many = Array.from({ length: 60 }, (_, i) => `127.0.2.${i}`);
      const u = await script((q, s) => (s.transport === 'udp' ? answer(q, { tc: true }) : answer(q, { addresses: many })));
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: u.port }], allow });
      const small = decode((await udpExchange(p.port, buildQuery('many.upstream.test', 'A')))!);
      expect([small.tc, small.answer.length, small.ra]).to.deep.equal([true, 0, true]);
      const [full] = await tcpExchange(p.port, [buildQuery('many.upstream.test', 'A')]);
      expect(decode(full!).answer).to.have.length(60);
      expect(u.count()).to.equal(2); // one UDP, one TCP: the TCP client was served from the cache
    });

    it('identical queries in flight are coalesced into one upstream query', async () => {
      const u = await script((q) => answer(q, { addresses: ['127.0.0.7'] }));
      u.delayMs = 300;
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: u.port }], allow });
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => udpExchange(p.port, buildQuery(i % 2 ? 'PHONE.upstream.test' : 'phone.upstream.test', 'A', { id: 1000 + i }), 3000)),
      );
      const ids = answers.map((a) => decode(a!).id);
      expect(ids).to.deep.equal(Array.from({ length: 20 }, (_, i) => 1000 + i));
      expect(answers.every((a) => decode(a!).answer.length === 1)).to.equal(true);
      expect(u.count()).to.equal(1);
      expect([p.forwardCounters.forwarded, p.forwardCounters.coalesced]).to.deep.equal([1, 19]);
    });

    it('the cache is bounded (LRU): the least recently used answer goes first', async () => {
      const u = await script((q) => answer(q, { addresses: ['127.0.0.7'] }));
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: u.port }], allow, cacheEntries: 2 });
      const ask = (n: string) => udpExchange(p.port, buildQuery(`${n}.upstream.test`, 'A'));
      await ask('a');
      await ask('b');
      await ask('a'); // a is now the most recently used
      await ask('c'); // evicts b
      expect(u.count()).to.equal(3);
      await ask('a');
      await ask('c');
      expect(u.count()).to.equal(3);
      await ask('b');
      expect(u.count()).to.equal(4);
      expect(p.forwarder!.cache.size).to.equal(2);
    });

    it('a silent upstream: the next one answers; the silent one is then tried last', async () => {
      const silent = await script(() => null);
      const good = await script((q) => answer(q, { addresses: ['127.0.0.8'] }));
      const p = await serve(own, {
        upstreams: [{ address: '127.0.0.1', port: silent.port }, { address: '127.0.0.1', port: good.port }], allow, attemptTimeoutMs: 300,
      });
      let t0 = performance.now();
      expect(await resolver(p.port).resolve4('one.upstream.test')).to.deep.equal(['127.0.0.8']);
      expect(performance.now() - t0).to.be.within(250, 1500);
      t0 = performance.now();
      expect(await resolver(p.port).resolve4('two.upstream.test')).to.deep.equal(['127.0.0.8']);
      expect(performance.now() - t0).to.be.below(250);
      expect([silent.count(), good.count(), p.forwardCounters.upstreamFailures]).to.deep.equal([1, 2, 1]);
    });

    it('no upstream answers: SERVFAIL within the bounded total time, own zone answered meanwhile', async () => {
      const a = await script(() => null);
      const b = await script(() => null);
      const p = await serve(own, {
        upstreams: [{ address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: b.port }], allow, attemptTimeoutMs: 400,
      });
      const t0 = performance.now();
      const pending = udpExchange(p.port, buildQuery('lost.upstream.test', 'A'), 3000);
      await new Promise((r) => setTimeout(r, 50));
      const ownT0 = performance.now();
      expect(await resolver(p.port).resolve4('proxy3.example.com')).to.deep.equal(['127.0.0.13']);
      expect(performance.now() - ownT0).to.be.below(100);
      const d = decode((await pending)!);
      const took = performance.now() - t0;
      expect(d.rcode).to.equal('SERVFAIL');
      expect(took).to.be.within(700, 1400);
      expect([a.count(), b.count(), p.forwardCounters.servfails]).to.deep.equal([1, 1, 1]);
    });

    it('spoofed answers are dropped: wrong ID, wrong question, wrong source port', async () => {
      const forger = dgram.createSocket('udp4');
      await new Promise<void>((r) => forger.bind(0, '127.0.0.1', () => r()));
      let mode: 'ids' | 'port' = 'ids';
      const u = await script((q, s) => {
        if (mode === 'port') {
          // The right ID and question, but from another port than the one asked: never accepted.
          forger.send(answer(q, { addresses: ['127.0.0.66'] }), s.port, '127.0.0.1');
          return null;
        }
        const wrongQuestion = Buffer.from(q);
        wrongQuestion[13] ^= 0x01;
        return [answer(q, { addresses: ['127.0.0.66'], id: (s.id + 1) & 0xffff }), answer(wrongQuestion, { addresses: ['127.0.0.66'] }), answer(q, { addresses: ['127.0.0.9'] })];
      });
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: u.port }], allow, attemptTimeoutMs: 300 });
      expect(await resolver(p.port).resolve4('x.upstream.test')).to.deep.equal(['127.0.0.9']);
      expect(p.forwardCounters.bogus).to.equal(2);
      mode = 'port';
      const d = decode((await udpExchange(p.port, buildQuery('y.upstream.test', 'A'), 3000))!);
      expect(d.rcode).to.equal('SERVFAIL');
      forger.close();
    });

    it('bounded: beyond maxInflight resolutions, queries for new names are dropped and counted', async () => {
      const silent = await script(() => null);
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: silent.port }], allow, attemptTimeoutMs: 300, maxInflight: 2 });
      const res = await Promise.all(['n1', 'n2', 'n3', 'n4'].map((n) => udpExchange(p.port, buildQuery(`${n}.upstream.test`, 'A'), 1500)));
      expect(res.map((r) => (r ? decode(r).rcode : 'none')).sort()).to.deep.equal(['SERVFAIL', 'SERVFAIL', 'none', 'none']);
      expect([silent.count(), p.forwardCounters.overload, p.forwarder!.waiting]).to.deep.equal([2, 2, 0]);
    });

    it('queries leave only for the configured upstream, with a random ID and source port each', async () => {
      const u = await script((q) => answer(q, { addresses: ['127.0.0.7'], ns: ['ns.elsewhere.test'] }));
      const p = await serve(own, { upstreams: [{ address: '127.0.0.1', port: u.port }], allow });
      await Promise.all(Array.from({ length: 8 }, (_, i) => udpExchange(p.port, buildQuery(`r${i}.upstream.test`, 'A', { id: 5 }))));
      expect(u.count()).to.equal(8);
      expect(new Set(u.seen.map((s) => s.id)).size).to.be.at.least(7);
      expect(new Set(u.seen.map((s) => s.port)).size).to.be.at.least(7);
      expect(u.seen.every((s) => s.from === '127.0.0.1')).to.equal(true);
    });
  });

  describe('srvproxy run --forward --forward-allow', () => {
    after(() => stopAll());

    it('forwards for the allowed network and counts it in /metrics', async () => {
      const upstream = await serve(upstreamTable);
      const [sipPort, dnsPort, http] = [await freePort('127.0.0.31'), await freePort('127.0.0.31'), await freePort()];
      const zones = writeSiteZone({
        proxies: [{ name: 'proxy1', address: '127.0.0.31', port: sipPort }],
        pairs: { tserver: [{ name: 'sips-a', address: '127.0.0.32', port: sipPort }, { name: 'sips-b', address: '127.0.0.33', port: sipPort }] },
      });
      await startSrvproxy(
        ['--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', zones, '--dns-port', String(dnsPort),
          '--forward', `127.0.0.1:${upstream.port}`, '--forward-allow', '127.0.0.1/32', '::1/128'],
        http,
      );
      const r = new dns.promises.Resolver({ timeout: 3000, tries: 1 });
      r.setServers([`127.0.0.31:${dnsPort}`]);
      for (let i = 0; i < 3; i++) expect((await r.resolve4('www.upstream.test')).sort()).to.deep.equal(['127.0.0.80', '127.0.0.81']);
      expect(await r.resolve4('proxy1.example.com')).to.deep.equal(['127.0.0.31']);
      const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect([value('srvproxy_dns_forwarded_total'), value('srvproxy_dns_cache_hits_total'), value('srvproxy_dns_upstream_failures_total')]).to.deep.equal([1, 2, 0]);
      expect(upstream.counters.udpReceived).to.equal(1);
    });
  });
});
