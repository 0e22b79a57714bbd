/**
 * The query path on odd and hostile input: header flags, EDNS, opcodes,
 * classes, malformed messages — each a response or a drop, never a throw.
 */
import { expect } from 'chai';
import { buildAnswerTable } from '../../../../src/dns/authority/answers.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { respond } from '../../../../src/dns/authority/respond.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../../support/dns-zone.js';
import { buildQuery, decode } from '../../../support/dns-wire.js';

describe('dns respond: header, EDNS and malformed input', () => {
  const { table } = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE }));
  const run = (q: Buffer, c = newCounters()): Buffer | null => respond(table, q, q.length, false, c);

  it('copies ID, RD and CD; sets QR and AA; never RA', () => {
    const r = decode(run(buildQuery('proxy1.example.com', 'A', { id: 0xbeef, flags: 0x0110 }))!);
    expect(r).to.include({ id: 0xbeef, qr: true, aa: true, rd: true, cd: true, ra: false, rcode: 'NOERROR' });
    const r2 = decode(run(buildQuery('proxy1.example.com', 'A', { flags: 0 }))!);
    expect(r2.rd).to.equal(false);
  });

  it('echoes OPT with payload 1232 and the DO bit; no OPT without EDNS', () => {
    const r = decode(run(buildQuery('proxy1.example.com', 'A', { edns: 4096, dnssecOk: true }))!);
    expect(r.opt).to.deep.equal({ udpSize: 1232, extRcode: 0, version: 0, dnssecOk: true });
    expect(decode(run(buildQuery('proxy1.example.com', 'A'))!).opt).to.equal(undefined);
  });

  it('answers an EDNS version other than 0 with BADVERS', () => {
    const r = decode(run(buildQuery('proxy1.example.com', 'A', { edns: 1232, ednsVersion: 1 }))!);
    expect(r.rcode).to.equal('BADVERS');
    expect(r.answer).to.deep.equal([]);
  });

  it('writes BADVERS as extended RCODE 1 in the OPT TTL and 0 in the header (RFC 6891 §6.1.3)', () => {
    const raw = run(buildQuery('proxy1.example.com', 'A', { edns: 1232, ednsVersion: 1, dnssecOk: true }))!;
    expect(raw.readUInt16BE(2) & 0xf).to.equal(0);
    expect(decode(raw).opt).to.deep.equal({ udpSize: 1232, extRcode: 1, version: 0, dnssecOk: true });
  });

  it('carries an OPT in every error reply when the query had one (RFC 6891 §7), none when it had none', () => {
    const withOpt = { edns: 4096, dnssecOk: true };
    /** A NOTIFY-like message: opcode 4, one record in the answer section, then the OPT. */
    const notify = (): Buffer => {
      const q = buildQuery('example.com', 'SOA', { ...withOpt, flags: 4 << 11 });
      const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
      const m = Buffer.concat([q.subarray(0, q.length - 11), rr, q.subarray(q.length - 11)]);
      m.writeUInt16BE(1, 6);
      return m;
    };
    const twoQuestions = (): Buffer => {
      const q = buildQuery('proxy1.example.com', 'A', withOpt);
      q.writeUInt16BE(2, 4);
      const question = q.subarray(12, q.length - 11);
      return Buffer.concat([q.subarray(0, q.length - 11), question, q.subarray(q.length - 11)]);
    };
    const cases: [string, Buffer, string][] = [
      ['NOTIMP (opcode 2)', buildQuery('proxy1.example.com', 'A', { ...withOpt, flags: 2 << 11 }), 'NOTIMP'],
      ['NOTIMP (NOTIFY with a record)', notify(), 'NOTIMP'],
      ['FORMERR (two questions)', twoQuestions(), 'FORMERR'],
      ['FORMERR (type OPT asked)', buildQuery('proxy1.example.com', 'OPT', withOpt), 'FORMERR'],
      ['REFUSED (class CH)', buildQuery('proxy1.example.com', 'A', { ...withOpt, qclass: 3 }), 'REFUSED'],
      ['REFUSED (outside the zones)', buildQuery('example.net', 'A', withOpt), 'REFUSED'],
      ['REFUSED (AXFR over UDP)', buildQuery('example.com', 'AXFR', withOpt), 'REFUSED'],
      ['NOTIMP (MAILA)', buildQuery('example.com', 254, withOpt), 'NOTIMP'],
    ];
    for (const [what, q, rcode] of cases) {
      for (const tcp of [false, true]) {
        const out = respond(table, q, q.length, tcp, newCounters())!;
        if (tcp) expect(out.readUInt16BE(0), what).to.equal(out.length - 2);
        const r = decode(tcp ? out.subarray(2) : out);
        expect(r.rcode, what).to.equal(rcode);
        expect(r.opt, what).to.deep.equal({ udpSize: 1232, extRcode: 0, version: 0, dnssecOk: true });
      }
      const plain = Buffer.from(q);
      plain.writeUInt16BE(plain.readUInt16BE(10) - 1, 10);
      const noOpt = plain.subarray(0, plain.length - 11);
      const r = decode(run(noOpt)!);
      expect(r.rcode, what).to.equal(rcode);
      expect(r.opt, what).to.equal(undefined);
    }
  });

  it('leaves the OPT out of a FORMERR for a malformed OPT (two OPTs, a named OPT)', () => {
    const base = buildQuery('proxy1.example.com', 'A', { edns: 1232 });
    const opt = base.subarray(base.length - 11);
    const two = Buffer.concat([base, opt]);
    two.writeUInt16BE(2, 10);
    const named = Buffer.concat([base.subarray(0, base.length - 11), Buffer.from([1, 0x61]), opt]);
    for (const q of [two, named]) {
      const r = decode(run(q)!);
      expect(r.rcode).to.equal('FORMERR');
      expect(r.opt).to.equal(undefined);
    }
  });

  it('drops responses (QR set), short messages and unreadable questions, and counts them', () => {
    const c = newCounters();
    expect(run(buildQuery('proxy1.example.com', 'A', { flags: 0x8000 }), c)).to.equal(null);
    expect(run(Buffer.alloc(11), c)).to.equal(null);
    const truncated = buildQuery('proxy1.example.com', 'A').subarray(0, 20);
    expect(run(truncated, c)).to.equal(null);
    const pointer = Buffer.concat([buildQuery('x', 'A').subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(run(pointer, c)).to.equal(null);
    const longLabel = Buffer.concat([buildQuery('x', 'A').subarray(0, 12), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]);
    expect(run(longLabel, c)).to.equal(null);
    const longName = Buffer.concat([buildQuery('x', 'A').subarray(0, 12), Buffer.alloc(0)]);
    const labels = Buffer.concat(Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])));
    expect(run(Buffer.concat([longName, labels, Buffer.from([0, 0, 1, 0, 1])]), c)).to.equal(null);
    expect(c.dropped).to.equal(6);
  });

  it('answers FORMERR for a question count other than 1, and for records in answer/authority', () => {
    const c = newCounters();
    for (const [off, v] of [[4, 0], [4, 2], [6, 1], [8, 1]] as const) {
      const q = buildQuery('proxy1.example.com', 'A', { id: 7 });
      q.writeUInt16BE(v, off);
      const r = decode(run(q, c)!);
      expect(r.rcode).to.equal('FORMERR');
      expect(r.id).to.equal(7);
    }
    expect(c.formerr).to.equal(4);
    expect(c.responses.FORMERR).to.equal(4);
  });

  it('answers FORMERR for a bad OPT: two OPTs, a named OPT, options that overrun, an OPT cut short', () => {
    const base = buildQuery('proxy1.example.com', 'A', { edns: 1232 });
    const opt = base.subarray(base.length - 11);
    const two = Buffer.concat([base, opt]);
    two.writeUInt16BE(2, 10);
    const named = Buffer.concat([base.subarray(0, base.length - 11), Buffer.from([1, 0x61]), opt]);
    const overrun = Buffer.from(base);
    overrun.writeUInt16BE(4, overrun.length - 2);
    const over2 = Buffer.concat([overrun, Buffer.from([0, 10, 0, 9])]);
    const cut = base.subarray(0, base.length - 3);
    for (const q of [two, named, over2, cut]) expect(decode(run(q)!).rcode, q.toString('hex')).to.equal('FORMERR');
  });

  it('answers NOTIMP for opcodes other than QUERY, opcode echoed', () => {
    for (const opcode of [1, 2, 4, 5]) {
      const r = decode(run(buildQuery('proxy1.example.com', 'A', { flags: opcode << 11 }))!);
      expect(r.rcode).to.equal('NOTIMP');
      expect(r.opcode).to.equal(opcode);
    }
  });

  it('refuses other classes and zone transfers; NOTIMP for MAILA', () => {
    expect(decode(run(buildQuery('proxy1.example.com', 'A', { qclass: 3 }))!).rcode).to.equal('REFUSED');
    expect(decode(run(buildQuery('example.com', 'AXFR'))!).rcode).to.equal('REFUSED');
    expect(decode(run(buildQuery('example.com', 254))!).rcode).to.equal('NOTIMP');
    expect(decode(run(buildQuery('proxy1.example.com', 'A', { qclass: 255 }))!).answer).to.have.length(1);
  });

  it('counts queries by type and responses by rcode', () => {
    const c = newCounters();
    run(buildQuery('proxy1.example.com', 'A'), c);
    run(buildQuery('_sip._udp.sipproxy.example.com', 'SRV'), c);
    run(buildQuery('nothere.example.com', 'SRV'), c);
    run(buildQuery('example.net', 'NAPTR'), c);
    expect(c.queries).to.include({ A: 1, SRV: 2, NAPTR: 1 });
    expect(c.responses).to.include({ NOERROR: 2, NXDOMAIN: 1, REFUSED: 1 });
  });

  it('frames TCP answers with their length', () => {
    const q = buildQuery('proxy1.example.com', 'A');
    const out = respond(table, q, q.length, true, newCounters())!;
    expect(out.readUInt16BE(0)).to.equal(out.length - 2);
    expect(decode(out.subarray(2)).answer).to.deep.equal(['proxy1.example.com. 30 IN A 127.0.0.11']);
  });
});
