/**
 * Bad zone files: each error with its exact file:line and a clear message;
 * every error of a file collected; loading is all or nothing.
 */
import { expect } from 'chai';
import { ZoneError } from '../../../src/shared/errors.js';
import { checkZoneFiles, loadZones } from '../../../src/zone/load.js';
import { HEAD, HEAD_LINES, ZoneDir } from '../../support/zone-dir.js';

interface Case {
  name: string;
  body: string;
  /** Line within body (1-based); the file line is this + HEAD_LINES. */
  bodyLine: number;
  message: RegExp;
}

const long63 = 'a'.repeat(63);
const CASES: Case[] = [
  { name: 'unknown type', body: 'x A 127.0.0.2\nx BLAH 1\n', bodyLine: 2, message: /unknown RR type 'BLAH'/ },
  { name: 'a type srvproxy does not serve', body: 'x HINFO "a" "b"\n', bodyLine: 1, message: /record type 'HINFO' is not supported/ },
  { name: 'class other than IN', body: 'x CH A 127.0.0.2\n', bodyLine: 1, message: /class 'CH' is not supported/ },
  { name: 'label over 63 octets', body: `${long63}a A 127.0.0.2\n`, bodyLine: 1, message: /label 'a{20}\.\.\.' is 64 octets \(at most 63\)/ },
  { name: 'a 63-octet label is fine, then name over 255 octets', body: `${long63} A 127.0.0.2\n${[long63, long63, long63, long63].join('.')} A 127.0.0.2\n`,
    bodyLine: 2, message: /is 269 octets in wire form \(at most 255\)/ },
  { name: 'name over 255 octets in RDATA', body: `x CNAME ${[long63, long63, long63, 'a'.repeat(62)].join('.')}.\n`, bodyLine: 1, message: /at most 255/ },
  { name: 'empty label', body: 'a..b A 127.0.0.2\n', bodyLine: 1, message: /empty label/ },
  { name: 'bad IPv4: three parts', body: 'x A 127.0.0\n', bodyLine: 1, message: /bad IPv4 address '127\.0\.0'/ },
  { name: 'bad IPv4: part over 255', body: 'x A 127.0.0.256\n', bodyLine: 1, message: /bad IPv4 address/ },
  { name: 'bad IPv4: leading zero', body: 'x A 127.0.0.01\n', bodyLine: 1, message: /bad IPv4 address/ },
  { name: 'bad IPv6: two ::', body: 'x AAAA 1::2::3\n', bodyLine: 1, message: /bad IPv6 address '1::2::3'/ },
  { name: 'bad IPv6: zone index', body: 'x AAAA fe80::1%eth0\n', bodyLine: 1, message: /bad IPv6 address/ },
  { name: 'SRV with a missing field', body: '_sip._udp SRV 10 50 ns1\n', bodyLine: 1, message: /SRV record needs 4 fields \(priority, weight, port and target\); found 3/ },
  { name: 'SRV missing field on a multi-line record: reported where input ended', body: '_sip._udp SRV (\n 10\n 50 )\n', bodyLine: 3, message: /SRV record needs 4 fields/ },
  { name: 'SRV port out of range', body: '_sip._udp SRV 10 50 70000 ns1\n', bodyLine: 1, message: /port 70000 out of range \(0-65535\)/ },
  { name: 'SRV priority not a number', body: '_sip._udp SRV ten 50 5060 ns1\n', bodyLine: 1, message: /priority 'ten' is not a number/ },
  { name: 'SRV with extra text', body: '_sip._udp SRV 10 50 5060 ns1 extra\n', bodyLine: 1, message: /extra input text 'extra'/ },
  { name: 'bad value on the third line of a multi-line record', body: '_sip._udp SRV (\n 10 50\n 99999 ns1 )\n', bodyLine: 3, message: /port 99999 out of range/ },
  { name: 'MX preference out of range', body: 'x MX 65536 ns1\n', bodyLine: 1, message: /preference 65536 out of range/ },
  { name: 'SOA with a missing field', body: 'sub SOA ns1 host 1 2 3 4\n', bodyLine: 1, message: /SOA record needs 7 fields/ },
  { name: 'unbalanced quotes', body: 'x TXT "abc\n', bodyLine: 1, message: /unbalanced quotes/ },
  { name: "')' without '('", body: 'x A 127.0.0.2 )\n', bodyLine: 1, message: /unbalanced parentheses/ },
  { name: "'(' never closed", body: 'x TXT ( "a"\ny A 127.0.0.2\n', bodyLine: 1, message: /'\(' not closed before end of file/ },
  { name: '\\DDD over 255', body: 'x TXT "\\256"\n', bodyLine: 1, message: /escape \\256 is over 255/ },
  { name: 'character-string over 255 octets', body: `x TXT "${'a'.repeat(256)}"\n`, bodyLine: 1, message: /character-string of 256 octets/ },
  { name: 'bad TTL', body: 'x 1h 1m A 127.0.0.2\n', bodyLine: 1, message: /unknown RR type '1m'/ },
  { name: 'TTL over 2^31-1', body: 'x 3000000000 A 127.0.0.2\n', bodyLine: 1, message: /TTL '3000000000' is over 2147483647/ },
  { name: 'bad $TTL', body: '$TTL forever\n', bodyLine: 1, message: /\$TTL: bad TTL 'forever'/ },
  { name: 'unknown directive', body: '$GENERATE 1-2 x$ A 127.0.0.$\n', bodyLine: 1, message: /unknown directive '\$GENERATE'/ },
  { name: 'record without a type', body: 'x 60\n', bodyLine: 1, message: /record has no type/ },
  { name: 'NAPTR with bad flags', body: 'n NAPTR 1 1 "s!" "SIP+D2U" "" .\n', bodyLine: 1, message: /flags 's!' must be letters or digits/ },
  { name: 'NAPTR with a malformed regexp', body: 'n NAPTR 1 1 "u" "E2U+sip" "!^.*$!sip:x" .\n', bodyLine: 1, message: /regexp/ },
  { name: 'generic RDATA', body: 'x A \\# 4 7f000002\n', bodyLine: 1, message: /generic RDATA/ },
  { name: 'missing include file', body: '$INCLUDE nothing-here.inc\n', bodyLine: 1, message: /nothing-here\.inc: file not found/ },
  { name: 'include of itself (a loop)', body: '$INCLUDE example.com.zone\n', bodyLine: 1, message: /\$INCLUDE loop/ },
];

describe('zone parser: errors with file:line', () => {
  const dir = new ZoneDir();
  after(() => dir.cleanup());

  for (const c of CASES) {
    it(c.name, () => {
      const sub = dir.sub().slice(dir.root.length + 1);
      const file = dir.write(`${sub}/example.com.zone`, HEAD + c.body);
      const problems = checkZoneFiles([file]).problems;
      expect(problems, JSON.stringify(problems)).to.have.length(1);
      expect(problems[0].file).to.equal(file);
      expect(problems[0].line).to.equal(c.bodyLine + HEAD_LINES);
      expect(problems[0].message).to.match(c.message);
      expect(() => loadZones([file])).to.throw(ZoneError);
    });
  }

  it('collects every error of a file, not just the first', () => {
    const file = dir.write('many/example.com.zone', HEAD + 'a A 127.0.0\nb AAAA ::g\nc BLAH x\nd SRV 1 2 3\ne CH A 127.0.0.2\nok A 127.0.0.9\n');
    const problems = checkZoneFiles([file]).problems;
    expect(problems.map((p) => p.line)).to.deep.equal([5, 6, 7, 8, 9]);
  });

  it('an $INCLUDE loop across two files names both and never recurses', () => {
    const sub = dir.sub().slice(dir.root.length + 1);
    dir.write(`${sub}/a.inc`, 'a A 127.0.0.2\n$INCLUDE b.inc\n');
    dir.write(`${sub}/b.inc`, 'b A 127.0.0.3\n$INCLUDE a.inc\n');
    const file = dir.write(`${sub}/example.com.zone`, HEAD + '$INCLUDE a.inc\n');
    const problems = checkZoneFiles([file]).problems;
    expect(problems).to.have.length(1);
    expect(problems[0].file).to.match(/b\.inc$/);
    expect(problems[0].line).to.equal(2);
    expect(problems[0].message).to.match(/\$INCLUDE loop: .*a\.inc is already being read/);
  });

  it('an error inside an included file names that file and its line', () => {
    const sub = dir.sub().slice(dir.root.length + 1);
    dir.write(`${sub}/hosts.inc`, 'ok A 127.0.0.2\n\nbad A 127.0.0.300\n');
    const file = dir.write(`${sub}/example.com.zone`, HEAD + '$INCLUDE hosts.inc\n');
    const problems = checkZoneFiles([file]).problems;
    expect(problems.map((p) => [p.file.slice(-9), p.line])).to.deep.equal([['hosts.inc', 3]]);
  });

  it('a record with no TTL anywhere (no $TTL, no SOA before it) is an error, as in named-checkzone', () => {
    const file = dir.write('nottl/example.com.zone', '@ NS ns1\n@ SOA ns1 host 1 2 3 4 5\nns1 A 127.0.0.1\n');
    const problems = checkZoneFiles([file]).problems;
    expect(problems.map((p) => [p.line, p.message])).to.deep.equal([[1, 'no TTL specified: add $TTL at the top of the file or a TTL to this record']]);
  });

  it('a missing zone file is one problem naming it; nothing loads', () => {
    const good = dir.write('half/example.com.zone', HEAD);
    const missing = dir.root + '/half/nothere.zone';
    const problems = checkZoneFiles([good, missing]).problems;
    expect(problems).to.deep.equal([{ file: missing, line: 0, message: 'no such file or directory' }]);
    expect(() => loadZones([good, missing])).to.throw(ZoneError, /nothere\.zone/);
  });

  it('binary garbage is reported, never a crash', () => {
    const file = dir.write('garbage/example.com.zone', HEAD + '\u0000\u0001\u00ff\uffff ( ) ) " \\\n');
    const problems = checkZoneFiles([file]).problems;
    expect(problems.length).to.be.greaterThan(0);
    for (const p of problems) expect(p.line).to.be.a('number');
  });
});
