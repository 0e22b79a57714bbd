/**
 * The forwarder's parts without sockets: the checks on an upstream answer
 * and the TTLs it may be cached for (RFC 2308), the relayed answer's TTLs and truncation, and the cache's TTL and LRU bounds on a fake
 * clock.
 */
import { expect } from 'chai';
import { emptyAnswerTable } from '../../../../src/dns/authority/answers.js';
import { respond } from '../../../../src/dns/authority/respond.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { AnswerCache } from '../../../../src/dns/forward/cache.js';
import {
  cacheKey, emptyAnswer, foldedName, readClientQuery, readUpstreamAnswer, relayedAnswer, upstreamQuery, type ClientQuery,
} from '../../../../src/dns/forward/message.js';
import { answer } from '../../../support/dns-upstream.js';
import { buildQuery, decode } from '../../../support/dns-wire.js';

const LIMITS = { maxTtl: 86400, maxNegativeTtl: 10800 };

function client(name: string, type = 'A', o: Parameters<typeof buildQuery>[2] = {}): ClientQuery {
  const q = buildQuery(name, type, o);
  return readClientQuery(q, q.length, false)!;
}

/** The upstream's answer to the query the forwarder would send for `cq`. */
function upstreamAnswerTo(cq: ClientQuery, spec: Parameters<typeof answer>[1], mutate?: (b: Buffer) => Buffer) {
  const folded = foldedName(cq);
  const query = upstreamQuery(0x4242, cq, folded);
  let msg = answer(query, spec);
  if (mutate) msg = mutate(msg);
  return readUpstreamAnswer(msg, msg.length, 0x4242, cq, folded, LIMITS);
}

describe('dns forwarding parts', () => {
  describe('upstream answers', () => {
    it('are checked: ID, QR, question name (any case), type and class', () => {
      const cq = client('Www.Example.ORG');
      const folded = foldedName(cq);
      const good = answer(upstreamQuery(7, cq, folded), { addresses: ['127.0.0.1'] });
      expect(readUpstreamAnswer(good, good.length, 7, cq, folded, LIMITS)).to.not.equal(null);
      expect(readUpstreamAnswer(good, good.length, 8, cq, folded, LIMITS)).to.equal(null);
      const upper = Buffer.from(good);
      upper[13] = 0x57; // 'W'
      expect(readUpstreamAnswer(upper, upper.length, 7, cq, folded, LIMITS)).to.not.equal(null);
      for (const [at, v] of [[2, 0x01], [13, 0x78], [good.length - 16 - 3, 0x1c]] as const) {
        const bad = Buffer.from(good);
        bad[at] = v;
        expect(readUpstreamAnswer(bad, bad.length, 7, cq, folded, LIMITS), `byte ${at}`).to.equal(null);
      }
      expect(readUpstreamAnswer(good, good.length - 3, 7, cq, folded, LIMITS)).to.equal(null);
    });

    it('positive: cached for the smallest TTL, capped', () => {
      const cq = client('a.example.org');
      expect(upstreamAnswerTo(cq, { addresses: ['127.0.0.1'], ttl: 120 })!.cacheTtl).to.equal(120);
      expect(upstreamAnswerTo(cq, { addresses: ['127.0.0.1'], ttl: 0 })!.cacheTtl).to.equal(0);
      expect(upstreamAnswerTo(cq, { addresses: ['127.0.0.1'], ttl: 999999 })!.cacheTtl).to.equal(86400);
      expect(upstreamAnswerTo(cq, { addresses: ['127.0.0.1'], ttl: 0x80000001 })!.cacheTtl).to.equal(0);
    });

    it('negative: min(SOA TTL, MINIMUM) per RFC 2308; not cached without an SOA; SERVFAIL and TC never', () => {
      const cq = client('nx.example.org');
      expect(upstreamAnswerTo(cq, { rcode: 3, soa: [300, 60] })!.cacheTtl).to.equal(60);
      expect(upstreamAnswerTo(cq, { rcode: 3, soa: [30, 600] })!.cacheTtl).to.equal(30);
      expect(upstreamAnswerTo(cq, { soa: [300, 45] })).to.include({ cacheTtl: 45, negative: true });
      expect(upstreamAnswerTo(cq, { rcode: 3, soa: [99999, 99999] })!.cacheTtl).to.equal(10800);
      expect(upstreamAnswerTo(cq, { rcode: 3 })!.cacheTtl).to.equal(0);
      expect(upstreamAnswerTo(cq, { ns: ['ns.elsewhere.org'] })!.cacheTtl).to.equal(0);
      expect(upstreamAnswerTo(cq, { rcode: 2 })!.cacheTtl).to.equal(0);
      expect(upstreamAnswerTo(cq, { tc: true, addresses: ['127.0.0.1'] })!.cacheTtl).to.equal(0);
    });

    it("the upstream's OPT is left out of the relayed answer; the client's EDNS gets ours", () => {
      const cq = client('o.example.org', 'A', { edns: 4096, id: 99 });
      const a = upstreamAnswerTo(cq, { addresses: ['127.0.0.1'] }, (m) => {
        const withOpt = Buffer.concat([m, Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0])]);
        withOpt.writeUInt16BE(1, 10);
        return withOpt;
      })!;
      expect([a.an, a.ar]).to.deep.equal([1, 0]);
      const d = decode(relayedAnswer(cq, a, 0, 1232));
      expect([d.id, d.answer.length, d.additional.length, d.opt?.udpSize]).to.deep.equal([99, 1, 0, 1232]);
    });
  });

  describe('relayed answers', () => {
    it('lower every TTL by the age, never below 0', () => {
      const cq = client('t.example.org');
      const a = upstreamAnswerTo(cq, { addresses: ['127.0.0.1', '127.0.0.2'], ttl: 100, ns: ['ns1.example.org'] })!;
      const ttls = (age: number) => {
        const d = decode(relayedAnswer(cq, a, age, 1232));
        return [...d.answer, ...d.authority].map((l) => Number(l.split(' ')[1]));
      };
      expect(ttls(0)).to.deep.equal([100, 100, 100]);
      expect(ttls(37)).to.deep.equal([63, 63, 63]);
      expect(ttls(500)).to.deep.equal([0, 0, 0]);
    });

    it('over UDP: the additional section goes first, then TC with an empty answer; over TCP in full', () => {
      const many = Array.from({ length: 40 }, (_, i) => `127.0.3.${i}`);
      const cq = client('m.example.org');
      const a = upstreamAnswerTo(cq, { addresses: many })!;
      const udp = decode(relayedAnswer(cq, a, 0, 1232));
      expect([udp.tc, udp.answer.length]).to.deep.equal([true, 0]);
      const q = buildQuery('m.example.org', 'A');
      const tcp = relayedAnswer(readClientQuery(q, q.length, true)!, a, 0, 1232);
      expect(tcp.readUInt16BE(0)).to.equal(tcp.length - 2);
      expect(decode(tcp.subarray(2)).answer).to.have.length(40);
      const big = client('m.example.org', 'A', { edns: 4096 });
      expect(decode(relayedAnswer(big, a, 0, 1232)).answer).to.have.length(40);
    });

    it('REFUSED and SERVFAIL carry the OPT when the query had one, byte for byte as the authoritative path writes REFUSED', () => {
      for (const o of [{}, { edns: 4096, dnssecOk: true }, { edns: 600 }]) {
        for (const tcp of [false, true]) {
          const q = buildQuery('Www.Example.ORG', 'AAAA', { ...o, id: 0x7777, flags: 0x0110 });
          const cq = readClientQuery(q, q.length, tcp)!;
          const refused = emptyAnswer(cq, 5, false, 1232);
          const authoritative = respond(emptyAnswerTable(), q, q.length, tcp, newCounters())!;
          expect(refused.equals(authoritative), JSON.stringify(o)).to.equal(true);
          const servfail = decode(tcp ? emptyAnswer(cq, 2, true, 1232).subarray(2) : emptyAnswer(cq, 2, true, 1232));
          expect(servfail).to.include({ id: 0x7777, rcode: 'SERVFAIL', ra: true, rd: true, cd: true });
          expect(servfail.question!.name).to.equal('Www.Example.ORG.');
          expect(servfail.opt).to.deep.equal('edns' in o ? { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: 'dnssecOk' in o } : undefined);
        }
      }
    });

    it('relay the OPT with extended RCODE 0 and the payload size advertised', () => {
      const cq = client('o.example.org', 'A', { edns: 1232 });
      const a = upstreamAnswerTo(cq, { addresses: ['127.0.0.1'] })!;
      const raw = relayedAnswer(cq, a, 0, 1400);
      expect(decode(raw).opt).to.deep.equal({ udpSize: 1400, extRcode: 0, version: 0, dnssecOk: false });
    });

    it('cache keys fold case and keep type, class, CD and DO apart', () => {
      const k = (name: string, type = 'A', o = {}) => {
        const cq = client(name, type, o);
        return cacheKey(cq, foldedName(cq));
      };
      expect(k('WWW.Example.org')).to.equal(k('www.example.org'));
      const keys = [k('www.example.org'), k('www.example.org', 'AAAA'), k('www.example.org', 'A', { flags: 0x0110 }), k('www.example.org', 'A', { edns: 1232, dnssecOk: true })];
      expect(new Set(keys).size).to.equal(4);
    });
  });

  describe('AnswerCache', () => {
    const cq = client('c.example.org');
    const ans = (ttl: number) => upstreamAnswerTo(cq, { addresses: ['127.0.0.1'], ttl })!;

    it('keeps an answer for its TTL and reports its age in whole seconds', () => {
      let now = 1000;
      const c = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20, now: () => now });
      c.put('k', ans(10));
      now += 2500;
      expect(c.get('k')!.age).to.equal(2);
      now += 7499;
      expect(c.get('k')).to.not.equal(undefined);
      now += 1;
      expect(c.get('k')).to.equal(undefined);
      expect([c.size, c.bytes]).to.deep.equal([0, 0]);
      c.put('zero', ans(0));
      expect(c.size).to.equal(0);
    });

    it('is bounded in entries and bytes, least recently used out first', () => {
      const c = new AnswerCache({ maxEntries: 3, maxBytes: 1 << 20, now: () => 0 });
      for (const k of ['a', 'b', 'c']) c.put(k, ans(60));
      c.get('a');
      c.put('d', ans(60));
      expect(['a', 'b', 'c', 'd'].map((k) => c.get(k) !== undefined)).to.deep.equal([true, false, true, true]);
      const one = c.bytes / c.size;
      const small = new AnswerCache({ maxEntries: 1000, maxBytes: Math.floor(one * 2.5), now: () => 0 });
      for (let i = 0; i < 50; i++) small.put(`k${i}`, ans(60));
      expect(small.size).to.equal(2);
      expect(small.bytes).to.be.at.most(one * 2.5);
      expect(small.evictions).to.equal(48);
    });
  });
});
