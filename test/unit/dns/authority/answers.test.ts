/**
 * The answer table, case by case: real queries against the test zone, the
 * responses decoded and compared section by section as presentation text.
 */
import { expect } from 'chai';
import { ANSWER_CACHE_NAMES, buildAnswerTable, type AnswerTable } from '../../../../src/dns/authority/answers.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { respond } from '../../../../src/dns/authority/respond.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../../support/dns-zone.js';
import { buildQuery, decode, type Decoded } from '../../../support/dns-wire.js';

interface Case {
  qname: string;
  qtype: string;
  rcode: string;
  aa?: boolean;
  answer?: string[];
  authority?: string[];
  additional?: string[];
}

const SOA_NEG = 'example.com. 5 IN SOA ns1.example.com. hostmaster.example.com. 2026112501 3600 600 86400 5';

const cases: Case[] = [
  {
    qname: '_sip._udp.sipproxy.example.com', qtype: 'SRV', rcode: 'NOERROR',
    answer: [
      '_sip._udp.sipproxy.example.com. 5 IN SRV 10 50 5060 proxy1.example.com.',
      '_sip._udp.sipproxy.example.com. 5 IN SRV 10 50 5060 proxy2.example.com.',
      '_sip._udp.sipproxy.example.com. 5 IN SRV 20 50 5060 proxy3.example.com.',
    ],
    additional: [
      'proxy1.example.com. 30 IN A 127.0.0.11', 'proxy1.example.com. 30 IN AAAA 2001:db8::11',
      'proxy2.example.com. 30 IN A 127.0.0.12', 'proxy3.example.com. 30 IN A 127.0.0.13',
    ],
  },
  {
    qname: 'sipproxy.example.com', qtype: 'NAPTR', rcode: 'NOERROR',
    answer: [
      'sipproxy.example.com. 5 IN NAPTR 10 50 "s" "sip+d2u" "" _sip._udp.sipproxy.example.com.',
      'sipproxy.example.com. 5 IN NAPTR 20 50 "s" "sip+d2t" "" _sip._tcp.sipproxy.example.com.',
    ],
    additional: [
      '_sip._udp.sipproxy.example.com. 5 IN SRV 10 50 5060 proxy1.example.com.',
      '_sip._udp.sipproxy.example.com. 5 IN SRV 10 50 5060 proxy2.example.com.',
      '_sip._udp.sipproxy.example.com. 5 IN SRV 20 50 5060 proxy3.example.com.',
      'proxy1.example.com. 30 IN A 127.0.0.11', 'proxy1.example.com. 30 IN AAAA 2001:db8::11',
      'proxy2.example.com. 30 IN A 127.0.0.12', 'proxy3.example.com. 30 IN A 127.0.0.13',
      '_sip._tcp.sipproxy.example.com. 5 IN SRV 10 50 5060 proxy1.example.com.',
      '_sip._tcp.sipproxy.example.com. 5 IN SRV 10 50 5060 proxy2.example.com.',
    ],
  },
  {
    qname: 'sipproxy.example.com', qtype: 'A', rcode: 'NOERROR',
    answer: ['sipproxy.example.com. 5 IN A 127.0.0.11', 'sipproxy.example.com. 5 IN A 127.0.0.12', 'sipproxy.example.com. 5 IN A 127.0.0.13'],
  },
  { qname: 'proxy1.example.com', qtype: 'AAAA', rcode: 'NOERROR', answer: ['proxy1.example.com. 30 IN AAAA 2001:db8::11'] },
  { qname: 'nothere.example.com', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA_NEG] },
  { qname: 'x.y.nothere.example.com', qtype: 'SRV', rcode: 'NXDOMAIN', authority: [SOA_NEG] },
  { qname: 'x.proxy1.example.com', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA_NEG] },
  { qname: 'proxy1.example.com', qtype: 'TXT', rcode: 'NOERROR', authority: [SOA_NEG] },
  { qname: 'proxy1.example.com', qtype: 'HINFO', rcode: 'NOERROR', authority: [SOA_NEG] },
  { qname: 'b.c.example.com', qtype: 'A', rcode: 'NOERROR', authority: [SOA_NEG] },
  { qname: 'a.b.c.example.com', qtype: 'TXT', rcode: 'NOERROR', answer: ['a.b.c.example.com. 30 IN TXT "deep"'] },
  { qname: 'example.org', qtype: 'A', rcode: 'REFUSED', aa: false },
  { qname: 'com', qtype: 'NS', rcode: 'REFUSED', aa: false },
  { qname: '', qtype: 'NS', rcode: 'REFUSED', aa: false },
  {
    qname: 'www.example.com', qtype: 'A', rcode: 'NOERROR',
    answer: ['www.example.com. 30 IN CNAME proxy1.example.com.', 'proxy1.example.com. 30 IN A 127.0.0.11'],
  },
  {
    qname: 'alias.example.com', qtype: 'AAAA', rcode: 'NOERROR',
    answer: [
      'alias.example.com. 30 IN CNAME www.example.com.', 'www.example.com. 30 IN CNAME proxy1.example.com.',
      'proxy1.example.com. 30 IN AAAA 2001:db8::11',
    ],
  },
  { qname: 'www.example.com', qtype: 'TXT', rcode: 'NOERROR', answer: ['www.example.com. 30 IN CNAME proxy1.example.com.'], authority: [SOA_NEG] },
  { qname: 'www.example.com', qtype: 'CNAME', rcode: 'NOERROR', answer: ['www.example.com. 30 IN CNAME proxy1.example.com.'] },
  { qname: 'outside.example.com', qtype: 'A', rcode: 'NOERROR', answer: ['outside.example.com. 30 IN CNAME host.example.net.'] },
  { qname: 'txt.example.com', qtype: 'TXT', rcode: 'NOERROR', answer: ['txt.example.com. 30 IN TXT "hello world" "two"'] },
  {
    qname: 'mail.example.com', qtype: 'MX', rcode: 'NOERROR', answer: ['mail.example.com. 30 IN MX 10 proxy1.example.com.'],
    additional: ['proxy1.example.com. 30 IN A 127.0.0.11', 'proxy1.example.com. 30 IN AAAA 2001:db8::11'],
  },
  {
    qname: 'example.com', qtype: 'NS', rcode: 'NOERROR',
    answer: ['example.com. 30 IN NS ns1.example.com.', 'example.com. 30 IN NS ns2.example.com.'],
    additional: ['ns1.example.com. 30 IN A 127.0.0.1', 'ns2.example.com. 30 IN A 127.0.0.2'],
  },
  { qname: 'example.com', qtype: 'SOA', rcode: 'NOERROR', answer: [SOA_NEG.replace(' 5 IN SOA', ' 30 IN SOA')] },
  // Delegation: a referral (not authoritative) with the glue.
  {
    qname: 'host.sub.example.com', qtype: 'A', rcode: 'NOERROR', aa: false,
    authority: ['sub.example.com. 30 IN NS ns.sub.example.com.'], additional: ['ns.sub.example.com. 30 IN A 127.0.0.53'],
  },
  {
    qname: 'sub.example.com', qtype: 'SOA', rcode: 'NOERROR', aa: false,
    authority: ['sub.example.com. 30 IN NS ns.sub.example.com.'], additional: ['ns.sub.example.com. 30 IN A 127.0.0.53'],
  },
  {
    qname: 'ns.sub.example.com', qtype: 'A', rcode: 'NOERROR', aa: false,
    authority: ['sub.example.com. 30 IN NS ns.sub.example.com.'], additional: ['ns.sub.example.com. 30 IN A 127.0.0.53'],
  },
  // RFC 8482: ANY gets one RRset (the lowest type code present).
  {
    qname: 'sipproxy.example.com', qtype: 'ANY', rcode: 'NOERROR',
    answer: ['sipproxy.example.com. 5 IN A 127.0.0.11', 'sipproxy.example.com. 5 IN A 127.0.0.12', 'sipproxy.example.com. 5 IN A 127.0.0.13'],
  },
  { qname: 'b.c.example.com', qtype: 'ANY', rcode: 'NOERROR', authority: [SOA_NEG] },
  { qname: 'gone.example.com', qtype: 'ANY', rcode: 'NXDOMAIN', authority: [SOA_NEG] },
];

function ask(table: AnswerTable, name: string, type: string | number, opts: Parameters<typeof buildQuery>[2] = {}, tcp = false): Decoded {
  const q = buildQuery(name, type, opts);
  const out = respond(table, q, q.length, tcp, newCounters());
  expect(out, 'a response').to.not.equal(null);
  return decode(tcp ? out!.subarray(2) : out!);
}

describe('dns answers: lookup cases against the test zone', () => {
  const { table } = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE }));

  for (const c of cases) {
    it(`${c.qname || '.'} ${c.qtype} -> ${c.rcode}${c.answer ? ` (${c.answer.length} answers)` : ''}`, () => {
      const r = ask(table, c.qname, c.qtype, { edns: 4096 });
      expect(r.rcode).to.equal(c.rcode);
      expect(r.aa, 'AA').to.equal(c.aa ?? true);
      expect(r.tc).to.equal(false);
      expect(r.answer, 'answer').to.deep.equal(c.answer ?? []);
      expect(r.authority, 'authority').to.deep.equal(c.authority ?? []);
      expect(r.additional, 'additional').to.deep.equal(c.additional ?? []);
      expect(r.question?.name.toLowerCase()).to.equal(c.qname === '' ? '.' : c.qname + '.');
      // The same answer without EDNS (small enough) and over TCP.
      const plain = ask(table, c.qname, c.qtype, {}, true);
      expect(plain.answer).to.deep.equal(c.answer ?? []);
      expect(plain.authority).to.deep.equal(c.authority ?? []);
    });
  }

  it('echoes the question name as asked, and owner names point at it', () => {
    const q = buildQuery('_SIP._Udp.SipProxy.EXAMPLE.com', 'SRV');
    const out = respond(table, q, q.length, false, newCounters())!;
    const r = decode(out);
    expect(r.question!.name).to.equal('_SIP._Udp.SipProxy.EXAMPLE.com.');
    // Owner names are compression pointers to offset 12: they carry the asked case.
    expect(out.includes(Buffer.from('SipProxy'))).to.equal(true);
    expect(out.includes(Buffer.from('sipproxy'))).to.equal(false);
    expect(r.answer).to.have.length(3);
  });

  it('answers a mixed-case nonexistent name below the zone with the SOA relocated correctly', () => {
    const r = ask(table, 'A.Very.Long.Nonexistent.Label.Chain.Example.COM', 'A');
    expect(r.rcode).to.equal('NXDOMAIN');
    expect(r.authority).to.deep.equal([SOA_NEG]);
  });

  it('moves the answer into TCP when it does not fit UDP (no EDNS: 512; EDNS: min(client, 1232))', () => {
    const small = ask(table, 'big.example.com', 'TXT');
    expect(small.tc).to.equal(true);
    expect(small.answer).to.deep.equal([]);
    expect(small.size).to.be.at.most(512);
    const edns = ask(table, 'big.example.com', 'TXT', { edns: 65000 });
    expect(edns.tc).to.equal(true);
    expect(edns.opt?.udpSize).to.equal(1232);
    const tcp = ask(table, 'big.example.com', 'TXT', {}, true);
    expect(tcp.tc).to.equal(false);
    expect(tcp.answer).to.have.length(40);
    expect(tcp.size).to.be.above(1232);
  });

  it('leaves out the additional section before truncating the answer', () => {
    const full = ask(table, '_sip._udp.wide.example.com', 'SRV', { edns: 1232 });
    expect(full.additional).to.have.length(16);
    expect(full.size).to.be.above(512);
    const r = ask(table, '_sip._udp.wide.example.com', 'SRV');
    expect(r.tc).to.equal(false);
    expect(r.answer).to.have.length(8);
    expect(r.additional).to.deep.equal([]);
    expect(r.size).to.be.at.most(512);
  });
});

describe('dns answers: encoded on a name\'s first query, cached within a bound', () => {
  it('a new table holds no answers; a name is encoded once, whatever the case it is asked in', () => {
    const { table } = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE }));
    expect(table.cached).to.equal(0);
    const first = ask(table, 'proxy1.example.com', 'A');
    expect(table.cached).to.equal(1);
    expect(ask(table, 'PROXY1.Example.COM', 'A').answer).to.deep.equal(first.answer);
    expect(ask(table, 'proxy1.example.com', 'AAAA').answer).to.deep.equal(['proxy1.example.com. 30 IN AAAA 2001:db8::11']);
    expect(table.cached).to.equal(1);
  });

  it('never holds more names than its bound: a scan of random names starts the cache over and answers stay right', () => {
    expect(ANSWER_CACHE_NAMES).to.equal(65536);
    const bound = 64;
    const { table } = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE }), { cacheNames: bound });
    for (let i = 0; i < bound * 3 + 10; i++) {
      expect(table.cached).to.be.at.most(bound);
      expect(ask(table, `n${i}.example.com`, 'A').rcode).to.equal('NXDOMAIN');
    }
    expect(table.cached).to.be.below(bound);
    expect(ask(table, 'proxy1.example.com', 'AAAA').answer).to.deep.equal(['proxy1.example.com. 30 IN AAAA 2001:db8::11']);
    expect(ask(table, 'x.y.nothere.example.com', 'SRV').rcode).to.equal('NXDOMAIN');
  });

  it('a name with a byte no zone name has (a dot inside a label) is no name of the zone', () => {
    const { table } = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE }));
    // "proxy1.example" as one label, then "com": must not be taken for proxy1.example.com.
    const q = Buffer.from(buildQuery('proxy1xexample.com', 'A', {}));
    q[12 + 1 + 6] = 0x2e;
    const out = respond(table, q, q.length, false, newCounters());
    expect(out).to.not.equal(null);
    const r = decode(out!);
    expect(r.answer).to.deep.equal([]);
    expect(r.rcode).to.equal('REFUSED');
  });
});
