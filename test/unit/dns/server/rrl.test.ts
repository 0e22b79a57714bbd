/**
 * dns/server/rrl: the truncated copy a slipped answer goes out as — TC, the
 * question, and the OPT kept when the answer had one (RFC 6891 §7).
 */
import { expect } from 'chai';
import { buildAnswerTable } from '../../../../src/dns/authority/answers.js';
import { respond } from '../../../../src/dns/authority/respond.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { truncatedResponse } from '../../../../src/dns/server/rrl.js';
import { buildQuery, decode } from '../../../support/dns-wire.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../../support/dns-zone.js';

describe('dns/server/rrl: truncated answers', () => {
  const table = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE })).table;
  const answer = (q: Buffer) => respond(table, q, q.length, false, newCounters())!;

  it('keeps the OPT of an EDNS answer (DO copied), drops every other record, sets TC', () => {
    const full = answer(buildQuery('_sip._udp.sipproxy.example.com', 'SRV', { edns: 4096, dnssecOk: true }));
    expect(decode(full).additional.length).to.be.greaterThan(0);
    const tc = decode(truncatedResponse(full)!);
    expect(tc.tc).to.equal(true);
    expect(tc.question).to.deep.equal({ name: '_sip._udp.sipproxy.example.com.', type: 'SRV', qclass: 1 });
    expect([tc.answer, tc.authority, tc.additional]).to.deep.equal([[], [], []]);
    expect(tc.opt).to.deep.equal({ udpSize: 1232, extRcode: 0, version: 0, dnssecOk: true });
  });

  it('adds no OPT to an answer without one; refuses what it cannot read', () => {
    const full = answer(buildQuery('_sip._udp.sipproxy.example.com', 'SRV'));
    const tc = decode(truncatedResponse(full)!);
    expect(tc.tc).to.equal(true);
    expect(tc.opt).to.equal(undefined);
    expect(tc.size).to.equal(12 + '_sip._udp.sipproxy.example.com'.length + 2 + 4);
    expect(truncatedResponse(full.subarray(0, full.length - 3))).to.equal(undefined);
    expect(truncatedResponse(Buffer.alloc(5))).to.equal(undefined);
  });
});
