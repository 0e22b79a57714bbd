/**
 * A real DnsServer on loopback asked by Node's own resolver (c-ares):
 * SRV, A, AAAA, NAPTR, TXT, NXDOMAIN, NODATA, REFUSED; health filtering,
 * fail open and local first through the socket; table swaps under load;
 * TCP framing and limits; listen() errors.
 */
import { expect } from 'chai';
import dns from 'node:dns';
import net from 'node:net';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import type { PoolFilter } from '../../../src/dns/authority/filter.js';
import { SerialCounter } from '../../../src/dns/authority/serial.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { DNS_TEST_ZONE, testPoolMembers, zonesFromText } from '../../support/dns-zone.js';
import { buildQuery, decode, tcpExchange, udpExchange } from '../../support/dns-wire.js';

const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });

function resolverFor(port: number): dns.promises.Resolver {
  const r = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

function filter(down: string[], local: string[] = []): PoolFilter {
  const set = new Set(down.map((d) => `${d}.example.com`));
  return { pool: 'sipproxy.example.com', members: testPoolMembers(), isHealthy: (t) => !set.has(t), local: local.map((l) => `${l}.example.com`) };
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

describe('e2e dns: Node resolver against a real DnsServer', function () {
  this.timeout(15000);
  let server: DnsServer;
  let resolver: dns.promises.Resolver;

  before(async () => {
    server = new DnsServer({ addresses: ['127.0.0.1', '::1'], port: 0, table: buildAnswerTable(zones).table });
    await server.listen();
    resolver = resolverFor(server.port);
  });
  after(async () => {
    await server.close();
  });

  it('listens on UDP and TCP, IPv4 and IPv6, on one port', () => {
    const bound = server.addresses();
    expect(bound).to.have.length(4);
    expect(new Set(bound.map((b) => b.port))).to.deep.equal(new Set([server.port]));
    expect(bound.map((b) => `${b.transport} ${b.address}`).sort()).to.deep.equal(['tcp 127.0.0.1', 'tcp ::1', 'udp 127.0.0.1', 'udp ::1']);
  });

  it('SRV, A, AAAA, NAPTR and TXT', async () => {
    const srv = await resolver.resolveSrv('_sip._udp.sipproxy.example.com');
    expect(srv.map((s) => `${s.priority} ${s.weight} ${s.port} ${s.name}`)).to.deep.equal([
      '10 50 5060 proxy1.example.com', '10 50 5060 proxy2.example.com', '20 50 5060 proxy3.example.com',
    ]);
    expect(await resolver.resolve4('sipproxy.example.com')).to.deep.equal(['127.0.0.11', '127.0.0.12', '127.0.0.13']);
    expect(await resolver.resolve6('proxy1.example.com')).to.deep.equal(['2001:db8::11']);
    const naptr = await resolver.resolveNaptr('sipproxy.example.com');
    expect(naptr.map((n) => `${n.order} ${n.preference} ${n.flags} ${n.service} ${n.replacement}`)).to.deep.equal([
      '10 50 s SIP+D2U _sip._udp.sipproxy.example.com', '20 50 s SIP+D2T _sip._tcp.sipproxy.example.com',
    ]);
    expect(await resolver.resolveTxt('txt.example.com')).to.deep.equal([['hello world', 'two']]);
    expect(await resolver.resolve4('www.example.com')).to.deep.equal(['127.0.0.11']);
  });

  it('NXDOMAIN, NODATA and REFUSED', async () => {
    expect(await errorCode(resolver.resolve4('nothere.example.com'))).to.equal('ENOTFOUND');
    expect(await errorCode(resolver.resolveTxt('proxy1.example.com'))).to.equal('ENODATA');
    expect(await errorCode(resolver.resolve4('www.example.org'))).to.equal('EREFUSED');
  });

  it('answers over IPv6 and over TCP', async () => {
    const r6 = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
    r6.setServers([`[::1]:${server.port}`]);
    expect(await r6.resolve4('proxy2.example.com')).to.deep.equal(['127.0.0.12']);
    const qs = ['proxy1', 'proxy2', 'proxy3'].map((p, i) => buildQuery(`${p}.example.com`, 'A', { id: i + 1 }));
    const answers = (await tcpExchange(server.port, qs)).map(decode);
    expect(answers.map((a) => `${a.id} ${a.answer[0]}`)).to.deep.equal([
      '1 proxy1.example.com. 30 IN A 127.0.0.11', '2 proxy2.example.com. 30 IN A 127.0.0.12', '3 proxy3.example.com. 30 IN A 127.0.0.13',
    ]);
  });

  it('reassembles TCP queries split across writes, byte by byte', async () => {
    const q = buildQuery('proxy1.example.com', 'A', { id: 99 });
    const framed = Buffer.concat([Buffer.from([0, q.length]), q, Buffer.from([0, q.length]), q]);
    const got = await new Promise<Buffer[]>((resolve) => {
      const out: Buffer[] = [];
      let acc = Buffer.alloc(0);
      const writeByByte = async () => {
        for (const b of framed) {
          s.write(Buffer.from([b]));
          await new Promise((r) => setImmediate(r));
        }
      };
      const s = net.connect(server.port, '127.0.0.1', () => void writeByByte());
      const t = setTimeout(() => s.destroy(), 3000);
      s.on('data', (c) => {
        acc = Buffer.concat([acc, c]);
        while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
          out.push(acc.subarray(2, 2 + acc.readUInt16BE(0)));
          acc = acc.subarray(2 + acc.readUInt16BE(0));
        }
        if (out.length === 2) s.destroy();
      });
      s.on('close', () => {
        clearTimeout(t);
        resolve(out);
      });
    });
    expect(got.map((g) => decode(g).id)).to.deep.equal([99, 99]);
  });

  it('withdraws an unhealthy member, fails open, answers local first — through the socket', async () => {
    const serials = new SerialCounter();
    const soa = async (): Promise<number> => (await resolver.resolveSoa('example.com')).serial;
    server.setTable(buildAnswerTable(zones, { filter: filter([]), serials }).table);
    const s0 = await soa();

    server.setTable(buildAnswerTable(zones, { filter: filter(['proxy2']), serials }).table);
    expect((await resolver.resolveSrv('_sip._udp.sipproxy.example.com')).map((s) => s.name)).to.deep.equal(['proxy1.example.com', 'proxy3.example.com']);
    expect(await resolver.resolve4('sipproxy.example.com')).to.deep.equal(['127.0.0.11', '127.0.0.13']);
    const s1 = await soa();
    expect(s1).to.be.above(s0);

    const all = buildAnswerTable(zones, { filter: filter(['proxy1', 'proxy2', 'proxy3']), serials });
    expect(all.failOpen).to.equal(true);
    server.setTable(all.table);
    expect(await resolver.resolveSrv('_sip._udp.sipproxy.example.com')).to.have.length(3);
    expect(await soa()).to.be.above(s1);

    server.setTable(buildAnswerTable(zones, { filter: filter([], ['proxy3']), serials }).table);
    const local = await resolver.resolveSrv('_sip._udp.sipproxy.example.com');
    const best = Math.min(...local.map((s) => s.priority));
    expect(local.filter((s) => s.priority === best).map((s) => s.name)).to.deep.equal(['proxy3.example.com']);
    server.setTable(buildAnswerTable(zones).table);
  });

  it('drops no query while tables are swapped under load', async () => {
    const tables = [buildAnswerTable(zones, { filter: filter([]) }).table, buildAnswerTable(zones, { filter: filter(['proxy2']) }).table];
    let swaps = 0;
    const swapper = setInterval(() => server.setTable(tables[swaps++ % 2]!), 1);
    try {
      const answers = await Promise.all(
        Array.from({ length: 300 }, (_, i) => udpExchange(server.port, buildQuery('_sip._udp.sipproxy.example.com', 'SRV', { id: i }), 2000)),
      );
      expect(answers.filter((a) => a === null)).to.have.length(0);
      for (const a of answers) expect(decode(a!).answer.length).to.be.oneOf([2, 3]);
    } finally {
      clearInterval(swapper);
      server.setTable(buildAnswerTable(zones).table);
    }
    expect(swaps).to.be.above(2);
  });

  it('closes idle TCP connections and caps connections per source', async () => {
    const s = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: server.table, tcp: { idleTimeoutMs: 200, maxConnectionsPerSource: 2 } });
    await s.listen();
    try {
      const open = (): Promise<net.Socket> =>
        new Promise((resolve, reject) => {
          const c = net.connect(s.port, '127.0.0.1', () => resolve(c));
          c.on('error', reject);
        });
      const closed = (c: net.Socket): Promise<void> => new Promise((resolve) => (c.destroyed ? resolve() : c.on('close', () => resolve())));
      const [a, b, c] = [await open(), await open(), await open()];
      c.on('error', () => {});
      await closed(c); // over the per-source limit: cut at once
      expect(s.counters.tcpRejected).to.equal(1);
      const t0 = Date.now();
      await Promise.all([closed(a), closed(b)]);
      expect(Date.now() - t0).to.be.below(2000);
      expect(s.counters.tcpIdleClosed).to.equal(2);
      expect(s.counters.tcpOpen).to.equal(0);
    } finally {
      await s.close();
    }
  });

  it('listen() rejects with a clear error when the port is taken, and leaves nothing open', async () => {
    const other = new DnsServer({ addresses: ['127.0.0.1'], port: server.port });
    let err: Error | undefined;
    try {
      await other.listen();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/cannot listen for DNS on udp 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)/);
    expect((err as { code?: string }).code).to.equal('SRV_ERR_LISTEN');
    expect(other.addresses()).to.deep.equal([]);
    // The first server still answers.
    expect(await resolver.resolve4('proxy1.example.com')).to.deep.equal(['127.0.0.11']);
  });
});
