/**
 * What a zone load must keep while its inner workings change: numbers, TTLs
 * and types in every form they may be written (values and errors); records
 * around an $INCLUDE read intact while the lexer refills one entry; the
 * checks and the packing with the records given as they are, and after a
 * record dropped or out of the zone; every record type packed and unpacked to
 * the same records, with the snapshot digest pinned.
 */
import { expect } from 'chai';
import { ZoneError } from '../../../src/shared/errors.js';
import { checkZoneFiles, loadZones } from '../../../src/zone/load.js';
import { lex } from '../../../src/zone/lexer.js';
import { parseZoneFile } from '../../../src/zone/parser.js';
import { formatRR } from '../../../src/zone/present.js';
import type { PackedZone } from '../../../src/zone/packed.js';
import type { RR } from '../../../src/zone/types.js';
import { HEAD, HEAD_LINES, ZoneDir } from '../../support/zone-dir.js';

const L = (bodyLine: number): number => bodyLine + HEAD_LINES;

function problemsOf(f: () => unknown): [number, string][] {
  try {
    f();
  } catch (e) {
    if (e instanceof ZoneError) return e.problems.map((p) => [p.line, p.message]);
    throw e;
  }
  return [];
}

describe('zone loading: what it keeps', () => {
  const dir = new ZoneDir();
  after(() => dir.cleanup());

  it('reads numbers and TTLs short and long, with leading zeros, and reports those out of range at their line', () => {
    const f = dir.write('n/example.com.zone', HEAD + [
      'a 999999999 A 127.0.0.2',
      'b 1000000000 A 127.0.0.3',
      'c 0000000000042 A 127.0.0.4',
      'h SRV 0000000010 00050 65535 a',
      'm MX 000000000000010 a',
    ].join('\n') + '\n');
    const p = parseZoneFile(f, 'example.com');
    expect(p.problems).to.deep.equal([]);
    expect(p.records.slice(3).map(formatRR)).to.deep.equal([
      'a.example.com. 999999999 IN A 127.0.0.2',
      'b.example.com. 1000000000 IN A 127.0.0.3',
      'c.example.com. 42 IN A 127.0.0.4',
      'h.example.com. 30 IN SRV 10 50 65535 a.example.com.',
      'm.example.com. 30 IN MX 10 a.example.com.',
    ]);
    const bad = dir.write('nb/example.com.zone', HEAD + [
      'a 2147483648 A 127.0.0.2',
      'h SRV 10 50 65536 a',
      'm MX 123456789 a',
      'x SRV 1 2 3x a',
      'y MX 1234567890123456 a',
    ].join('\n') + '\n');
    expect(problemsOf(() => loadZones([bad]))).to.deep.equal([
      [L(1), "TTL '2147483648' is over 2147483647"],
      [L(2), 'SRV: port 65536 out of range (0-65535)'],
      [L(3), 'MX: preference 123456789 out of range (0-65535)'],
      [L(4), "SRV: port '3x' is not a number"],
      [L(5), 'MX: preference 1234567890123456 out of range (0-65535)'],
    ]);
  });

  it('reads types in any case and IN in either case; a quoted type, other classes and other types are errors', () => {
    const f = dir.write('t/example.com.zone', HEAD + 'a in a 127.0.0.2\nb Aaaa ::1\nc cNaMe a\nd srv 1 2 3 a\n');
    const p = parseZoneFile(f, 'example.com');
    expect(p.problems).to.deep.equal([]);
    expect(p.records.slice(3).map((r) => r.type)).to.deep.equal(['A', 'AAAA', 'CNAME', 'SRV']);
    const bad = dir.write('tb/example.com.zone', HEAD + 'a "A" 127.0.0.2\nb CH A 127.0.0.3\nc CLASS3 A 127.0.0.4\nd AA 127.0.0.5\ne type99 x\nf SRVV 1 2 3 a\n');
    expect(problemsOf(() => loadZones([bad]))).to.deep.equal([
      [L(1), "unknown RR type 'A'"],
      [L(2), "class 'CH' is not supported: zones are class IN"],
      [L(3), "class 'CLASS3' is not supported: zones are class IN"],
      [L(4), "unknown RR type 'AA'"],
      [L(5), "record type 'type99' is not supported (supported: SOA NS A AAAA CNAME SRV NAPTR TXT PTR MX CAA)"],
      [L(6), "unknown RR type 'SRVV'"],
    ]);
  });

  it('keeps the records around an $INCLUDE intact (the lexer refills its entries) and names file:line in both files', () => {
    dir.write('i/part.inc', 'p1 A 127.0.0.5\np2 MX 70000 p1\np3 TXT "in" "include"\n');
    const f = dir.write('i/example.com.zone', HEAD + 'before SRV 1 2 5060 p1\n$INCLUDE part.inc\nafter NAPTR 1 2 "s" "SIP+D2U" "" before\nbad A 1.2.3\n');
    const p = parseZoneFile(f, 'example.com');
    expect(p.problems.map((x) => [x.file.endsWith('part.inc') ? 'part.inc' : 'main', x.line, x.message])).to.deep.equal([
      ['part.inc', 2, 'MX: preference 70000 out of range (0-65535)'],
      ['main', L(4), "A: bad IPv4 address '1.2.3'"],
    ]);
    expect(p.records.slice(3).map((r) => [formatRR(r), r.line])).to.deep.equal([
      ['before.example.com. 30 IN SRV 1 2 5060 p1.example.com.', L(1)],
      ['p1.example.com. 30 IN A 127.0.0.5', 1],
      ['p3.example.com. 30 IN TXT "in" "include"', 3],
      ['after.example.com. 30 IN NAPTR 1 2 "s" "SIP+D2U" "" before.example.com.', L(3)],
    ]);
  });

  it('lex() hands back entries that stay as they were while it reads on', () => {
    const { entries } = lex('a A 127.0.0.1\nb TXT "x y" z\n');
    expect(entries.map((e) => e.tokens.map((t) => [t.text, t.quoted, t.line]))).to.deep.equal([
      [['a', false, 1], ['A', false, 1], ['127.0.0.1', false, 1]],
      [['b', false, 2], ['TXT', false, 2], ['x y', true, 2], ['z', false, 2]],
    ]);
  });

  it('checks and packs by their own numbers the records after a dropped duplicate or an out-of-zone record', () => {
    const dup = dir.write('d/example.com.zone', HEAD + [
      'h1 A 127.0.0.2',
      'h1 A 127.0.0.2',
      'www CNAME h1',
      '_sip._udp SRV 1 1 5060 h1',
      'h2 A 127.0.0.3',
    ].join('\n') + '\n');
    const z = loadZones([dup]).zones[0]!;
    expect(z.records.slice(3).map((r) => [formatRR(r), r.line])).to.deep.equal([
      ['h1.example.com. 30 IN A 127.0.0.2', L(1)],
      ['www.example.com. 30 IN CNAME h1.example.com.', L(3)],
      ['_sip._udp.example.com. 30 IN SRV 1 1 5060 h1.example.com.', L(4)],
      ['h2.example.com. 30 IN A 127.0.0.3', L(5)],
    ]);
    expect(z.lookup('_sip._udp.example.com', 'SRV')).to.have.length(1);
    expect(z.names.has('_udp.example.com')).to.equal(true);
    const outside = dir.write('o/example.com.zone', HEAD + [
      'h1 A 127.0.0.2',
      'www.other.test. A 127.0.0.9',
      'h1 A 127.0.0.2',
      'www CNAME nowhere',
      '_sip._udp SRV 1 1 5060 h1',
      '_sip._tcp SRV 1 1 5060 cn',
      'cn CNAME h1',
    ].join('\n') + '\n');
    const want = [
      [L(2), 'www.other.test is outside the zone example.com'],
      [L(4), "www.example.com/CNAME 'nowhere.example.com': target does not exist in the zone"],
      [L(6), "_sip._tcp.example.com/SRV 'cn.example.com' is a CNAME (illegal)"],
    ];
    const r = checkZoneFiles([outside]);
    expect([...r.problems, ...r.warnings].map((x) => [x.line, x.message])).to.deep.equal(want);
    expect(problemsOf(() => loadZones([outside]))).to.deep.equal(want.slice(0, 2));
  });

  it('packs every record type and unpacks the same records; the snapshot digest is the one of the format', () => {
    const f = dir.write('e/example.com.zone', [
      '$TTL 30',
      '@ SOA ns1 hostmaster 2026120301 3600 600 86400 5',
      '@ NS ns1',
      'ns1 A 127.0.0.1',
      'h1 A 127.0.0.2',
      'h1 AAAA 2001:DB8:0:0:0:0:0:1',
      'h1 MX 10 h1',
      'h1 TXT "v=spf1 -all" "" "quote\\"back\\\\slash" "\\000\\001\\127\\128\\255"',
      'h1 CAA 128 issue "ca.example\\200"',
      'h1 PTR h2.example.net.',
      'www.h1 CNAME h1',
      '_sip._udp.h1 SRV 10 50 5060 h1',
      '_sips._tcp.h1 60 IN SRV 30 50 5061 h1.example.com.',
      'h1 NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.h1',
      'h1 NAPTR 20 50 "S" "E2U+sip\\"x\\009" "!^.*$!sip:info@example.com!" .',
      'h1 NAPTR 30 50 "" "x\\200\\255\\127\\\\y\\031" "" .',
      'h1 NAPTR 40 50 "" "back\\\\slash" "" .',
      'a.b.c.d TXT "deep"',
    ].join('\n') + '\n');
    const parsed = parseZoneFile(f, 'example.com');
    expect(parsed.problems).to.deep.equal([]);
    const zone = loadZones([f]).zones[0] as PackedZone;
    const plain = (r: RR): unknown => ({ ...r, data: { ...r.data } });
    expect(zone.records.map(plain)).to.deep.equal(parsed.records.map(plain));
    // The RDATA texts of the format (TXT and CAA bytes in hex, SOA and NAPTR as JSON), record by record.
    const d = zone.data;
    const texts = parsed.records.map((_, i) => d.rdata.slice(d.rdOff[i], d.rdOff[i + 1]));
    const want = parsed.records.map((r) => {
      switch (r.type) {
        case 'TXT': return r.data.strings.map((b) => b.toString('hex')).join(' ');
        case 'CAA': return `${r.data.flags} ${r.data.value.toString('hex')} ${r.data.tag}`;
        case 'SOA': case 'NAPTR': return JSON.stringify(r.data);
        default: return formatRR(r).split(' ').slice(4).join(' ').replace(/\.( |$)/g, '$1');
      }
    });
    expect(texts).to.deep.equal(want);
    expect(texts[6]).to.equal('763d73706631202d616c6c  71756f7465226261636b5c736c617368 00017f80ff');
    expect(zone.digest).to.equal('7a04fd29b051310cb731e63a983cf96c937b41ae5dbd3eebf59c0cd054935e06');
    expect([...zone.names]).to.deep.equal(['example.com', 'ns1.example.com', 'h1.example.com', 'www.h1.example.com',
      '_sip._udp.h1.example.com', '_udp.h1.example.com', '_sips._tcp.h1.example.com', '_tcp.h1.example.com',
      'a.b.c.d.example.com', 'b.c.d.example.com', 'c.d.example.com', 'd.example.com']);
  });

  it('lists the names in order of first use, the apex too when names below it come before its records', () => {
    const f = dir.write('o/example.com.zone', [
      '$ORIGIN example.com.', '$TTL 30', 'x.y.www A 127.0.0.1', 'www A 127.0.0.2', 'b.a TXT "x"',
      '@ SOA ns1 hostmaster 1 2 3 4 5', '@ NS ns1', 'ns1 A 127.0.0.3', 'q.r.s.ns1 AAAA ::1',
    ].join('\n') + '\n');
    const zone = loadZones([f]).zones[0]!;
    expect([...zone.names]).to.deep.equal(['x.y.www.example.com', 'y.www.example.com', 'www.example.com', 'example.com',
      'b.a.example.com', 'a.example.com', 'ns1.example.com', 'q.r.s.ns1.example.com', 'r.s.ns1.example.com', 's.ns1.example.com']);
    expect(zone.recordsAt('example.com').map((r) => r.type)).to.deep.equal(['SOA', 'NS']);
    expect(zone.names.has('y.www.example.com') && zone.recordsAt('y.www.example.com').length === 0).to.equal(true);
  });
});
