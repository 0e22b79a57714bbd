/**
 * Health-filtered answers (DESIGN.md §5): withdrawal from the pool's SRV,
 * NAPTR additional data and A records; fail open; local first; the SOA
 * serial moving forward on every change and only then.
 */
import { expect } from 'chai';
import { buildAnswerTable, type AnswerTable } from '../../../../src/dns/authority/answers.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { LOCAL_FIRST_OFFSET, type PoolFilter } from '../../../../src/dns/authority/filter.js';
import { respond } from '../../../../src/dns/authority/respond.js';
import { SerialCounter, serialGreater } from '../../../../src/dns/authority/serial.js';
import { DNS_TEST_ZONE, testPoolMembers, zonesFromText } from '../../../support/dns-zone.js';
import { buildQuery, decode, type Decoded } from '../../../support/dns-wire.js';

const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });

function filter(down: string[], local: string[] = []): PoolFilter {
  const set = new Set(down.map((d) => `${d}.example.com`));
  return { pool: 'sipproxy.example.com', members: testPoolMembers(), isHealthy: (t) => !set.has(t), local: local.map((l) => `${l}.example.com`) };
}

function ask(table: AnswerTable, name: string, type: string): Decoded {
  const q = buildQuery(name, type, { edns: 1232 });
  return decode(respond(table, q, q.length, false, newCounters())!);
}

const targets = (r: Decoded): string[] => r.answer.map((a) => a.split(' ').pop()!.replace('.example.com.', ''));

describe('dns filter: health-filtered pool answers', () => {
  it('withdraws an unhealthy member from every pool SRV RRset, the pool A records and additional data', () => {
    const b = buildAnswerTable(zones, { filter: filter(['proxy2']) });
    expect(b.failOpen).to.equal(false);
    expect(b.withdrawn).to.deep.equal(['proxy2.example.com']);
    expect(targets(ask(b.table, '_sip._udp.sipproxy.example.com', 'SRV'))).to.deep.equal(['proxy1', 'proxy3']);
    expect(targets(ask(b.table, '_sip._tcp.sipproxy.example.com', 'SRV'))).to.deep.equal(['proxy1']);
    expect(ask(b.table, 'sipproxy.example.com', 'A').answer).to.deep.equal(['sipproxy.example.com. 5 IN A 127.0.0.11', 'sipproxy.example.com. 5 IN A 127.0.0.13']);
    const naptr = ask(b.table, 'sipproxy.example.com', 'NAPTR');
    expect(naptr.additional.join('\n')).to.not.include('proxy2');
    expect(naptr.additional.join('\n')).to.include('proxy3.example.com. 30 IN A 127.0.0.13');
    // Not pool records: untouched.
    expect(ask(b.table, 'proxy2.example.com', 'A').answer).to.have.length(1);
    expect(ask(b.table, '_sip._udp.tserver.example.com', 'SRV').answer).to.have.length(2);
  });

  it('fails open when every member would be withdrawn, and says so', () => {
    const b = buildAnswerTable(zones, { filter: filter(['proxy1', 'proxy2', 'proxy3']) });
    expect(b.failOpen).to.equal(true);
    expect(b.withdrawn).to.deep.equal([]);
    expect(targets(ask(b.table, '_sip._udp.sipproxy.example.com', 'SRV'))).to.deep.equal(['proxy1', 'proxy2', 'proxy3']);
    expect(ask(b.table, 'sipproxy.example.com', 'A').answer).to.have.length(3);
  });

  it('serves an RRset whole rather than empty when only its members are down', () => {
    const b = buildAnswerTable(zones, { filter: filter(['proxy1', 'proxy2']) });
    expect(b.failOpen).to.equal(false);
    expect(b.failOpenNames).to.deep.equal(['_sip._tcp.sipproxy.example.com/SRV']);
    expect(targets(ask(b.table, '_sip._udp.sipproxy.example.com', 'SRV'))).to.deep.equal(['proxy3']);
    expect(targets(ask(b.table, '_sip._tcp.sipproxy.example.com', 'SRV'))).to.deep.equal(['proxy1', 'proxy2']);
    expect(ask(b.table, 'sipproxy.example.com', 'A').answer).to.deep.equal(['sipproxy.example.com. 5 IN A 127.0.0.13']);
  });

  it(`answers local members first: others' SRV priority raised by ${LOCAL_FIRST_OFFSET}`, () => {
    const b = buildAnswerTable(zones, { filter: filter([], ['proxy3']) });
    expect(ask(b.table, '_sip._udp.sipproxy.example.com', 'SRV').answer).to.deep.equal([
      '_sip._udp.sipproxy.example.com. 5 IN SRV 20 50 5060 proxy3.example.com.',
      `_sip._udp.sipproxy.example.com. 5 IN SRV ${10 + LOCAL_FIRST_OFFSET} 50 5060 proxy1.example.com.`,
      `_sip._udp.sipproxy.example.com. 5 IN SRV ${10 + LOCAL_FIRST_OFFSET} 50 5060 proxy2.example.com.`,
    ]);
    expect(ask(b.table, 'sipproxy.example.com', 'A').answer[0]).to.equal('sipproxy.example.com. 5 IN A 127.0.0.13');
    // An RRset without a local member keeps the zone's priorities.
    expect(ask(b.table, '_sip._tcp.sipproxy.example.com', 'SRV').answer[0]).to.include('SRV 10 50');
    // Local withdrawn: the others come back, in their order.
    const down = buildAnswerTable(zones, { filter: filter(['proxy3'], ['proxy3']) });
    expect(targets(ask(down.table, '_sip._udp.sipproxy.example.com', 'SRV'))).to.deep.equal(['proxy1', 'proxy2']);
  });

  it('moves the SOA serial forward on every change of the served answers, and only then', () => {
    const serials = new SerialCounter();
    const soaSerial = (t: AnswerTable): number => Number(ask(t, 'example.com', 'SOA').answer[0]!.split(' ')[6]);
    const first = buildAnswerTable(zones, { filter: filter([]), serials });
    expect(first.serials.get('example.com')).to.equal(2026112501);
    expect(soaSerial(first.table)).to.equal(2026112501);
    const same = buildAnswerTable(zones, { filter: filter([]), serials });
    expect(same.serials.get('example.com')).to.equal(2026112501);
    const withdrawn = buildAnswerTable(zones, { filter: filter(['proxy2']), serials });
    expect(soaSerial(withdrawn.table)).to.equal(2026112502);
    // The negative answers carry the new serial too.
    expect(ask(withdrawn.table, 'nothere.example.com', 'A').authority[0]).to.include(' 2026112502 ');
    const restored = buildAnswerTable(zones, { filter: filter([]), serials });
    expect(soaSerial(restored.table)).to.equal(2026112503);
  });

  it('SerialCounter: max(zone serial, previous + 1) in serial arithmetic', () => {
    const c = new SerialCounter();
    expect(c.next('z', 5, 'a')).to.equal(5);
    expect(c.next('z', 5, 'a')).to.equal(5);
    expect(c.next('z', 5, 'b')).to.equal(6);
    expect(c.next('z', 100, 'c')).to.equal(100); // a reload with a higher serial
    expect(c.next('z', 3, 'd')).to.equal(101); // a lower file serial never moves it back
    expect(c.next('y', 0xffffffff, 'a')).to.equal(0xffffffff);
    expect(c.next('y', 0xffffffff, 'b')).to.equal(0); // wraps, still "greater" per RFC 1982
    expect(serialGreater(0, 0xffffffff)).to.equal(true);
    expect(serialGreater(1, 2)).to.equal(false);
  });
});
