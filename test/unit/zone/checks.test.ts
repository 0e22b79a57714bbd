/**
 * Semantic checks of a zone (file:line each) and the duplicate/TTL rules
 * shared with named-checkzone.
 */
import { expect } from 'chai';
import { checkZoneFiles, loadZones } from '../../../src/zone/load.js';
import { formatRR } from '../../../src/zone/present.js';
import { HEAD, HEAD_LINES, ZoneDir } from '../../support/zone-dir.js';

interface Case {
  name: string;
  /** Whole file when `whole`, else appended to HEAD. */
  text: string;
  whole?: boolean;
  /** [file line, message pattern] of each expected problem, in order. */
  want: [number, RegExp][];
}

const L = (bodyLine: number): number => bodyLine + HEAD_LINES;

const CASES: Case[] = [
  { name: 'missing SOA', whole: true, text: '$TTL 30\n@ NS ns1\nns1 A 127.0.0.1\n', want: [[1, /has no SOA record at its apex/]] },
  { name: 'two different SOA records', text: '@ SOA ns1 other 2 3 4 5 6\n', want: [[L(1), /more than one SOA record/]] },
  { name: 'SOA not at the apex', text: 'sub SOA ns1 hostmaster 1 2 3 4 5\n', want: [[L(1), /SOA record not at top of zone \(sub\.example\.com\)/]] },
  { name: 'no NS at the apex', whole: true, text: '$TTL 30\n@ SOA ns1 hostmaster 1 2 3 4 5\nns1 A 127.0.0.1\n', want: [[2, /has no NS records/]] },
  { name: 'SRV target inside the zone without address', text: '_sip._udp SRV 10 50 5060 proxy9\n', want: [[L(1), /_sip\._udp\.example\.com\/SRV 'proxy9\.example\.com' has no address records/]] },
  { name: 'NS target inside the zone without address', text: '@ NS ns2\n', want: [[L(1), /NS 'ns2\.example\.com' has no address records/]] },
  { name: 'MX target inside the zone without address', text: '@ MX 10 mail\n', want: [[L(1), /MX 'mail\.example\.com' has no address records/]] },
  { name: 'CNAME to a name that does not exist in the zone', text: 'www CNAME web\n', want: [[L(1), /CNAME 'web\.example\.com': target does not exist/]] },
  { name: 'NAPTR replacement that does not exist in the zone', text: 'sp NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.sp\n', want: [[L(1), /NAPTR '_sip\._udp\.sp\.example\.com': target does not exist/]] },
  { name: 'CNAME beside other data (reported at the later record)', text: 'www A 127.0.0.2\nwww CNAME ns1\n', want: [[L(2), /www\.example\.com: CNAME and other data/]] },
  { name: 'two CNAMEs', text: 'www CNAME ns1\nwww CNAME ns1.other.test.\n', want: [[L(2), /more than one CNAME/]] },
  { name: 'CNAME at the apex', text: '@ CNAME ns1\n', want: [[L(1), /example\.com: CNAME and other data/]] },
  { name: 'CNAME loop', text: 'a CNAME b\nb CNAME c\nc CNAME a\n', want: [[L(1), /CNAME loop: a\.example\.com -> b\.example\.com -> c\.example\.com -> a\.example\.com/]] },
  { name: 'CNAME to itself', text: 'a CNAME a\n', want: [[L(1), /CNAME loop/]] },
  { name: 'record outside the zone', text: 'www.other.test. A 127.0.0.2\n', want: [[L(1), /www\.other\.test is outside the zone example\.com/]] },
  { name: 'A record with an underscore owner (check-names)', text: '_x A 127.0.0.2\n', want: [[L(1), /bad owner name for A/]] },
  { name: 'several semantic problems together', text: '_s._udp SRV 1 1 1 gone\nwww CNAME away\n', want: [[L(1), /has no address/], [L(2), /does not exist/]] },
];

const VALID: { name: string; text: string }[] = [
  { name: 'targets outside the zone are not checked', text: '_sip._udp SRV 1 1 5060 sip.other.test.\nm MX 1 mx.other.test.\nc CNAME x.other.test.\n' },
  { name: 'SRV target "." is allowed', text: '_sip._tcp SRV 0 0 0 .\n' },
  { name: 'AAAA-only target is an address', text: 'p AAAA ::1\n_sip._udp SRV 1 1 5060 p\n' },
  { name: 'targets under a delegation are not checked (glue only needed for NS)', text: 'sub NS ns.sub\nns.sub A 127.0.0.3\n_sip._udp SRV 1 1 5060 host.sub\n' },
  { name: 'CNAME chain ending in data', text: 'a CNAME b\nb CNAME ns1\n' },
  { name: 'underscores are fine in SRV, TXT and CNAME owners', text: '_sip._udp SRV 1 1 5060 ns1\n_t TXT x\n_c CNAME ns1\n' },
];

describe('zone checks', () => {
  const dir = new ZoneDir();
  after(() => dir.cleanup());
  const write = (text: string, whole = false): string =>
    dir.write(`${dir.sub().slice(dir.root.length + 1)}/example.com.zone`, whole ? text : HEAD + text);

  for (const c of CASES) {
    it(`rejects: ${c.name}`, () => {
      const problems = checkZoneFiles([write(c.text, c.whole)]).problems;
      expect(problems.map((p) => `${p.line}: ${p.message}`), 'problems').to.have.length(c.want.length);
      c.want.forEach(([line, re], i) => {
        expect(problems[i].line).to.equal(line);
        expect(problems[i].message).to.match(re);
      });
    });
  }

  for (const c of VALID) {
    it(`accepts: ${c.name}`, () => {
      expect(checkZoneFiles([write(c.text)]).problems).to.deep.equal([]);
    });
  }

  it('drops exact duplicates silently, like named-checkzone', () => {
    const file = write('x A 127.0.0.2\nx A 127.0.0.2\nX.example.com. A 127.0.0.2\n');
    const r = checkZoneFiles([file]);
    expect(r.problems).to.deep.equal([]);
    expect(r.warnings).to.deep.equal([]);
    const zone = loadZones([file]).zones[0];
    expect(zone.lookup('x.example.com', 'A')).to.have.length(1);
  });

  it('drops duplicates of every type in RRsets of a few records and of many (past the field-by-field comparison)', () => {
    const distinct = (i: number): string[] => [
      `t TXT "s${i}" "x"`, `n NAPTR ${i} 50 "s" "SIP+D2U" "" x`, `c CAA 0 issue "ca${i}"`,
      `m MX ${i} ns1`, `s SRV 10 ${i} 5060 ns1`, `a A 127.0.1.${i}`, `aaaa AAAA 2001:db8::${i}`,
    ];
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) lines.push(...distinct(i));
    // Again, spelled differently where the syntax allows: the same data.
    for (let i = 11; i >= 0; i--) lines.push(...distinct(i).map((l) => l.replace(' ns1', ' NS1.example.com.').replace(/^t TXT "s(\d+)"/, 't TXT s$1')));
    // Near misses, in many-record RRsets and in RRsets of a few: not duplicates.
    lines.push('t TXT "s1" "y"', 't TXT "s1"', 'n NAPTR 1 50 "S" "SIP+D2U" "" x', 'c CAA 0 ISSUE "ca1"', 'm MX 1 x', 's SRV 10 1 5061 ns1');
    const few: [string, string[]][] = [
      ['t2 TXT "a" "b"', ['t2 TXT "a"', 't2 TXT "a" "b" "c"', 't2 TXT "a" "B"']],
      ['n2 NAPTR 1 2 "s" "SIP+D2U" "!^.*$!x!" x', ['n2 NAPTR 9 2 "s" "SIP+D2U" "!^.*$!x!" x', 'n2 NAPTR 1 9 "s" "SIP+D2U" "!^.*$!x!" x',
        'n2 NAPTR 1 2 "S" "SIP+D2U" "!^.*$!x!" x', 'n2 NAPTR 1 2 "s" "SIP+D2T" "!^.*$!x!" x', 'n2 NAPTR 1 2 "s" "SIP+D2U" "!^.*$!y!" x',
        'n2 NAPTR 1 2 "s" "SIP+D2U" "!^.*$!x!" ns1']],
      ['c2 CAA 0 issue "ca"', ['c2 CAA 128 issue "ca"', 'c2 CAA 0 ISSUE "ca"', 'c2 CAA 0 issue "cb"']],
      ['m2 MX 1 ns1', ['m2 MX 2 ns1', 'm2 MX 1 x']],
      ['s2 SRV 1 2 3 ns1', ['s2 SRV 9 2 3 ns1', 's2 SRV 1 9 3 ns1', 's2 SRV 1 2 9 ns1', 's2 SRV 1 2 3 x']],
    ];
    for (const [base, misses] of few) lines.push(base, ...misses, base);
    const file = write(lines.join('\n') + '\nx A 127.0.0.8\n');
    const r = checkZoneFiles([file]);
    expect(r.problems).to.deep.equal([]);
    const zone = loadZones([file]).zones[0];
    const count = (name: string, type: 'TXT' | 'NAPTR' | 'CAA' | 'MX' | 'SRV' | 'A' | 'AAAA'): number => zone.lookup(`${name}.example.com`, type).length;
    expect([count('t', 'TXT'), count('n', 'NAPTR'), count('c', 'CAA'), count('m', 'MX'), count('s', 'SRV'), count('a', 'A'), count('aaaa', 'AAAA')])
      .to.deep.equal([14, 13, 13, 13, 13, 12, 12]);
    expect([count('t2', 'TXT'), count('n2', 'NAPTR'), count('c2', 'CAA'), count('m2', 'MX'), count('s2', 'SRV')]).to.deep.equal([4, 7, 4, 3, 5]);
  });

  it('gives an RRset one TTL: first of a run wins (warning), a later run overrides', () => {
    const file = write('a 10 A 127.0.0.2\na 20 A 127.0.0.3\nb 20 A 127.0.0.4\nb A 127.0.0.9\nc A 127.0.0.5\nb 10 A 127.0.0.6\n');
    const r = checkZoneFiles([file]);
    expect(r.warnings.map((w) => [w.line, w.message])).to.deep.equal([[L(2), 'TTL set to prior TTL (10)'], [L(4), 'TTL set to prior TTL (20)']]);
    const zone = loadZones([file]).zones[0];
    expect(zone.lookup('a.example.com', 'A').map(formatRR)).to.deep.equal([
      'a.example.com. 10 IN A 127.0.0.2', 'a.example.com. 10 IN A 127.0.0.3']);
    expect(zone.lookup('b.example.com', 'A').map((r) => r.ttl)).to.deep.equal([10, 10, 10]);
  });
});
