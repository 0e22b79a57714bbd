/**
 * Fuzz: more than 100k random and mutated DNS messages (truncated names,
 * pointer loops, bad and huge counts, bad OPT, random bytes) at a real
 * DnsServer over UDP and TCP. Afterwards it must answer correctly, have
 * caught no exception, hold no TCP connection, and its heap must be back
 * within a bound.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { buildAnswerTable } from '../../../src/dns/authority/answers.js';
import { DnsServer } from '../../../src/dns/server/server.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../support/dns-zone.js';
import { buildQuery, decode, tcpExchange } from '../../support/dns-wire.js';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A small deterministic PRNG (mulberry32), so a failure can be replayed by seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['_sip._udp.sipproxy.example.com', 'sipproxy.example.com', 'proxy1.example.com', 'nothere.example.com', 'www.example.com', 'host.sub.example.com', 'example.org', 'big.example.com'];
const TYPES = ['SRV', 'A', 'AAAA', 'NAPTR', 'TXT', 'ANY', 'SOA', 'NS', 'CNAME', 'OPT', 'AXFR'];

function mutant(rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  const seed = buildQuery(NAMES[int(NAMES.length)]!, TYPES[int(TYPES.length)]!, {
    id: int(65536),
    flags: rand() < 0.9 ? 0x0100 : int(65536),
    edns: rand() < 0.5 ? int(70000) & 0xffff : undefined,
    ednsVersion: rand() < 0.05 ? 1 : 0,
  });
  switch (int(9)) {
    case 0: // random bytes
      return Buffer.from(Array.from({ length: int(600) }, () => int(256)));
    case 1: { // bit flips
      const b = Buffer.from(seed);
      for (let i = 0, n = 1 + int(4); i < n; i++) b[int(b.length)] ^= 1 << int(8);
      return b;
    }
    case 2: // truncated anywhere
      return seed.subarray(0, int(seed.length));
    case 3: { // bad and huge counts
      const b = Buffer.from(seed);
      b.writeUInt16BE([0, 1, 2, 0xffff, int(65536)][int(5)]!, [4, 6, 8, 10][int(4)]!);
      return b;
    }
    case 4: { // pointer loops in the question and in the additional section
      const h = Buffer.from(seed.subarray(0, 12));
      if (rand() < 0.5) return Buffer.concat([h, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
      h.writeUInt16BE(1, 10);
      const q = seed.subarray(12, 12 + seed.indexOf(0, 12) - 12 + 5);
      const at = 12 + q.length;
      return Buffer.concat([h, q, Buffer.from([0xc0 | (at >> 8), at & 0xff, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])]);
    }
    case 5: { // bad OPT: rdlength past the end, options overrunning, two OPTs
      const h = Buffer.from(buildQuery('proxy1.example.com', 'A', { edns: 1232 }));
      const v = int(3);
      if (v === 0) h.writeUInt16BE(0xffff, h.length - 2);
      if (v === 1) return Buffer.concat([h.subarray(0, h.length - 2), Buffer.from([0, 6, 0, 8, 0, 0xff, 1, 2])]);
      if (v === 2) {
        h.writeUInt16BE(2 + int(3), 10);
        return Buffer.concat([h, h.subarray(h.length - 11)]);
      }
      return h;
    }
    case 6: { // reserved label types and overlong labels in the question
      const b = Buffer.from(seed);
      b[12] = [0x40, 0x80, 0x3f, 0xff][int(4)]!;
      return b;
    }
    case 7: // a name of 300 octets
      return Buffer.concat([seed.subarray(0, 12), Buffer.alloc(300, 5), Buffer.from([0, 0, 1, 0, 1])]);
    default: // valid queries, mixed in so real answers are exercised too
      return seed;
  }
}

describe('e2e dns: fuzz over UDP and TCP', function () {
  this.timeout(60000);
  const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });
  let server: DnsServer;

  before(async () => {
    server = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: buildAnswerTable(zones).table, tcp: { idleTimeoutMs: 2000 } });
    await server.listen();
  });
  after(async () => {
    await server.close();
  });

  it('survives 100k+ hostile messages and still answers correctly', async () => {
    const rand = prng(20261125);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = Date.now();

    // UDP: 90k messages in bursts (libuv reads at most 32 datagrams a turn), letting the server drain.
    const client = dgram.createSocket('udp4');
    let replies = 0;
    client.on('message', () => replies++);
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const UDP = 90_000;
    for (let sent = 0; sent < UDP; ) {
      for (let i = 0; i < 24; i++, sent++) client.send(mutant(rand), server.port, '127.0.0.1');
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    client.close();

    // TCP: 12k framed messages over 40 connections, some with lying lengths, some cut mid-frame.
    const TCP = 12_000;
    let tcpSent = 0;
    const conns = Array.from({ length: 40 }, (_, c) =>
      new Promise<void>((resolve) => {
        const s = net.connect(server.port, '127.0.0.1');
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.on('data', () => {});
        const sendMutants = async () => {
          for (let i = 0; i < TCP / 40; i++) {
            const m = mutant(rand);
            const len = rand() < 0.05 ? Math.floor(rand() * 65536) : m.length;
            s.write(Buffer.concat([Buffer.from([len >> 8, len & 0xff]), m]));
            tcpSent++;
            if (i % 50 === 0) await new Promise((r) => setImmediate(r));
          }
          if (c % 2) s.end();
          else s.destroy();
        };
        s.on('connect', () => void sendMutants());
      }),
    );
    await Promise.all(conns);
    const elapsed = Date.now() - t0;

    expect(UDP + tcpSent).to.be.at.least(100_000);
    expect(server.counters.internalErrors, 'exceptions caught in handlers').to.equal(0);
    expect(server.counters.udpReceived).to.be.above(UDP * 0.5);
    expect(server.counters.dropped).to.be.above(0);
    expect(server.counters.formerr).to.be.above(0);
    expect(replies).to.be.above(0);

    // Still answering, correctly, over both transports.
    const r = new dns.promises.Resolver({ timeout: 1000, tries: 2 });
    r.setServers([`127.0.0.1:${server.port}`]);
    expect((await r.resolveSrv('_sip._udp.sipproxy.example.com')).map((s) => s.name)).to.deep.equal([
      'proxy1.example.com', 'proxy2.example.com', 'proxy3.example.com',
    ]);
    const [tcp] = await tcpExchange(server.port, [buildQuery('sipproxy.example.com', 'NAPTR', { id: 5 })]);
    expect(decode(tcp!).answer).to.have.length(2);

    // Every connection gone (cut ones by their idle timeout), memory back within a bound.
    for (let i = 0; i < 50 && server.counters.tcpOpen > 0; i++) await new Promise((res) => setTimeout(res, 100));
    expect(server.counters.tcpOpen).to.equal(0);
    gc();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    expect(grown, `heap grew by ${grown} bytes in ${elapsed} ms`).to.be.below(16 * 1024 * 1024);
  });
});
